/**
 * Round 5 (issue 14): a webhook request against receivers that misbehave, each a node:http or
 * node:net server on 127.0.0.1 (a private port) started here and closed after.
 * - A 200 whose body trickles (or never ends) is delivered: counting it failed made the channel
 *   send the same message again, up to `attempts` times.
 * - A host NAME resolving to a link-local (cloud metadata) address is not connected to; the name's
 *   resolution is scripted (HttpTarget.resolve), the connection is real.
 * - A 302 to another host is not followed: the token never reaches it.
 * - A TLS server that accepts TCP and never answers the handshake ends within the connect timeout.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { Channel } from '../../../src/notify/channel.js';
import type { BanNotice } from '../../../src/notify/event.js';
import { isMetadataAddress, postWebhook, type HttpTarget, type Resolver } from '../../../src/notify/webhook.js';

const servers: (Server | NetServer)[] = [];
const sockets = new Set<Socket>();
const timers = new Set<ReturnType<typeof setInterval>>();

afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

interface Got {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** An HTTP server; `answer` writes the response; every request is recorded. */
async function http(answer: (res: import('node:http').ServerResponse) => void): Promise<{ port: number; got: Got[] }> {
  const got: Got[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      answer(res);
    });
  });
  server.on('connection', (s) => sockets.add(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, got };
}

const msg = { body: '{"event":"ban"}', contentType: 'application/json', headers: {} };
const target = (url: string, over: Partial<HttpTarget> = {}): HttpTarget => ({ url: new URL(url), connectTimeoutMs: 1000, userAgent: 'banhammer/test', ...over });

/** A 200 whose body is written a byte every 100 ms, never ended. */
const trickle200 = (res: import('node:http').ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  const t = setInterval(() => res.write('.'), 100);
  timers.add(t);
  res.on('close', () => clearInterval(t));
};

describe('a receiver that answers 200 and then trickles its body', () => {
  it('postWebhook reports delivered at the status line, long before the deadline', async () => {
    const { port, got } = await http(trickle200);
    const ac = new AbortController();
    const deadline = setTimeout(() => ac.abort(), 3000);
    const t0 = Date.now();
    const r = await postWebhook(target(`http://127.0.0.1:${port}/hook`), msg, ac.signal, systemClock);
    clearTimeout(deadline);
    expect(r).toEqual({ ok: true });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(got).toHaveLength(1);
  });

  it('a channel sends such a message once: no timeout, no retry, no duplicate', async () => {
    const { port, got } = await http(trickle200);
    const t = target(`http://127.0.0.1:${port}/hook`);
    const counts = { sent: 0, failed: 0 };
    const ch = new Channel({
      name: 'hook',
      send: (_n, signal) => postWebhook(t, msg, signal, systemClock),
      clock: systemClock,
      log: { info: () => {}, warn: () => {} },
      metrics: { sent: () => counts.sent++, failed: () => counts.failed++, dropped: () => {}, queued: () => {} },
      queueSize: 10,
      attempts: 3,
      backoffMs: 100,
      maxBackoffMs: 200,
      timeoutMs: 1000,
      digestThreshold: 10,
      digestIntervalMs: 60_000,
    });
    const n: BanNotice = { kind: 'ban', ban: { ip: '198.18.0.7', family: 4, rule: 'forbidden', at: 0, until: 1, failures: 1, nth: 1, manual: false }, time: 0 };
    ch.offer(n);
    const until = Date.now() + 4000;
    while (Date.now() < until && counts.sent + counts.failed < 1) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500)); // time for a retry, had there been one
    await ch.close(Date.now());
    expect(counts).toEqual({ sent: 1, failed: 0 });
    expect(got).toHaveLength(1);
  }, 15_000);
});

describe('a webhook host name that resolves to a link-local (cloud metadata) address', () => {
  it('isMetadataAddress: link-local v4 and v6, IPv4-mapped, AWS and Alibaba metadata; not ordinary addresses', () => {
    for (const a of ['169.254.169.254', '169.254.0.1', '::ffff:169.254.169.254', '[::ffff:a9fe:a9fe]', 'fe80::1', 'fe80::1%eth0', 'fd00:ec2::254', '100.100.100.200']) expect(isMetadataAddress(a), a).toBe(true);
    for (const a of ['198.18.0.1', '127.0.0.1', '::1', '2001:db8::1', '100.100.100.201', 'fd00:ec2::253', 'hooks.example', '']) expect(isMetadataAddress(a), a).toBe(false);
  });

  /** A resolver answering `addresses` for every name (the test's DNS). */
  const resolver = (addresses: LookupAddress[]): Resolver => (_h, _o, cb) => setImmediate(() => cb(null, addresses));

  it('is not connected to, not retried, and says why (localhost resolving to 127.0.0.1 reaches the same server)', async () => {
    const { port, got } = await http((res) => res.end('ok'));
    const ac = new AbortController();
    // Another name answered with 127.0.0.1 is refused too (an address of this host: test/unit/notify/ssrf-rebinding.test.ts).
    const ok = await postWebhook(target(`http://localhost:${port}/hook`, { resolve: resolver([{ address: '127.0.0.1', family: 4 }]) }), msg, ac.signal, systemClock);
    expect(ok).toEqual({ ok: true });
    expect(got).toHaveLength(1);
    for (const addresses of [[{ address: '169.254.169.254', family: 4 }], [{ address: '127.0.0.1', family: 4 }, { address: 'fe80::1', family: 6 }], [{ address: '::ffff:169.254.169.254', family: 6 }]]) {
      const r = await postWebhook(target(`http://receiver.test:${port}/hook`, { resolve: resolver(addresses) }), msg, ac.signal, systemClock);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.retry).toBe(false);
      expect(r.reason).toMatch(/receiver\.test resolves to .*link-local/);
    }
    expect(got).toHaveLength(1);
  });
});

describe('a receiver that redirects to another host', () => {
  it('302 is not followed: the other host gets nothing, the token stays with the configured host', async () => {
    const other = await http((res) => res.end('ok'));
    const first = await http((res) => {
      res.writeHead(302, { location: `http://localhost:${other.port}/steal` });
      res.end();
    });
    const r = await postWebhook(target(`http://127.0.0.1:${first.port}/hook`, { header: { name: 'Authorization', value: 'Bearer s3cret-token' } }), msg, new AbortController().signal, systemClock);
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(first.got).toHaveLength(1);
    expect(first.got[0]!.headers.authorization).toBe('Bearer s3cret-token');
    expect(other.got).toHaveLength(0);
  });
});

describe('a TLS receiver that accepts the connection and never answers the handshake', () => {
  it('ends within the connect timeout, retryable, whatever the overall deadline', async () => {
    const server = createNetServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const t0 = Date.now();
    const r = await postWebhook(target(`https://127.0.0.1:${port}/hook`, { connectTimeoutMs: 500 }), msg, new AbortController().signal, systemClock);
    expect(r).toMatchObject({ ok: false, retry: true });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
