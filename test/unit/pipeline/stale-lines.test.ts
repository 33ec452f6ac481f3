// Lines too old for any rule to count (src/pipeline/stale-lines.ts): a log writer whose clock is
// behind the agent's by more than the rules' findtimes turned the agent off without a word (every
// line skipped by the detector as old; no counter, no warning). Now counted, warned about once every
// 10 minutes while every line read for a minute is that old, and shown by status; a backlog read
// after a restart, followed by current lines, is not taken for it.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { LogEnforcer } from '../../../src/enforce/dry-run.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BEHIND_REPORT_EVERY_MS, BEHIND_RUN_LINES, BEHIND_RUN_MS, StaleLines, longestFindtime } from '../../../src/pipeline/stale-lines.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number, status = 403) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" ${status} 10 "-" "curl"`;
const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const HOUR = 3600_000;
const settle = async () => { for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r)); };

describe('StaleLines', () => {
  it('a run of stale lines is "behind" once it has lasted a minute and ten lines; one fresh line ends it', () => {
    const s = new StaleLines(600_000);
    const reports: unknown[] = [];
    let now = T0;
    for (let i = 0; i < BEHIND_RUN_LINES; i++, now += 1000) if (s.note(now - HOUR, now) !== null) reports.push(i);
    expect(s.behind(now)).toBeUndefined(); // ten lines, but not a minute yet
    now = T0 + BEHIND_RUN_MS;
    expect(s.note(now - HOUR, now)).toEqual({ lines: BEHIND_RUN_LINES + 1, newestLine: now - HOUR, behindMs: HOUR });
    expect(s.behind(now)).toMatchObject({ lines: BEHIND_RUN_LINES + 1 });
    // Reported at most once every 10 minutes while it lasts.
    for (let k = 1; k < 60; k++) if (s.note(now + k * 1000 - HOUR, now + k * 1000) !== null) reports.push(k);
    expect(reports).toEqual([]);
    expect(s.note(now + BEHIND_REPORT_EVERY_MS - HOUR, now + BEHIND_REPORT_EVERY_MS)).not.toBeNull();
    // A line young enough for the longest findtime ends the run.
    const later = now + BEHIND_REPORT_EVERY_MS + 1000;
    expect(s.note(later - 599_000, later)).toBeNull();
    expect(s.behind(later)).toBeUndefined();
    expect(s.total).toBe(BEHIND_RUN_LINES + 1 + 59 + 1);
  });

  it('a stale line is one at or before now minus the longest findtime; none without rules', () => {
    expect(longestFindtime([{ settings: { findtime: 60_000 } }, { settings: { findtime: 600_000 } }])).toBe(600_000);
    expect(longestFindtime([])).toBe(Number.POSITIVE_INFINITY);
    const s = new StaleLines(600_000);
    s.note(T0 - 599_999, T0);
    expect(s.total).toBe(0);
    s.note(T0 - 600_000, T0);
    expect(s.total).toBe(1);
    const none = new StaleLines(longestFindtime([]));
    none.note(0, T0);
    expect(none.total).toBe(0);
  });
});

describe('live pipeline and agent', () => {
  it('a log an hour behind: counted as stale, warned about once, shown by status; it bans nobody (and said nothing before)', async () => {
    const clock = new ManualClock(T0);
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (o: object, m?: string) => void warnings.push({ obj: o as Record<string, unknown>, msg: m ?? '' }) };
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const daemon = new Daemon({
      config: loadConfig({ env: {}, hostname: 'unit' }),
      clock, logger, enforcer: new LogEnforcer(() => {}, clock), store: new MemoryStore(), createSource, hostAddresses: [],
      reloadConfig: () => loadConfig({ env: {}, hostname: 'unit' }),
    });
    await daemon.start();
    // Two minutes of an attacker's 403s, each logged by a writer whose clock is an hour behind.
    for (let i = 0; i < 120; i++) {
      source.onLine(line('198.18.0.9', clock.now() - HOUR), '/var/log/access.log');
      clock.advance(1000);
      await settle();
    }
    const st = daemon.status();
    expect(st.rules.flatMap((r) => r.bannedIps)).toEqual([]);
    expect(st.health).toMatchObject({ staleLines: 120, logBehind: { lines: 120, behindSeconds: 3601 } });
    const behind = warnings.filter((w) => /too long ago for any rule/.test(w.msg));
    expect(behind).toHaveLength(1);
    expect(formatStatus(st)).toMatch(/the last 120 log lines \(for a minute or more\) were all stamped too long ago for any rule to count them/);
    // The writer's clock set right: the next line counts, and status no longer says the log is behind.
    source.onLine(line('198.18.0.9', clock.now()), '/var/log/access.log');
    await settle();
    const after = daemon.status();
    expect(after.health?.logBehind).toBeUndefined();
    expect(formatStatus(after)).not.toMatch(/too long ago/);
    await daemon.stop();
  });

  it('a backlog read at start, then current lines: counted as stale, never reported as a log behind', () => {
    const reports: unknown[] = [];
    const p = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live', onBehind: (r) => reports.push(r) });
    let now = T0;
    // 50,000 lines of yesterday read in the first second (as the agent reads a backlog)...
    for (let i = 0; i < 50_000; i++) {
      const ev = p.parse(line(`198.18.${(i >> 8) & 255}.${(i & 255) || 1}`, T0 - 24 * HOUR + i, 200));
      if (ev) p.observe(ev, now + Math.floor(i / 50));
    }
    // ...then today's lines, for five minutes.
    for (let k = 0; k < 300; k++) {
      now = T0 + 1000 + k * 1000;
      const ev = p.parse(line('198.18.200.1', now, 200));
      if (ev) p.observe(ev, now);
    }
    expect(p.stats.stale).toBe(50_000);
    expect(reports).toEqual([]);
    expect(p.logBehind(now)).toBeUndefined();
  });
});
