/**
 * The "is it working" metrics (issue 14): log lag and last-line time per configured file, what the
 * enforcer's self-check read back from the kernel (kernel_bans, drift), the time of the last
 * successful self-check and failed checks — through the daemon's real wiring (Daemon → queue →
 * metrics) with a fake kernel, through the iptables enforcer's reading with a recording runner, and
 * through the real tailer on real files.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, KernelReading } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { LogEnforcer } from '../../../src/enforce/dry-run.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { LogLag } from '../../../src/metrics/sampler.js';
import type { FilePosition, FileProgress, LineSource } from '../../../src/source/line-source.js';
import { createTailer } from '../../../src/source/tailer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

/** One sample's value from the exposition text (exact series, labels included), or null. */
async function value(m: Metrics, series: string): Promise<number | null> {
  for (const l of (await m.render()).split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
  return null;
}

/**
 * A kernel in memory behind the Enforcer contract: apply() holds what it is told; lose() and
 * plant() change it from outside, as `ipset flush` or a stray `ipset add` would; check() compares
 * it with the ban book, repairs, and says what it read (lastReading), like the real enforcers.
 */
class FakeKernelEnforcer implements Enforcer {
  readonly name = 'fake-kernel';
  readonly kernel = new Map<string, EnforcerBan>();
  lastReading: KernelReading | undefined;
  failChecks = 0;
  async init(): Promise<void> {}
  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    for (const u of batch.unban) this.kernel.delete(u.ip);
    for (const b of batch.ban) this.kernel.set(b.ip, b);
    return { refused: [] };
  }
  lose(n: number): void {
    for (const k of [...this.kernel.keys()].slice(0, n)) this.kernel.delete(k);
  }
  plant(ip: string): void {
    this.kernel.set(ip, { ip, family: 4, until: null });
  }
  async check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    if (this.failChecks > 0) {
      this.failChecks--;
      throw new Error('simulated: ipset list failed');
    }
    const want = new Map(expected().map((b) => [b.ip, b]));
    const reading = { held: this.kernel.size, missing: 0, stray: 0 };
    for (const [ip, b] of want) if (!this.kernel.has(ip)) (reading.missing++, this.kernel.set(ip, b));
    for (const ip of [...this.kernel.keys()]) if (!want.has(ip)) (reading.stray++, this.kernel.delete(ip));
    this.lastReading = reading;
    return reading.missing + reading.stray > 0 ? [`elements: ${reading.missing} missing re-added, ${reading.stray} stray removed`] : [];
  }
  async shutdown(): Promise<void> {
    this.kernel.clear();
  }
}

/** A LineSource driven by hand that reports per-file progress like the tailer. */
class FakeSource implements LineSource {
  lines = 0;
  unread = 0;
  constructor(readonly onLine: (l: string, f: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] {
    return [];
  }
  lagBytes() {
    return this.unread;
  }
  stats() {
    return { files: 1, lines: this.lines, overlongLines: 0, rotations: 0, truncations: 0 };
  }
  progress(): FileProgress[] {
    return [{ path: '/var/log/apache2/access.log', lines: this.lines, unreadBytes: this.unread }];
  }
  emit(l: string) {
    this.lines++;
    this.onLine(l, '/var/log/apache2/access.log');
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /forbidden/ HTTP/1.1" 403 10 "-" "curl"`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const tick = () => new Promise((r) => setImmediate(r));
/** Advance the manual clock step by step, letting the daemon's async timer work run in between. */
async function advance(clock: ManualClock, ms: number, step = 500): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    for (let i = 0; i < 5; i++) await tick();
  }
}

function agent() {
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
  const enforcer = new FakeKernelEnforcer();
  const metrics = createMetrics({ rules: ['forbidden'], enforcer: enforcer.name, files: ['/var/log/apache2/access.log'] });
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const store = { doc: null as DaemonState | null, async load() { return null; }, async save(d: DaemonState) { this.doc = d; } };
  const config = loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/apache2/access.log' }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, checkIntervalMs: 2000 });
  return { clock, enforcer, metrics, daemon, source: () => source };
}

describe('self-check metrics through the daemon (fake kernel)', () => {
  it('drift goes non-zero when the kernel loses entries, back to 0 after the repair; kernel_bans is what was read', async () => {
    const { clock, enforcer, metrics: m, daemon, source } = agent();
    await daemon.start();
    expect(await value(m, 'banhammer_start_time_seconds')).toBe(clock.now() / 1000);
    expect(await value(m, 'banhammer_last_check_success_timestamp_seconds')).toBe(0);
    for (const ip of ['198.18.0.1', '198.18.0.2', '198.18.0.3']) for (let i = 0; i < 5; i++) source().emit(line(ip, clock.now()));
    await tick();
    await tick();
    expect(enforcer.kernel.size).toBe(3);
    await advance(clock, 2000);
    expect(await value(m, 'banhammer_kernel_bans{enforcer="fake-kernel"}')).toBe(3);
    expect(await value(m, 'banhammer_enforce_drift{enforcer="fake-kernel"}')).toBe(0);
    const firstCheck = await value(m, 'banhammer_last_check_success_timestamp_seconds');
    expect(firstCheck).toBeGreaterThan(0);
    expect(firstCheck! * 1000).toBeLessThanOrEqual(clock.now());

    // Someone flushes two entries and adds one nobody banned.
    enforcer.lose(2);
    enforcer.plant('198.18.7.7');
    await advance(clock, 2000);
    expect(await value(m, 'banhammer_kernel_bans{enforcer="fake-kernel"}')).toBe(2); // as read, before the repair
    expect(await value(m, 'banhammer_enforce_drift{enforcer="fake-kernel"}')).toBe(3);
    expect(await value(m, 'banhammer_enforce_drift_entries_total{kind="missing"}')).toBe(2);
    expect(await value(m, 'banhammer_enforce_drift_entries_total{kind="stray"}')).toBe(1);
    expect(enforcer.kernel.size).toBe(3);
    expect(enforcer.kernel.has('198.18.7.7')).toBe(false);

    // The next check finds the repaired kernel: drift back to 0, the counters keep what happened.
    await advance(clock, 2000);
    expect(await value(m, 'banhammer_enforce_drift{enforcer="fake-kernel"}')).toBe(0);
    expect(await value(m, 'banhammer_kernel_bans{enforcer="fake-kernel"}')).toBe(3);
    expect(await value(m, 'banhammer_enforce_drift_entries_total{kind="missing"}')).toBe(2);
    expect(await value(m, 'banhammer_active_bans{family="ipv4"}')).toBe(3);
    await daemon.stop();
  });

  it('a failing check is counted and does not move the last-success time', async () => {
    const { clock, enforcer, metrics: m, daemon } = agent();
    await daemon.start();
    await advance(clock, 2000);
    const ok = await value(m, 'banhammer_last_check_success_timestamp_seconds');
    expect(ok).toBe(clock.now() / 1000);
    enforcer.failChecks = 3;
    await advance(clock, 6000);
    expect(await value(m, 'banhammer_check_failures_total')).toBe(3);
    expect(await value(m, 'banhammer_last_check_success_timestamp_seconds')).toBe(ok);
    await advance(clock, 2000);
    expect(await value(m, 'banhammer_last_check_success_timestamp_seconds')).toBe(clock.now() / 1000);
    await daemon.stop();
  });

  it('log lag climbs while the file grows and nothing is read, and drops to 0 once read', async () => {
    const { clock, metrics: m, daemon, source } = agent();
    await daemon.start();
    const started = clock.now() / 1000;
    await advance(clock, 1000);
    const lag = 'banhammer_log_lag_seconds{file="/var/log/apache2/access.log"}';
    const last = 'banhammer_log_last_line_timestamp_seconds{file="/var/log/apache2/access.log"}';
    expect(await value(m, lag)).toBe(0);
    expect(await value(m, last)).toBe(started); // no line yet: the start
    source().emit(line('198.18.0.50', clock.now()));
    await advance(clock, 1000);
    const readAt = await value(m, last);
    expect(readAt).toBeGreaterThan(started);
    expect(await value(m, 'banhammer_log_lines_read_total{file="/var/log/apache2/access.log"}')).toBe(1);
    // The file grows; the agent reads nothing (stuck).
    source().unread = 4096;
    await advance(clock, 10_000);
    expect(await value(m, lag)).toBeGreaterThanOrEqual(9);
    expect(await value(m, lag)).toBeLessThanOrEqual(11);
    expect(await value(m, last)).toBe(readAt);
    // It catches up.
    source().unread = 0;
    source().emit(line('198.18.0.50', clock.now()));
    await advance(clock, 1000);
    expect(await value(m, lag)).toBe(0);
    expect(await value(m, last)).toBeGreaterThanOrEqual(clock.now() / 1000 - 1); // sampled about every second
    expect(await value(m, last)).toBeLessThanOrEqual(clock.now() / 1000);
    await daemon.stop();
  });
});

describe('LogLag', () => {
  const p = (lines: number, unreadBytes: number): FileProgress[] => [{ path: 'a.log', lines, unreadBytes }];
  it('is 0 while everything is read, whatever the line rate', () => {
    const l = new LogLag();
    expect(l.update(p(0, 0), 1000)).toEqual([{ file: 'a.log', lagSeconds: 0, lastLineSeconds: 1, lines: 0 }]);
    expect(l.update(p(500, 0), 2000)[0]).toMatchObject({ lagSeconds: 0, lastLineSeconds: 2, lines: 500 });
  });
  it('counts from the later of the last line read and the last time caught up; a reader making progress stays near 0', () => {
    const l = new LogLag();
    l.update(p(10, 0), 0);
    expect(l.update(p(10, 100), 5000)[0]!.lagSeconds).toBe(5); // caught up at 0, nothing read since
    expect(l.update(p(20, 100), 6000)[0]!.lagSeconds).toBe(0); // reading: progress
    expect(l.update(p(20, 100), 9000)[0]!.lagSeconds).toBe(3);
  });
  it('stays bounded by the configured paths it is given', () => {
    const l = new LogLag();
    for (let i = 0; i < 1000; i++) l.update(p(i, i), i);
    expect(l.update([{ path: 'a.log', lines: 1000, unreadBytes: 0 }, { path: 'b.log', lines: 0, unreadBytes: 0 }], 2000)).toHaveLength(2);
  });
});

describe('the iptables enforcer reads the kernel back (recording runner)', () => {
  const RULE4 = '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP\n-A BANHAMMER-web -p udp -m set --match-set bh-web-v4 src -j DROP';
  const headers = (counts: Record<string, number>) => ({
    stdout: Object.entries(counts).map(([n, c]) => `Name: ${n}\nType: hash:ip\nRevision: 5\nHeader: family inet hashsize 1024 maxelem 1048576 timeout 0\nSize in memory: 100\nReferences: 1\nNumber of entries: ${c}\n`).join('\n'),
  });
  function setup() {
    const runner = new RecordingRunner();
    const clock = new ManualClock();
    const enf = new IptablesEnforcer({ runner, clock, instance: 'web', ports: [80], families: [4], backend: backendBinaries('nft', 'test') });
    runner.on('iptables-nft -w 2 -S BANHAMMER-web', { stdout: `-N BANHAMMER-web\n${RULE4}\n` });
    runner.on(/-S INPUT/, { stdout: '-A INPUT -p tcp -m multiport --dports 80 -j BANHAMMER-web\n-A INPUT -p udp -m multiport --dports 80 -j BANHAMMER-web\n' });
    return { runner, clock, enf };
  }
  const bans = (n: number): EnforcerBan[] => Array.from({ length: n }, (_, i) => ({ ip: `198.18.1.${i + 1}`, family: 4 as const, until: null }));

  it('counts agree: held = the count read, no drift', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 3 }));
    await enf.check(() => bans(3));
    expect(enf.lastReading).toEqual({ held: 3, missing: 0, stray: 0 });
  });

  it('a flushed set: held 0, every ban missing; a stray: counted as stray', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 0 }));
    await enf.check(() => bans(3));
    expect(enf.lastReading).toEqual({ held: 0, missing: 3, stray: 0 });
    const r2 = setup();
    r2.runner.on('ipset list -t', headers({ 'bh-web-v4': 2 }));
    r2.runner.on('ipset save bh-web-v4', { stdout: 'add bh-web-v4 198.18.1.1 timeout 0\nadd bh-web-v4 198.18.9.9 timeout 0\n' });
    await r2.enf.check(() => bans(1));
    expect(r2.enf.lastReading).toEqual({ held: 2, missing: 0, stray: 1 });
  });

  it('a check that throws keeps the previous reading', async () => {
    const { runner, enf } = setup();
    runner.on('ipset list -t', headers({ 'bh-web-v4': 1 }));
    await enf.check(() => bans(1));
    runner.on('ipset list -t', { code: 1, stderr: 'ipset v7.17: Kernel error received: Operation not permitted' });
    await expect(enf.check(() => bans(1))).rejects.toThrow();
    expect(enf.lastReading).toEqual({ held: 1, missing: 0, stray: 0 });
  });
});

describe('the nftables enforcer reads the kernel back when it compares elements (recording runner)', () => {
  const rule = (proto: 'ip' | 'ip6', set: string, l4: 'tcp' | 'udp' = 'tcp') => ({
    expr: [
      { match: { op: '==', left: { payload: { protocol: l4, field: 'dport' } }, right: { set: [80, 443] } } },
      { match: { op: '==', left: { payload: { protocol: proto, field: 'saddr' } }, right: `@${set}` } },
      { drop: null },
    ],
  });
  const t = 'banhammer_web';
  const ruleset = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: t, handle: 1 } },
      { set: { family: 'inet', table: t, name: 'addr4', type: 'ipv4_addr', flags: ['timeout'] } },
      { set: { family: 'inet', table: t, name: 'addr6', type: 'ipv6_addr', flags: ['timeout'] } },
      { chain: { family: 'inet', table: t, name: 'input', type: 'filter', hook: 'input', prio: -10, policy: 'accept' } },
      { rule: { family: 'inet', table: t, chain: 'input', handle: 5, ...rule('ip', 'addr4') } },
      { rule: { family: 'inet', table: t, chain: 'input', handle: 6, ...rule('ip', 'addr4', 'udp') } },
      { rule: { family: 'inet', table: t, chain: 'input', handle: 7, ...rule('ip6', 'addr6') } },
      { rule: { family: 'inet', table: t, chain: 'input', handle: 8, ...rule('ip6', 'addr6', 'udp') } },
    ],
  });
  const setJson = (name: string, elem: unknown[]) => JSON.stringify({ nftables: [{ metainfo: {} }, { set: { family: 'inet', table: t, name, flags: ['timeout'], elem } }] });

  it('held = elements listed, missing and stray from the comparison; a check without comparison keeps the last reading', async () => {
    const runner = new RecordingRunner();
    const clock = new ManualClock();
    runner.on('nft -j -t list table inet banhammer_web', { stdout: ruleset });
    const enf = new NftablesEnforcer({ runner, clock, instance: 'web', ports: [443, 80], elementCheckIntervalMs: 60_000 });
    await enf.init();
    runner.on('nft -j list set inet banhammer_web addr4', { stdout: setJson('addr4', ['198.18.0.9', '198.18.0.2']) });
    runner.on('nft -j list set inet banhammer_web addr6', { stdout: setJson('addr6', ['2001:db8::1']) });
    const want: EnforcerBan[] = [
      { ip: '198.18.0.1', family: 4, until: null },
      { ip: '198.18.0.2', family: 4, until: null },
      { ip: '2001:db8::1', family: 6, until: null },
    ];
    await enf.check(() => want);
    expect(enf.lastReading).toEqual({ held: 3, missing: 1, stray: 1 });
    clock.advance(1000); // no element comparison this time: the reading stays the last one made
    await enf.check(() => want);
    expect(enf.lastReading).toEqual({ held: 3, missing: 1, stray: 1 });
  });
});

describe('the dry-run enforcer reads its own list back', () => {
  it('held is what it holds; a ban it never got is missing, then repaired', async () => {
    const clock = new ManualClock();
    const enf = new LogEnforcer(() => {}, clock);
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    const want: EnforcerBan[] = [{ ip: '198.18.0.1', family: 4, until: null }, { ip: '198.18.0.2', family: 4, until: null }];
    expect(await enf.check(() => want)).toHaveLength(1);
    expect(enf.lastReading).toEqual({ held: 1, missing: 1, stray: 0 });
    expect(await enf.check(() => want)).toEqual([]);
    expect(enf.lastReading).toEqual({ held: 2, missing: 0, stray: 0 });
  });
});

describe('the tailer reports progress per configured path (real files)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('lines and unread bytes per configured entry, globs under their pattern as written', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-progress-'));
    const a = join(dir, 'a.log');
    await writeFile(a, 'old line\n');
    await writeFile(join(dir, 'x-access.log'), '');
    await writeFile(join(dir, 'y-access.log'), '');
    const seen: string[] = [];
    const glob = join(dir, '*-access.log');
    const t = createTailer({ paths: [a, glob], onLine: (l) => seen.push(l), watchDir: null, pollIntervalMs: 20 });
    await t.start();
    try {
      expect(t.progress()).toEqual([{ path: a, lines: 0, unreadBytes: 0 }, { path: glob, lines: 0, unreadBytes: 0 }]);
      await appendFile(a, 'one\ntwo\n');
      await appendFile(join(dir, 'x-access.log'), 'x1\n');
      await appendFile(join(dir, 'y-access.log'), 'y1\ny2\n');
      const end = Date.now() + 10_000;
      while (seen.length < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      await t.settle();
      expect(t.progress()).toEqual([{ path: a, lines: 2, unreadBytes: 0 }, { path: glob, lines: 3, unreadBytes: 0 }]);
    } finally {
      await t.stop();
    }
  });
});
