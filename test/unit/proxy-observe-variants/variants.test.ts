/**
 * Audit of issues 5 and 14: the variants the current code handles (cheap regression tests).
 * Failing variants live in fail-*.test.ts here.
 * - Issue 5: X-Forwarded-For spellings in the parser; trusted proxies as networks; the apache map's
 *   spellings, and against a real Apache on 127.0.0.1 (skipped without apache2): what mod_remoteip
 *   makes of each spelling, what the map matches and what the agent reads back from %a.
 * - Issue 14: `banhammer why` for IPv6 spellings, networks, expired, manual, unbanned, restored and
 *   host-mode bans; hostile log lines in `why` and in the generic webhook; retries, redirects,
 *   hostile Retry-After and an unreachable receiver; a storm's digest; no address as a metric label.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { parseRequest } from '../../../src/control/protocol.js';
import { formatWhy } from '../../../src/control/format-why.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { ApacheMapEnforcer, renderApacheDefines, renderApacheMap } from '../../../src/enforce/apache-map.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { createNotifier } from '../../../src/notify/notifier.js';
import { isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { createLineParser, type LineParserOptions } from '../../../src/parse/line-parser.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { A, agent, B, cleanup, line, settle, Store } from '../seams-variants/harness.js';
import { APACHE, APACHE_MODULES, apacheMapConf } from '../../support/apache-conf.js';

// ---------------------------------------------------------------------------------------------
// Issue 5: X-Forwarded-For variants read by the parser (the agent's side of "real client IPs").

const REST = `[10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 403 199 "-" "M"`;
const TRUSTED = { trustedProxies: ['198.19.0.0/16', '2001:db8:ffff::/48'] };
const who = (l: string, f: LogFormat = 'auto', o: LineParserOptions = TRUSTED): string => {
  const r = createLineParser(f, o)(l);
  return isSkip(r) ? r : r.ip;
};
const main = (peer: string, xff: string) => `${peer} - - ${REST} "${xff}"`;

describe('issue 5: X-Forwarded-For variants (nginx main trailing field, first-field list)', () => {
  it.each([
    ['tab after the comma', main('198.19.0.2', '198.18.0.5,\t198.19.0.3'), '198.18.0.5'],
    ['spaces around entries', main('198.19.0.2', '198.18.0.5 ,   198.19.0.3  '), '198.18.0.5'],
    ['client-written unknown left of the client', main('198.19.0.2', 'unknown, 198.18.0.5'), '198.18.0.5'],
    ['trusted proxy spelled expanded upper-case IPv6', main('198.19.0.2', '198.18.0.5, 2001:0db8:FFFF:0:0:0:0:1'), '198.18.0.5'],
    ['trusted proxy spelled IPv4-mapped, bracketed with a port', main('198.19.0.2', '198.18.0.5, [::ffff:198.19.0.3]:80'), '198.18.0.5'],
    ['peer spelled IPv4-mapped', main('::ffff:198.19.0.2', '198.18.0.5'), '198.18.0.5'],
    ['client expanded upper-case IPv6', main('198.19.0.2', '2001:0DB8:0000:0000:0000:0000:0000:0005'), '2001:db8::5'],
    ['IPv6 with an embedded dotted quad', main('198.19.0.2', '2001:db8::198.18.0.5'), '2001:db8::c612:5'],
    ['UNKNOWN as the walked entry', main('198.19.0.2', 'UNKNOWN'), 'bad-forwarded'],
    ['obfuscated identifier (RFC 7239 _x)', main('198.19.0.2', '_abc'), 'bad-forwarded'],
    ['zone id in brackets', main('198.19.0.2', '[fe80::1%25eth0]:80'), 'bad-forwarded'],
    ['leading zeros (octal in inet_aton)', main('198.19.0.2', '198.018.000.005'), 'bad-forwarded'],
    ['a trusted proxy spelled with leading zeros is not trusted', main('198.19.0.2', '198.18.0.5, 198.019.0.3'), 'bad-forwarded'],
    ['hex, short and integer IPv4', main('198.19.0.2', '0xc6.18.0.5'), 'bad-forwarded'],
    ['no-break space as a separator', main('198.19.0.2', '198.18.0.5,\u00a0198.19.0.3'), 'bad-forwarded'],
    ['the header from an untrusted IPv4-mapped peer is ignored', main('::ffff:198.18.0.2', '198.18.0.5'), '198.18.0.2'],
    ['first-field list: bracketed IPv6', `[2001:db8::5], 198.19.0.1 - - ${REST}`, '2001:db8::5'],
    ['first-field list: IPv4 with a port', `198.18.0.5:1234, 198.19.0.1 - - ${REST}`, '198.18.0.5'],
    ['first-field list: zone id', `2001:db8::5%eth0, 198.19.0.1 - - ${REST}`, 'bad-forwarded'],
    ['first-field list: trusted proxy IPv4-mapped', `198.18.0.5, ::ffff:198.19.0.1 - - ${REST}`, '198.18.0.5'],
    ['first-field list: every entry trusted (never banned)', `198.19.0.5, 198.19.0.1 - - ${REST}`, '198.19.0.5'],
  ])('%s', (_name, line, want) => {
    expect(who(line)).toBe(want);
  });

  it('trusted proxies as networks: host bits, IPv4-mapped /112, newlines and commas, as check-config and apache-conf read them', () => {
    const c = loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: ' 198.19.0.7/16\n::ffff:198.20.0.0/112,2001:DB8:FFFF:0::/48 ', BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: '/run/banhammer/banned.map' }, hostname: 'u' });
    expect(c.trustedProxies).toEqual(['198.19.0.0/16', '198.20.0.0/16', '2001:db8:ffff::/48']);
    expect(renderApacheDefines(c)).toContain('Define BANHAMMER_TRUSTED_PROXIES "198.19.0.0/16 198.20.0.0/16 2001:db8:ffff::/48"');
    for (const bad of ['fe80::1%eth0', '[2001:db8::1]', '198.19.0.1:80', '198.19.0.0/33', 'localhost']) {
      expect(() => loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: bad }, hostname: 'u' }), bad).toThrow(/trusted_proxies/);
    }
  });

  it('the apache map lists the spellings APR prints for IPv4 (plain, never ::ffff:), IPv4-compatible and single-zero-group IPv6', () => {
    const text = renderApacheMap(
      [
        { ip: '198.18.0.9', family: 4, until: null },
        { ip: '::c612:26', family: 6, until: null },
        { ip: '2001:db8:0:1:1:1:1:1', family: 6, until: null },
      ],
      0,
    );
    expect(text).toMatch(/^198\.18\.0\.9 99991231235959$/m);
    expect(text).not.toMatch(/^::ffff:/m);
    expect(text).toMatch(/^::198\.18\.0\.38 99991231235959$/m);
    expect(text).toMatch(/^2001:db8:0:1:1:1:1:1 99991231235959$/m);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 14: `banhammer why` variants through the real daemon (harness of the issue-10 audit).

const whyIp = (raw: string): string => {
  const r = parseRequest(JSON.stringify({ op: 'why', ip: raw }));
  if (!r.ok) return `ERR ${r.error.code}`;
  return (r.request as { ip: string }).ip;
};

describe('issue 14: banhammer why', () => {
  afterEach(cleanup);

  it('IPv6 spellings reach the same ban; brackets, zone ids and spaces are refused', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('2001:DB8:0:0::5', 5);
    for (const s of ['2001:db8::5', '2001:0DB8::0:5', '2001:db8:0:0:0:0:0:5', '2001:db8::5/128']) {
      expect(d.daemon.why(whyIp(s)).active.map((b) => b.ip), s).toEqual(['2001:db8::5']);
    }
    for (const s of ['[2001:db8::5]', '2001:db8::5%eth0', ' 2001:db8::5']) expect(whyIp(s)).toBe('ERR BH_ERR_ADDRESS');
    await d.daemon.stop();
  });

  it('manual, network, expired and unbanned bans, and all of them again after a restart from state', async () => {
    const store = new Store();
    const d = agent({ store });
    await d.daemon.start();
    await d.feed('198.18.0.7', 5);
    await d.daemon.ban('198.18.0.9', { forMs: 60_000 });
    await d.daemon.ban('198.18.1.0/24', { forMs: 120_000 });
    await d.daemon.ban('2001:db8:1::/48', { forMs: null, permanent: true });
    await settle();
    expect(d.daemon.why('198.18.0.9').active.map((b) => `${b.source} ${b.evidence.length}`)).toEqual(['manual 0']);
    expect(d.daemon.why('198.18.1.5').active.map((b) => b.ip)).toEqual(['198.18.1.0/24']);
    expect(d.daemon.why(whyIp('2001:db8:1:0::77')).active.map((b) => `${b.ip} ${b.until}`)).toEqual(['2001:db8:1::/48 null']);
    for (let i = 0; i < 4; i++) {
      d.clock.advance(31_000);
      await settle();
    }
    expect(d.daemon.why('198.18.0.9').ended.map((b) => b.ended?.reason)).toEqual(['expired']);
    expect(d.daemon.why('198.18.1.5').active).toEqual([]);
    expect(d.daemon.why('198.18.1.5').ended.map((b) => `${b.ip} ${b.ended?.reason}`)).toEqual(['198.18.1.0/24 expired']);
    await d.daemon.unban('198.18.0.7');
    await settle();
    await d.daemon.stop({ removeFirewall: false });
    const d2 = agent({ store, clock: d.clock });
    await d2.daemon.start();
    await settle();
    expect(d2.daemon.why('198.18.0.7').ended.map((b) => `${b.ended?.reason} ${b.ended?.by} ${b.evidence.length}`)).toEqual(['unbanned control 5']);
    expect(d2.daemon.why('198.18.0.9').ended.map((b) => `${b.source} ${b.ended?.reason}`)).toEqual(['manual expired']);
    expect(d2.daemon.why('2001:db8:1::5').active.map((b) => b.ip)).toEqual(['2001:db8:1::/48']);
    await d2.daemon.stop();
  });

  it('a ban that expired while the agent was down is in the history as expired, with its lines', async () => {
    const store = new Store();
    const d = agent({ store });
    await d.daemon.start();
    await d.feed('198.18.0.7', 5);
    await d.daemon.stop({ removeFirewall: false });
    d.clock.advance(2 * 3600_000);
    const d2 = agent({ store, clock: d.clock });
    await d2.daemon.start();
    await settle();
    const r = d2.daemon.why('198.18.0.7');
    expect(r.active).toEqual([]);
    expect(r.ended.map((b) => `${b.ended?.reason} ${b.evidence.length}`)).toEqual(['expired 5']);
    await d2.daemon.stop();
  });

  it('host mode: the ban names its container; failures in another container are pending, not banned', async () => {
    const h = agent({ host: true });
    await h.daemon.start();
    await h.feed('2001:DB8::7', 5, A);
    await h.feed('2001:db8::7', 3, B);
    const r = h.daemon.why('2001:db8::7');
    expect(r.active.map((b) => `${b.jail} ${b.evidence.length}`)).toEqual(['forbidden@shop 5']);
    expect(r.failing.map((f) => `${f.rule} ${f.container} ${f.lines.length}`)).toEqual(['forbidden blog 3']);
    await h.daemon.stop();
  });

  it('hostile characters in a log line are escaped in the text output (no ESC, bidi or line separator reaches the terminal)', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 5; i++) d.emit(line('198.18.0.7', d.clock.now()).replace('curl/8', `\u001b[31mevil\u202e{{address}}\u2028x${i}`));
    await settle();
    const text = formatWhy(d.daemon.why('198.18.0.7'));
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u001b\u202e\u2028]/);
    expect(text).toContain('\\x1b[31mevil\\u202e{{address}}\\u2028x0');
    await d.daemon.stop();
  });
});

describe('issue 14: metrics never carry an address', () => {
  it('after bans of both families no series has an address-valued label', async () => {
    const m = createMetrics({ rules: ['forbidden', 'exploit-probes'], enforcer: 'iptables', files: ['/var/log/apache2/access.log'] });
    m.banned('forbidden', 3);
    m.unbanned('forbidden', 'expired');
    const text = await m.render();
    expect(text).not.toMatch(/\{[^}]*(ip|address|client)="/);
    expect(text).not.toMatch(/198\.18\.|2001:db8/);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 14: notifications against a real HTTP receiver.

interface Got {
  body: string;
  headers: IncomingMessage['headers'];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function receiver(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; got: Got[] }> {
  const got: Got[] = [];
  const s = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ body, headers: req.headers });
      answer(got.length, req, res);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`, got };
}

const NT0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const ban = (ip: string, over: Partial<Ban> = {}): Ban => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  rule: 'forbidden',
  at: NT0,
  until: NT0 + 3600_000,
  failures: 5,
  nth: 1,
  manual: false,
  ...over,
});

function notifier(env: Record<string, string>, clock: ManualClock) {
  const warns: string[] = [];
  const infos: string[] = [];
  const counts = { sent: 0, failed: 0, dropped: 0 };
  const n = createNotifier(loadConfig({ env, hostname: 'unit' }).notify, {
    clock,
    log: { info: (_o, m) => void infos.push(m ?? ''), warn: (_o, m) => void warns.push(m ?? '') },
    metrics: { sent: () => void counts.sent++, failed: () => void counts.failed++, dropped: (_t, k) => void (counts.dropped += k), queued: () => {} },
    instance: 'unit',
    version: '0.0.0',
    host: 'h',
    readFile: () => {
      throw new Error('no files');
    },
  })!;
  return { n, warns, infos, counts };
}

/**
 * Lets sockets and timers of the real network run, advancing the manual clock by `stepMs` in steps,
 * and only while `settled` holds (no answer on its way: a jump past the request timeout while one is
 * would time that request out and send it again).
 */
async function until(cond: () => boolean, clock: ManualClock, stepMs = 0, max = 400, settled: () => boolean = () => true): Promise<void> {
  for (let i = 0; i < max && !cond(); i++) {
    await new Promise((r) => setTimeout(r, 5));
    if (stepMs > 0 && settled()) clock.advance(stepMs);
  }
}

/** Every request the receiver read has been settled by the notifier (sent or failed). */
const answered = (rx: { got: readonly unknown[] }, counts: { sent: number; failed: number }) => (): boolean => rx.got.length === counts.sent + counts.failed;

describe('issue 14: generic webhook with hostile log lines (real HTTP receiver)', () => {
  it('control characters, template braces, quotes, U+2028 and a 100 KB line: one strict-JSON body, lines bounded and clean', async () => {
    const rx = await receiver((_n, _q, res) => res.end('ok'));
    const clock = new ManualClock(NT0);
    const { n } = notifier({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url }, clock);
    const hostile = [
      '198.18.0.7 - - [02/Dec/2026:12:00:00 +0000] "GET /\u0000\u001b[2J\u0007 HTTP/1.1" 403 1 "-" "{{address}} $& $1 \\"}\u2028\u2029\u202e"',
      `198.18.0.7 - - [02/Dec/2026:12:00:01 +0000] "GET / HTTP/1.1" 403 1 "-" "${'A'.repeat(100_000)}"`,
    ];
    n.banned(ban('198.18.0.7', { evidence: hostile.map((line, i) => ({ line, file: `/var/log/a\u001b[31m${i}.log`, at: NT0 + i })) }));
    await until(() => rx.got.length > 0, clock);
    expect(rx.got).toHaveLength(1);
    const body = rx.got[0]!.body;
    // Strict JSON without lone surrogates (a receiver in Go or Python refuses \ud83d alone).
    expect(body).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i);
    const doc = JSON.parse(body) as { address: string; evidence: { line: string; file: string }[]; summary: string };
    expect(doc.address).toBe('198.18.0.7');
    expect(doc.evidence).toHaveLength(2);
    for (const e of doc.evidence) {
      // eslint-disable-next-line no-control-regex
      expect(e.line).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      // eslint-disable-next-line no-control-regex
      expect(e.file).not.toMatch(/[\u0000-\u001f]/);
      expect(e.line.length).toBeLessThanOrEqual(2000);
    }
    expect(doc.evidence[0]!.line).toContain('{{address}} $& $1');
    expect(body.length).toBeLessThan(20_000);
    await n.close(1000);
  });

  it('a JSON template with every field stays JSON whatever the log line holds; $-patterns are not expanded', async () => {
    const rx = await receiver((_n, _q, res) => res.end('ok'));
    const clock = new ManualClock(NT0);
    const { n } = notifier(
      { BANHAMMER_NOTIFY_TARGETS: JSON.stringify({ hook: { type: 'webhook', url: rx.url, template: '{"a":"{{address}}","e":"{{evidence}}","t":"{{text}}","s":"{{summary}}","n":{{failures}}}' } }) },
      clock,
    );
    n.banned(ban('2001:db8::7', { evidence: [{ line: '2001:db8::7 - - [x] "GET /$&$`$\'{{summary}}\\" HTTP/1.1" 403 1 "-" "\u0000"', at: NT0 }] }));
    await until(() => rx.got.length > 0, clock);
    const doc = JSON.parse(rx.got[0]!.body) as { a: string; e: string; n: number };
    expect(doc.a).toBe('2001:db8::7');
    expect(doc.e).toContain("/$&$`$'{{summary}}");
    expect(doc.n).toBe(5);
    await n.close(1000);
  });
});

describe('issue 14: webhook failures and retries against a real receiver', () => {
  it('503 twice (Retry-After 1), then 200: delivered once on the 3rd attempt; the outage logged once, the recovery once', async () => {
    const rx = await receiver((k, _q, res) => {
      if (k <= 2) {
        res.writeHead(503, { 'retry-after': '1' });
        res.end('busy');
      } else res.end('ok');
    });
    const clock = new ManualClock(NT0);
    const { n, warns, infos, counts } = notifier({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url }, clock);
    n.banned(ban('198.18.0.8'));
    await until(() => counts.sent === 1, clock, 500, 400, answered(rx, counts));
    expect(rx.got).toHaveLength(3);
    expect(new Set(rx.got.map((g) => g.body)).size).toBe(1);
    expect(counts).toEqual({ sent: 1, failed: 2, dropped: 0 });
    expect(warns).toHaveLength(1);
    expect(infos.filter((m) => m.includes('recovered'))).toHaveLength(1);
    await n.close(1000);
  });

  it('a redirect is not followed and not retried; a hostile Retry-After (huge, negative, a date far ahead) is bounded', async () => {
    const rx = await receiver((k, _q, res) => {
      if (k === 1) {
        res.writeHead(302, { location: 'http://198.18.0.1/steal' });
        res.end();
      } else if (k === 2) {
        res.writeHead(429, { 'retry-after': '999999999' });
        res.end();
      } else if (k === 3) {
        res.writeHead(503, { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' });
        res.end();
      } else res.end('ok');
    });
    const clock = new ManualClock(NT0);
    const { n, counts } = notifier({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url }, clock);
    n.banned(ban('198.18.0.9'));
    await until(() => counts.dropped === 1, clock);
    expect(rx.got).toHaveLength(1);
    n.banned(ban('198.18.0.10'));
    // Each wait is bounded by the 60 s maximum back-off, however long the receiver asks for. The clock
    // moves 1 s at a time (the request timeout is 10 s) and only while no answer is on its way: 10 s
    // jumps timed a request out and sent it again (five requests, once, with two test files running
    // at once on a 2-core machine).
    await until(() => counts.sent === 1, clock, 1_000, 2_000, answered(rx, counts));
    expect(counts.sent).toBe(1);
    expect(rx.got).toHaveLength(4);
    await n.close(1000);
  });

  it('an unreachable receiver changes nothing: offer() returns at once, failures are counted, close() is bounded', async () => {
    const rx = await receiver((_k, _q, res) => res.end());
    const url = rx.url;
    await new Promise((r) => servers.pop()!.close(r)); // nothing listens there any more
    const clock = new ManualClock(NT0);
    const { n, warns, counts } = notifier({ BANHAMMER_NOTIFY_WEBHOOK_URL: url }, clock);
    const t = performance.now();
    for (let i = 0; i < 5; i++) n.banned(ban(`198.18.0.${20 + i}`));
    // Wall time (a call that waited for the receiver would not show in CPU time). Five calls take
    // well under a millisecond; 250 ms leaves room for a loaded machine's preemption and stays far
    // below what waiting for an answer or a timeout would take (seconds).
    expect(performance.now() - t).toBeLessThan(250);
    await until(() => counts.failed >= 3, clock, 1000);
    expect(warns).toHaveLength(1);
    await n.close(0);
    expect(counts.dropped).toBeGreaterThan(0);
  });
});

describe('issue 14: a ban storm', () => {
  it('300 bans in one interval: the first 10 alone, then one digest naming at most 10 addresses; the next quiet interval sends nothing', async () => {
    const rx = await receiver((_n, _q, res) => res.end('ok'));
    const clock = new ManualClock(NT0);
    const { n, counts } = notifier({ BANHAMMER_NOTIFY_TARGETS: JSON.stringify({ hook: { type: 'webhook', url: rx.url, queue_size: 1000 } }) }, clock);
    for (let i = 0; i < 300; i++) n.banned(ban(`198.18.${i >> 8}.${i & 255}`));
    // Each message counted as sent (its answer read) before the manual clock jumps a minute: a jump
    // while an answer is still on its way would pass that request's deadline, abort it and send it
    // again (once, in CI under load, the receiver got the digest twice).
    await until(() => rx.got.length >= 10 && counts.sent >= 10, clock);
    expect(rx.got).toHaveLength(10);
    clock.advance(60_000);
    await until(() => rx.got.length >= 11 && counts.sent >= 11, clock);
    const digest = JSON.parse(rx.got[10]!.body) as { event: string; bans: number; distinct_addresses: number; top_addresses: unknown[] };
    expect(digest).toMatchObject({ event: 'digest', bans: 290, distinct_addresses: 290 });
    expect(digest.top_addresses.length).toBeLessThanOrEqual(10);
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.got).toHaveLength(11);
    await n.close(1000);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 5: a real Apache.

const MODULES = APACHE_MODULES;
const skip = !existsSync(APACHE) || !['mod_rewrite.so', 'mod_remoteip.so', 'mod_mpm_event.so', 'mod_authz_core.so', 'mod_dir.so', 'mod_log_config.so'].every((m) => existsSync(join(MODULES, m)) || m === 'mod_log_config.so');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe.skipIf(skip)('issue 5: apache-map with a real Apache (127.0.0.1): forwarded-client spellings', () => {
  let dir: string;
  let port: number;
  let apache: ChildProcess | undefined;
  let stderr = '';
  let enf: ApacheMapEnforcer;
  let seq = 0;

  const get = (xff?: string | string[]): Promise<{ status: number; path: string }> => {
    const path = `/?n=${++seq}`;
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, headers: { connection: 'close', ...(xff !== undefined ? { 'x-forwarded-for': xff } : {}) }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, path }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  };

  /** The access-log line Apache wrote for `path` (LogFormat combined with %a, as the image's). */
  const logged = async (path: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const log = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '');
      const l = log.split('\n').find((x) => x.includes(`GET ${path} `));
      if (l !== undefined) return l;
      await new Promise((r) => setTimeout(r, 30));
    }
    throw new Error(`no access-log line for ${path}`);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-pov-apache-'));
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'www'), { mode: 0o755 });
    await writeFile(join(dir, 'www', 'index.html'), 'hello\n', { mode: 0o644 });
    const mapPath = join(dir, 'banned.map');
    enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init();
    port = await freePort();
    const conf = apacheMapConf({ dir, port, mapPath, logFormat: '%a %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"' });
    await writeFile(join(dir, 'httpd.conf'), conf);
    apache = spawn(APACHE, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
    apache.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited: string | null = null;
    apache.once('exit', (code, sig) => (exited = `apache2 exited (${code ?? sig}): ${stderr}`));
    for (let i = 0; i < 100; i++) {
      if (exited) throw new Error(exited);
      if (await get().then((r) => r.status === 200, () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('apache did not start');
  }, 30_000);

  afterAll(async () => {
    if (apache && apache.exitCode === null) {
      const gone = new Promise((r) => apache!.once('exit', r));
      apache.kill('SIGTERM');
      await gone;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const parse = createLineParser('auto', { trustedProxies: ['127.0.0.1/32'] });
  const logWho = (l: string): string => {
    const o = parse(l);
    return isSkip(o) ? o : o.ip;
  };

  // For each spelling a client (or a proxy) may put in the header: the ban of the canonical address
  // must answer 403, and what Apache logs must be read by the agent as that same canonical address.
  const cases: [string, string | string[], string][] = [
    ['IPv4-mapped IPv6', '::ffff:198.18.0.9', '198.18.0.9'],
    ['IPv4-mapped IPv6, upper case', '::FFFF:198.18.0.9', '198.18.0.9'],
    ['IPv6, expanded upper case', '2001:0DB8:0000:0000:0000:0000:0000:0009', '2001:db8::9'],
    ['IPv6 with one zero group (never ::)', '2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['IPv6, two equal zero runs', '2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['IPv4-compatible IPv6 (::/96)', '::198.18.0.38', '::c612:26'],
    ['list: client, then the trusted proxy', '198.18.0.11, 127.0.0.1', '198.18.0.11'],
    ['repeated headers (joined by Apache)', ['198.18.0.66', '198.18.0.12'], '198.18.0.12'],
    ['IPv6 with an embedded dotted quad', '2001:db8::198.18.0.5', '2001:db8::c612:5'],
  ];

  for (const [name, xff, canonical] of cases) {
    it(`${name}: ${JSON.stringify(xff)} is banned as ${canonical}, and the log names ${canonical}`, async () => {
      const family = canonical.includes(':') ? 6 : 4;
      expect((await get(xff)).status).toBe(200);
      const before = await get(xff);
      const line = await logged(before.path);
      expect(logWho(line), line).toBe(canonical);
      await enf.apply({ ban: [{ ip: canonical, family, until: null }], unban: [] });
      try {
        expect((await get(xff)).status).toBe(403);
      } finally {
        await enf.apply({ ban: [], unban: [{ ip: canonical, family }] });
      }
      expect((await get(xff)).status).toBe(200);
    });
  }
});
