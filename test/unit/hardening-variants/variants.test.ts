/**
 * Audit of issue 9: variants of each listed defect class that the product handles today (cheap
 * regression tests; the failing variants are in the other files of this folder).
 */
import { describe, expect, it, afterEach, beforeEach } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory, type DaemonState } from '../../../src/daemon.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { parseRequest } from '../../../src/control/protocol.js';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter } from '../../../src/source/line-splitter.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Tailer } from '../../../src/source/tailer.js';

// ---- variants ----

const T = '10/Oct/2026:13:55:36 +0000';
const TAIL = `[${T}] "GET /admin HTTP/1.1" 403 199 "-" "curl"`;
const H = 3_600_000;

describe('unspecified / multicast / broadcast spellings never become a client', () => {
  const p = createLineParser('auto', { trustedProxies: ['198.18.1.1'] });
  it.each([
    '::ffff:0.0.0.0', '::ffff:0:0', '::0.0.0.0', '0:0:0:0:0:0:0:0', '::ffff:224.0.0.1', '::FFFF:255.255.255.255', 'FF02::1', '0.1.2.3', '::ffff:0.1.2.3', '239.255.255.255',
  ])('first field %s is not-client', (a) => {
    expect(p(`${a} - - ${TAIL}`)).toBe('not-client');
  });
  it.each(['198.18.0.5, 0.0.0.0', '198.18.0.5,0.0.0.0', '::ffff:0.0.0.0, 198.18.1.1', '198.18.0.5, ff02::1, 198.18.1.1'])('X-Forwarded-For list %s is not-client', (l) => {
    expect(p(`${l} - - ${TAIL}`)).toBe('not-client');
  });
  it.each(['0.0.0.0', '::', '224.0.0.1', '::ffff:0.0.0.0', '255.255.255.255', 'ff02::1, 198.18.1.1'])('nginx main trailing X-Forwarded-For %s from a trusted proxy is not-client', (x) => {
    expect(p(`198.18.1.1 - - ${TAIL} "${x}"`)).toBe('not-client');
  });
  it('host layout and wrappers', () => {
    expect(p(`www.x.org 0.0.0.0 - - ${TAIL}`)).toBe('not-client');
    expect(p(`198.18.0.9 0.0.0.0 - - ${TAIL}`)).toBe('not-client');
    expect(p(`{"log":${JSON.stringify(`0.0.0.0 - - ${TAIL}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`)).toBe('not-client');
    expect(p(`<30>Nov 23 09:35:48 web[1]: :: - - ${TAIL}`)).toBe('not-client');
  });
});

describe('IPv4-compatible IPv6 stays IPv6 in every spelling and position', () => {
  const p = createLineParser('auto', { trustedProxies: ['198.18.1.1'] });
  it.each(['::198.18.0.38', '0:0:0:0:0:0:198.18.0.38', '::0:198.18.0.38', '::c612:26'])('%s', (a) => {
    expect(p(`${a} - - ${TAIL}`)).toMatchObject({ ip: '::c612:26', family: 6 });
    expect(p(`198.18.0.5, ${a} - - ${TAIL}`)).toMatchObject({ ip: '::c612:26' });
    expect(p(`198.18.1.1 - - ${TAIL} "${a}"`)).toMatchObject({ ip: '::c612:26' });
    expect(p(`www.x.org ${a} - - ${TAIL}`)).toMatchObject({ ip: '::c612:26' });
  });
  it('::ffff:c612:26 (hex mapped) is the IPv4 client', () => {
    expect(p(`::ffff:c612:26 - - ${TAIL}`)).toMatchObject({ ip: '198.18.0.38', family: 4 });
  });
  it('an ignoreip of ::198.18.0.38 does not allowlist the IPv4 host, and vice versa', () => {
    expect(new Allowlist(['::198.18.0.38']).has('198.18.0.38')).toBe(false);
    expect(new Allowlist(['::198.18.0.38']).has('::c612:26')).toBe(true);
    expect(new Allowlist(['198.18.0.38']).has('::c612:26')).toBe(false);
    expect(new Allowlist(['::198.18.0.0/120']).has('198.18.0.38')).toBe(false);
  });
});

describe('manual ban, restore and group adopt refuse what can never be a client', () => {
  const book = () => new BanBook({ ...PRESETS }, new Allowlist([]));
  it.each(['0.0.0.0/32', '::/128', '::ffff:0.0.0.0', '255.255.255.255/32', 'ff02::1/128', '0.0.0.0/8', '224.0.0.0/8', '0.1.2.3', '0:0::0', '::ffff:224.0.0.1'])('ban %s is refused', (ip) => {
    const b = book();
    expect(() => b.banManually(ip, { durationMs: H, now: 0 })).toThrow();
    expect(b.changes(0).ban).toEqual([]);
  });
  it('restore drops them', () => {
    const base = { family: 4, rule: 'forbidden', at: 0, until: H, failures: 5, nth: 1, manual: false };
    const ips = ['0.0.0.0/32', '::/128', '::ffff:0.0.0.0', '255.255.255.255', 'ff02::1', '0.0.0.0/8', '224.0.0.0/8', '0.1.2.3'];
    const b = book();
    const r = b.restore({ bans: ips.map((ip) => ({ ...base, ip })), history: [] } as never, 1);
    expect(r.restored).toBe(0);
    expect(b.changes(1).ban).toEqual([]);
  });
  it('adopt drops them', () => {
    const b = book();
    for (const ip of ['0.0.0.0/32', '::/128', '::ffff:0.0.0.0', '255.255.255.255', 'ff02::1', '0.0.0.0/8', '0.1.2.3']) {
      expect(b.adopt({ ip, rule: 'manual', at: 0, until: null, origin: 'r2' }, 1), ip).toBeNull();
    }
  });
});

describe('rule names from the prototype, at the control handler', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'])('ban --rule %s is refused and nothing reaches the firewall', async (rule) => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'u' }), clock, logger: { debug() {}, info() {}, warn() {}, error() {} }, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
    await daemon.start();
    await expect(daemon.ban('198.18.0.40', { rule, forMs: null })).rejects.toThrow();
    expect(enforcer.held.size).toBe(0);
    expect(() => daemon.status(rule)).toThrow();
    await daemon.stop();
  });
});

// ---- durations ----
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('durations past the date range', () => {
  it.each(['3651d', '99999999999999999999', '521w4d', '87601h', '9'.repeat(400) + 's', '5256001m', '315360000001ms'])('BANHAMMER_BANTIME=%s is refused at load', (v) => {
    expect(() => loadConfig({ env: { BANHAMMER_BANTIME: v }, hostname: 'u' })).toThrow(/too large|invalid/);
  });
  it.each(['3651d', '99999999d'])('increment maxtime %s is refused', (v) => {
    expect(() => loadConfig({ env: { BANHAMMER_CONFIG: '/c' }, hostname: 'u', readFile: () => `rules:\n  forbidden:\n    increment: { factor: 1000, maxtime: ${v} }\n` })).toThrow();
  });
  it.each([1e300, 2 ** 53, 315_360_000_001, -1, 0, 1.5, '1000'])('socket forMs %s is refused', (v) => {
    expect(parseRequest(JSON.stringify({ v: 1, op: 'ban', ip: '198.18.0.7', forMs: v }))).toMatchObject({ ok: false });
  });
  it('a saved state with times past the date range restores and status formats', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
    const store = new MemoryStore();
    const base = { family: 4, rule: 'forbidden', failures: 5, nth: 1, manual: false };
    store.doc = {
      bans: [
        { ...base, ip: '198.18.0.41', at: 0, until: 8.64e15 + 1 },
        { ...base, ip: '198.18.0.42', at: 1e300, until: null },
        { ...base, ip: '198.18.0.43', at: -8.64e15 - 1, until: 1e300 },
        { ...base, ip: '198.18.0.44', at: 0, until: Number.MAX_VALUE, nth: 1e300, failures: 1e300 },
        { ...base, ip: '198.18.0.45', at: '2031-01-01', until: '9999999999999999' },
      ],
      history: [{ ip: '198.18.0.41', rule: 'forbidden', count: 1e300, last: 1e300 }],
      ended: [{ ...base, ip: '198.18.0.46', at: 0, until: 1e300, ended: { reason: 'expired', at: 1e300 } }],
      positions: [],
    } as unknown as DaemonState;
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'u' }), clock, logger: silent, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });
    await daemon.start();
    const st = daemon.status();
    expect(() => formatStatus(st)).not.toThrow();
    expect(() => JSON.stringify(st)).not.toThrow();
    expect(() => daemon.why('198.18.0.46')).not.toThrow();
    expect(() => daemon.why('198.18.0.44')).not.toThrow();
    await daemon.stop();
  });
});

// ---- padding ----
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const head = (ip: string, t = T0, req = 'GET /private HTTP/1.1', user = '-') => `${ip} - ${user} [${clf(t)}] "${req}" 403 199 "-" "`;
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function split(text: string, chunk: number): string[] {
  const out: string[] = [];
  const s = new LineSplitter();
  const b = Buffer.from(text, 'utf8');
  for (let i = 0; i < b.length; i += chunk) s.push(b.subarray(i, i + chunk), (l) => out.push(l));
  return out;
}

describe('padding variants (length never decides whether a failure counts)', () => {
  const p = createLineParser('auto');
  for (const [name, pad] of [
    ['600 KB of \\" (Apache quote escapes)', '\\"'.repeat(300_000)],
    ['400 KB of raw UTF-8 (nginx escape=json keeps it)', '\u4e2d'.repeat(140_000)],
    ['300 KB of \\t / \\x escapes', '\\t\\x7f'.repeat(50_000)],
  ] as const) {
    for (const chunk of [1 << 16, 4093, 262_144, 262_145]) {
      it(`${name}, CRLF, read in ${chunk}-byte chunks by the live splitter`, () => {
        const lines = split(`${head('198.18.0.50')}${pad}"\r\n${head('198.18.0.51')}x"\n`, chunk);
        expect(lines).toHaveLength(2);
        expect(p(lines[0]!)).toMatchObject({ ip: '198.18.0.50', status: 403 });
        expect(p(lines[1]!)).toMatchObject({ ip: '198.18.0.51', status: 403 });
      });
    }
  }
  it('a padded user field (nginx Basic-auth user, \\xHH-escaped) and a padded request line', () => {
    expect(p(`${head('198.18.0.52', T0, 'GET /private HTTP/1.1', '\\x41'.repeat(6000))}x"`)).toMatchObject({ ip: '198.18.0.52', status: 403 });
    expect(p(`${head('198.18.0.53', T0, `GET /${'\\xff'.repeat(8000)} HTTP/1.1`)}x"`)).toMatchObject({ ip: '198.18.0.53', status: 403 });
  });
  it('a Docker json-file line whose User-Agent is 40,000 "<" (Go writes \\u003c) split over 16 KiB records', () => {
    const full = `${head('198.18.0.54')}${'<'.repeat(40_000)}"\n`;
    const records: string[] = [];
    for (let i = 0; i < full.length; i += 16_384) {
      const piece = full.slice(i, i + 16_384);
      records.push(`{"log":${JSON.stringify(piece).replaceAll('<', '\\u003c')},"stream":"stdout","time":"2026-11-23T09:00:00.000000000Z"}`);
    }
    const outs = records.map((r) => p(r));
    const events = outs.filter((o) => typeof o === 'object' && o !== null);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ip: '198.18.0.54', status: 403 });
  });
  it('replay bans five 403s whose lines are each 3 MB (longer than its 2 MiB buffer)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-a9-pad-'));
    dirs.push(dir);
    const file = join(dir, 'a.log');
    writeFileSync(file, Array.from({ length: 5 }, (_, i) => `${head('198.18.0.55', T0 + i * 1000)}${'\\"'.repeat(1_500_000)}"\n`).join(''));
    const r = await replayFile(file, loadConfig({ env: {}, hostname: 'u' }), { threads: 1 });
    expect(r.bans.map((b) => b.ip)).toEqual(['198.18.0.55']);
  });
});

describe('parallel replay spans (scan-span.ts) keep the head of overlong lines too', () => {
  it('five 3 MB lines cut into 4 spans give five events for their client', async () => {
    const { splitSpans } = await import('../../../src/replay/replay.js');
    const { scanSpan } = await import('../../../src/replay/scan-span.js');
    const { PRESETS } = await import('../../../src/detect/presets.js');
    const dir = mkdtempSync(join(tmpdir(), 'bh-a9-span-'));
    dirs.push(dir);
    const file = join(dir, 'a.log');
    writeFileSync(file, Array.from({ length: 5 }, (_, i) => `${head('198.18.0.56', T0 + i * 1000)}${'\\"'.repeat(1_500_000)}"\n`).join(''));
    let events = 0;
    let lines = 0;
    for (const span of splitSpans(file, 4)) {
      const r = await scanSpan({ path: file, ...span, format: 'auto', rules: [['forbidden', PRESETS.forbidden!]] });
      events += r.count;
      lines += r.lines;
      for (let e = 0; e < r.count; e++) expect(r.ips[r.ipIds[e]!]).toBe('198.18.0.56');
    }
    expect(lines).toBe(5);
    expect(events).toBe(5);
  });
});

// ---- fifo ----
let dir: string;
const tailers: Tailer[] = [];

async function startWithin(paths: string[], ms = 3000) {
  const warnings: string[] = []; const errors: unknown[] = []; const lines: string[] = [];
  const t = new Tailer({ paths, onLine: (l) => lines.push(l), onError: (e) => errors.push(e), onWarning: (m) => warnings.push(m), rotateWaitMs: 300 });
  tailers.push(t);
  const started = await Promise.race([t.start().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  return { started, warnings, errors, lines, t };
}

describe('non-regular log paths never block start-up', () => {
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'bh-a9-')); });
  afterEach(async () => { for (const t of tailers.splice(0)) await t.stop(); await rm(dir, { recursive: true, force: true }); });
  it('a symlink to a FIFO', async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    symlinkSync(join(dir, 'fifo'), join(dir, 'access.log'));
    const h = await startWithin([join(dir, 'access.log')]);
    expect(h.started).toBe(true);
  });
  it('a symlink to /dev/zero (character device, endless)', async () => {
    symlinkSync('/dev/zero', join(dir, 'access.log'));
    const h = await startWithin([join(dir, 'access.log')]);
    expect(h.started).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.lines.length).toBe(0);
  });
  it('a directory, and a glob matching a FIFO beside a regular file', async () => {
    mkdirSync(join(dir, 'd.log'));
    execFileSync('mkfifo', [join(dir, 'b.log')]);
    writeFileSync(join(dir, 'a.log'), '');
    const h = await startWithin([join(dir, 'd.log'), join(dir, '*.log')]);
    expect(h.started).toBe(true);
  });
});

// ---- refused ----
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;

describe('an element the firewall refuses', () => {
  it('never fails the others, and is logged once across checks and re-applies', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    enforcer.refuse.add('198.18.0.80');
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, m?: string) => void errors.push(m ?? '') };
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'u' }), clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
    await daemon.start();
    for (const ip of ['198.18.0.80', '198.18.0.81']) for (let i = 0; i < 5; i++) source.onLine(line(ip, clock.now()), '/f');
    for (let s = 0; s < 40; s++) {
      clock.advance(1000);
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    }
    await daemon.ban('198.18.0.82', { forMs: 60_000 });
    for (let s = 0; s < 20; s++) {
      clock.advance(1000);
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    }
    expect(enforcer.held.has('198.18.0.81')).toBe(true);
    expect(enforcer.held.has('198.18.0.82')).toBe(true);
    expect(errors.filter((m) => m.includes('refused'))).toHaveLength(1);
    const st = daemon.status('forbidden');
    expect(st.health?.refused).toBe(1);
    await daemon.stop();
  });
});
