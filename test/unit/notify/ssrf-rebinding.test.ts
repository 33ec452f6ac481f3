/**
 * Hostile review (H16): a notification target's host NAME whose DNS answer leads back into the agent's
 * own host (loopback, unspecified) or to a cloud's metadata service. The agent runs with the host's
 * network (network_mode: host), so such an answer would have it POST log-derived text to Redis, the
 * Docker API or an admin panel listening on 127.0.0.1, or send an email there.
 *
 * Reproduced before the fix: a webhook name answered with 127.0.0.1 (or ::1, ::ffff:7f00:1, 0.0.0.0,
 * 64:ff9b::7f00:1…) was connected to and delivered; an SMTP target ignored the guard altogether
 * (nodemailer resolved the name itself). Now: refused at connect time, not retried, nothing connected
 * to (connections counted on the listening socket), and the reason says what to write instead;
 * `localhost` (and `*.localhost`) and loopback literals keep working.
 *
 * Fake resolvers stand in for DNS (HttpTarget.resolve, SmtpTarget.resolve); the listeners are real.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { sendEmail, type SmtpTarget } from '../../../src/notify/smtp.js';
import { guardedLookup, postWebhook, type HttpTarget, type Resolver } from '../../../src/notify/webhook.js';

const MSG = { body: '{"x":1}', contentType: 'application/json', headers: {} };
const servers: (Server | HttpServer)[] = [];
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

/** A listener on every address of this host (dual stack, so 127.0.0.1, ::1 and 0.0.0.0 all reach it) counting connections. */
async function counted<S extends Server | HttpServer>(server: S): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen({ port: 0, host: '::', ipv6Only: false }, () => r()));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

const httpReceiver = () =>
  counted(
    createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    }),
  );

/** A resolver answering `addresses` for every name, recording the options it was asked with. */
function resolver(addresses: LookupAddress[], asked: { host: string; all: unknown }[] = []): Resolver {
  return (host, options, cb) => {
    asked.push({ host, all: options.all });
    setImmediate(() => cb(null, addresses));
  };
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

/** Answers that lead to this host itself, in the spellings a resolver (or an attacker's DNS server) may use. */
const LOCAL_ANSWERS: [string, LookupAddress[]][] = [
  ['127.0.0.1', [v4('127.0.0.1')]],
  ['127.1.2.3 (all of 127/8)', [v4('127.1.2.3')]],
  ['::1', [v6('::1')]],
  ['0:0:0:0:0:0:0:1 (written out)', [v6('0:0:0:0:0:0:0:1')]],
  ['0000:0000:0000:0000:0000:0000:0000:0001 (zero-padded)', [v6('0000:0000:0000:0000:0000:0000:0000:0001')]],
  ['::ffff:7f00:1 (IPv4-mapped, hex)', [v6('::ffff:7f00:1')]],
  ['::FFFF:7F00:0001 (upper case, padded)', [v6('::FFFF:7F00:0001')]],
  ['::ffff:127.0.0.1 (IPv4-mapped, dotted)', [v6('::ffff:127.0.0.1')]],
  ['64:ff9b::7f00:1 (NAT64)', [v6('64:ff9b::7f00:1')]],
  ['::7f00:1 (IPv4-compatible)', [v6('::7f00:1')]],
  ['0.0.0.0 (unspecified: connects to this host)', [v4('0.0.0.0')]],
  [':: (unspecified)', [v6('::')]],
  ['::ffff:0.0.0.0', [v6('::ffff:0.0.0.0')]],
  ['a good address, then 127.0.0.1 (mixed)', [v4('198.18.0.1'), v4('127.0.0.1')]],
  ['::1 first, then a good one (mixed)', [v6('::1'), v6('2001:db8::1')]],
];

describe('webhook: a host name answered with an address of this host', () => {
  it.each(LOCAL_ANSWERS)('%s: refused, not retried, nothing connected to, and the reason says what to write', async (_what, addresses) => {
    const rx = await httpReceiver();
    const t: HttpTarget = { url: new URL(`http://hooks.example.test:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't', resolve: resolver(addresses) };
    const r = await postWebhook(t, MSG, AbortSignal.timeout(5000), systemClock);
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(r.ok === false && r.reason).toMatch(/^hooks\.example\.test resolves to \S+, an address of this host itself .*localhost, 127\.0\.0\.1 or \[::1\]/);
    expect(rx.connections()).toBe(0);
  });

  it('localhost, a name under .localhost, and a loopback literal keep working (the operator means this host)', async () => {
    const rx = await httpReceiver();
    for (const url of [`http://localhost:${rx.port}/x`, `http://hooks.localhost:${rx.port}/x`, `http://127.0.0.1:${rx.port}/x`, `http://[::1]:${rx.port}/x`]) {
      const t: HttpTarget = { url: new URL(url), connectTimeoutMs: 2000, userAgent: 't', resolve: resolver([v4('127.0.0.1'), v6('::1')]) };
      expect(await postWebhook(t, MSG, AbortSignal.timeout(5000), systemClock), url).toEqual({ ok: true });
    }
    expect(rx.connections()).toBe(4);
  });

  it('localhost answered with a metadata address is still refused (the exemption is for this host only)', async () => {
    const rx = await httpReceiver();
    const t: HttpTarget = { url: new URL(`http://localhost:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't', resolve: resolver([v4('127.0.0.1'), v6('::ffff:169.254.169.254')]) };
    const r = await postWebhook(t, MSG, AbortSignal.timeout(5000), systemClock);
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(r.ok === false && r.reason).toMatch(/link-local address where clouds serve instance metadata/);
    expect(rx.connections()).toBe(0);
  });

  it('an answer that is not an IP address is refused, not retried, nothing connected to', async () => {
    const rx = await httpReceiver();
    for (const junk of ['127.000.000.001', 'localhost', '']) {
      const t: HttpTarget = { url: new URL(`http://hooks.example.test:${rx.port}/x`), connectTimeoutMs: 2000, userAgent: 't', resolve: resolver([v4('198.18.0.1'), v4(junk)]) };
      const r = await postWebhook(t, MSG, AbortSignal.timeout(5000), systemClock);
      expect(r, junk).toMatchObject({ ok: false, retry: false });
      expect(r.ok === false && r.reason).toMatch(/not an IP address/);
    }
    expect(rx.connections()).toBe(0);
  });
});

describe('the guarded lookup, called as net.connect calls it', () => {
  it('an all: false caller and an all: true (Happy Eyeballs) caller are both refused on a mixed answer', async () => {
    const asked: { host: string; all: unknown }[] = [];
    const lookup = guardedLookup(resolver([v4('198.18.0.1'), v6('::ffff:7f00:1')], asked));
    for (const all of [false, true]) {
      const got = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((r) => lookup('hooks.example.test', { all }, (err, address) => r({ err, address })));
      expect(got.err?.code, `all: ${all}`).toBe('BH_ERR_LOCAL_ADDRESS');
      expect(got.address).toEqual(all ? [] : '');
    }
    // The resolver is always asked for every address, so the check sees the whole answer.
    expect(asked.map((a) => a.all)).toEqual([true, true]);
  });

  it('net.connect with autoSelectFamily (Node 20 default) through the guard: refused, nothing connected to', async () => {
    const rx = await counted(createNetServer(() => {}));
    for (const autoSelectFamily of [true, false]) {
      const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        const s = netConnect({ host: 'redis.example.test', port: rx.port, autoSelectFamily, lookup: guardedLookup(resolver([v6('2001:db8::1'), v4('127.0.0.1')])) as never });
        s.once('connect', () => {
          s.destroy();
          resolve(null);
        });
        s.once('error', (e) => resolve(e as NodeJS.ErrnoException));
      });
      expect(err?.code, `autoSelectFamily: ${autoSelectFamily}`).toBe('BH_ERR_LOCAL_ADDRESS');
    }
    expect(rx.connections()).toBe(0);
  });

  it('a good answer is handed on whole to an all: true caller, each address with the family its text has', async () => {
    const lookup = guardedLookup(resolver([{ address: '198.18.0.1', family: 6 }, { address: '2001:DB8::1', family: 4 }]));
    const got = await new Promise<unknown>((r) => lookup('hooks.example.test', { all: true }, (_e, address) => r(address)));
    expect(got).toEqual([v4('198.18.0.1'), v6('2001:DB8::1')]);
  });
});

describe('SMTP: the server name goes through the same guard', () => {
  const smtp = (host: string, port: number, resolve: Resolver, over: Partial<SmtpTarget> = {}): SmtpTarget => ({
    host,
    port,
    implicitTls: false,
    starttls: 'off',
    from: 'agent@example.com',
    to: ['ops@example.com'],
    connectTimeoutMs: 2000,
    subjectPrefix: '',
    resolve,
    ...over,
  });

  it.each(LOCAL_ANSWERS)('%s: refused, not retried, nothing connected to (STARTTLS and implicit TLS alike)', async (_what, addresses) => {
    const rx = await counted(createNetServer((s) => s.end('220 local service\r\n')));
    for (const over of [{}, { starttls: 'required' as const }, { implicitTls: true }]) {
      const r = await sendEmail(smtp('mail.example.test', rx.port, resolver(addresses), over), { subject: 's', text: 't' }, AbortSignal.timeout(5000));
      expect(r).toMatchObject({ ok: false, retry: false });
      expect(r.ok === false && r.reason).toMatch(/^mail\.example\.test resolves to \S+, an address of this host itself .*localhost, 127\.0\.0\.1 or \[::1\]/);
    }
    expect(rx.connections()).toBe(0);
  });

  it('a metadata answer is refused as for a webhook, nothing connected to', async () => {
    const rx = await counted(createNetServer((s) => s.end('220 x\r\n')));
    const r = await sendEmail(smtp('mail.example.test', rx.port, resolver([v4('198.18.0.1'), v6('64:ff9b::a9fe:a9fe')])), { subject: 's', text: 't' }, AbortSignal.timeout(5000));
    expect(r).toMatchObject({ ok: false, retry: false });
    expect(r.ok === false && r.reason).toMatch(/mail\.example\.test resolves to 64:ff9b::a9fe:a9fe, a link-local address/);
    expect(rx.connections()).toBe(0);
  });

  it('localhost (a relay on this host, starttls: off) is connected to through the guarded lookup', async () => {
    const rx = await counted(createNetServer((s) => s.end('554 no service\r\n')));
    const asked: { host: string; all: unknown }[] = [];
    const r = await sendEmail(smtp('localhost', rx.port, resolver([v4('127.0.0.1')], asked)), { subject: 's', text: 't' }, AbortSignal.timeout(5000));
    expect(r.ok).toBe(false); // the fake server turns it away; what matters is where it went
    expect(asked.map((a) => a.host)).toEqual(['localhost']);
    expect(rx.connections()).toBe(1);
  });
});
