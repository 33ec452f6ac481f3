/**
 * Round-6 hostile review of the webhook's guarded lookup and of delivery at the status line (issue 14).
 *
 * Fixed here: NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and IPv4-compatible (::/96) IPv6 addresses carrying
 * a link-local or metadata IPv4 address passed the guard: on an IPv6-only host behind DNS64/NAT64, a
 * name whose A record is 169.254.169.254 resolves to 64:ff9b::a9fe:a9fe, which the NAT64 gateway
 * turns back into 169.254.169.254.
 *
 * Pinned (already right): IPv4-mapped answers, decimal/octal/hex host spellings (the URL parser makes
 * them dotted quads), an answer list mixing a good and a bad address (refused, nothing connected to),
 * happy-eyeballs' `all: true` lookups, and 1,000 deliveries to a receiver that trickles its body
 * after a 200 (no socket left open, no late error).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isMetadataAddress, postWebhook, type HttpTarget, type Resolver } from '../../../src/notify/webhook.js';
import { webhookWarnings } from '../../../src/notify/notifier.js';
import { systemClock } from '../../../src/clock.js';

const clock = systemClock;
const MSG = { body: '{"x":1}', contentType: 'application/json', headers: {} };

describe('isMetadataAddress: every spelling of a metadata address', () => {
  it.each([
    ['64:ff9b::a9fe:a9fe', true],
    ['64:ff9b::169.254.169.254', true],
    ['[64:ff9b::a9fe:a9fe]', true],
    ['64:ff9b::6464:64c8', true], // 100.100.100.200
    ['64:ff9b:1:2:3::a9fe:1', true],
    ['::a9fe:a9fe', true],
    ['::ffff:a9fe:a9fe', true],
    ['::ffff:169.254.169.254', true],
    ['0:0:0:0:0:ffff:a9fe:a9fe', true],
    ['64:ff9b::c612:1', false], // 198.18.0.1
    ['2001:db8::a9fe:a9fe', false],
    ['::1', false],
    ['::', false],
    ['::a9fe', false], // 0.0.169.254
    ['198.18.0.1', false],
  ])('%s → %s', (a, bad) => {
    expect(isMetadataAddress(a)).toBe(bad);
  });

  it('host spellings the URL parser normalises are caught, and a NAT64 literal is warned about', () => {
    for (const u of ['http://2852039166/', 'http://0xa9fea9fe/', 'http://0251.0376.0251.0376/', 'http://169.254.43518/', 'http://[::ffff:169.254.169.254]/', 'http://[64:ff9b::a9fe:a9fe]/']) {
      expect(isMetadataAddress(new URL(u).hostname)).toBe(true);
    }
    expect(webhookWarnings('hook', new URL('http://[64:ff9b::a9fe:a9fe]/latest'), false)).toEqual([expect.stringMatching(/link-local address/)]);
  });
});

let server: Server | undefined;
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function receiver(handler: Parameters<typeof createServer>[1]): Promise<{ port: number; connections: () => number; open: () => number }> {
  let connections = 0;
  server = createServer(handler);
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, connections: () => connections, open: () => sockets.size };
}

describe('the guarded lookup', () => {
  it('a name answered with a good and a NAT64 metadata address is refused, not retried, nothing connected to', async () => {
    const rx = await receiver((req, res) => {
      req.resume();
      res.end('ok');
    });
    const calls: unknown[] = [];
    const resolve: Resolver = (host, options, cb) => {
      calls.push({ host, all: options.all });
      cb(null, [
        { address: '127.0.0.1', family: 4 },
        { address: '64:ff9b::a9fe:a9fe', family: 6 },
      ]);
    };
    const t: HttpTarget = { url: new URL(`http://hook.example.test:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't', resolve };
    const r = await postWebhook(t, MSG, AbortSignal.timeout(5000), clock);
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(r.ok === false && r.reason).toMatch(/hook\.example\.test resolves to 64:ff9b::a9fe:a9fe, a link-local address/);
    expect(rx.connections()).toBe(0);
    expect(calls.length).toBeGreaterThan(0);
  });

  it('localhost answered with the good address alone is delivered (the guard is not a blanket refusal)', async () => {
    const rx = await receiver((req, res) => {
      req.resume();
      res.end('ok');
    });
    // 127.0.0.1 is good for localhost only: another name answered with it is refused (test/unit/notify/ssrf-rebinding.test.ts).
    const resolve: Resolver = (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const t: HttpTarget = { url: new URL(`http://localhost:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't', resolve };
    expect(await postWebhook(t, MSG, AbortSignal.timeout(5000), clock)).toEqual({ ok: true });
    expect(rx.connections()).toBe(1);
  });
});

describe('2xx delivered at its status line', () => {
  it('1,000 deliveries to a receiver trickling its body: all delivered, no socket left open, no late error', async () => {
    const late: unknown[] = [];
    const onErr = (e: unknown): void => void late.push(e);
    process.on('uncaughtException', onErr);
    try {
      const rx = await receiver((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a');
          const t = setInterval(() => res.write('b'), 20);
          res.on('close', () => clearInterval(t));
        });
      });
      const t: HttpTarget = { url: new URL(`http://127.0.0.1:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't' };
      const sockets0 = process.getActiveResourcesInfo().filter((x) => x === 'TCPSocketWrap').length;
      let ok = 0;
      const t0 = Date.now();
      for (let i = 0; i < 1000 && Date.now() - t0 < 60_000; i += 50) {
        const rs = await Promise.all(Array.from({ length: 50 }, () => postWebhook(t, MSG, AbortSignal.timeout(10_000), clock)));
        ok += rs.filter((r) => r.ok).length;
      }
      expect(ok).toBe(1000);
      // Both ends of every connection closed within a moment.
      for (let i = 0; i < 50 && rx.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(rx.open()).toBe(0);
      expect(process.getActiveResourcesInfo().filter((x) => x === 'TCPSocketWrap').length).toBeLessThanOrEqual(sockets0);
      await new Promise((r) => setTimeout(r, 200));
      expect(late).toEqual([]);
    } finally {
      process.off('uncaughtException', onErr);
    }
  }, 90_000);
});
