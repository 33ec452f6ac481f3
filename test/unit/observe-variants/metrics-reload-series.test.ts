/**
 * Audit (issue 14, metrics): "Series for known label values (… declared rules …) exist from the
 * start at 0, so rate() works from the first scrape" (src/metrics/registry.ts). A rule switched on
 * by a reload is declared too, but its series were born only with its first match or ban, already
 * at their first value in the same scrape: Prometheus' increase() and rate() cannot see a series'
 * first sample as an increase, so the first burst of a rule added by `banhammer reload` (or SIGHUP)
 * was missing from `increase(banhammer_bans_total[5m])` (BanhammerBanStorm) and from every
 * "failures / bans per rule" panel. The series of a rule added by a reload must exist at 0 before
 * its first match, ban or unban.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource } from '../../fakes/agent-io.js';

async function value(m: Metrics, series: string): Promise<number | null> {
  for (const l of (await m.render()).split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
  return null;
}
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tick = () => new Promise((r) => setImmediate(r));

describe('a rule switched on by a reload', () => {
  it('has its per-rule series at 0 before its first match, ban or unban', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    // A rule of the operator's own (rules_dir): presets are all declared at start, on or off.
    const dir = mkdtempSync(join(tmpdir(), 'bh-h2-rules-'));
    dirs.push(dir);
    const mk = (): Config => loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/access.log', BANHAMMER_RULES_DIR: dir }, hostname: 'unit' });
    let next = mk();
    const metrics = createMetrics({ rules: Object.keys(next.rules), enforcer: enforcer.name, files: ['/var/log/access.log'] });
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const store = { async load() { return null; }, async save(_d: DaemonState) {} };
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const daemon = new Daemon({ config: next, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, reloadConfig: () => next });
    await daemon.start();
    expect(await value(metrics, 'banhammer_bans_total{rule="forbidden"}')).toBe(0);
    expect(await value(metrics, 'banhammer_bans_total{rule="teapot"}')).toBeNull();

    writeFileSync(join(dir, 'teapot.yaml'), 'name: teapot\ndescription: Teapots\nmatch:\n  status: [418]\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n');
    next = mk();
    expect(Object.keys(next.rules)).toContain('teapot');
    daemon.reload();
    // The agent samples its counts about once a second.
    for (let i = 0; i < 4; i++) {
      clock.advance(500);
      for (let j = 0; j < 5; j++) await tick();
    }
    expect(await value(metrics, 'banhammer_rule_matches_total{rule="teapot"}')).toBe(0);
    expect(await value(metrics, 'banhammer_bans_total{rule="teapot"}')).toBe(0);
    expect(await value(metrics, 'banhammer_unbans_total{rule="teapot",reason="expired"}')).toBe(0);
    expect(await value(metrics, 'banhammer_tracked_addresses{rule="teapot"}')).toBe(0);
    await daemon.stop();
  });

  it('has its series at 0 from the reload itself, so a ban in the reload\'s first second is seen as an increase', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const dir = mkdtempSync(join(tmpdir(), 'bh-reload-first-second-'));
    dirs.push(dir);
    const mk = (): Config => loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/access.log', BANHAMMER_RULES_DIR: dir }, hostname: 'unit' });
    let next = mk();
    const metrics = createMetrics({ rules: Object.keys(next.rules), enforcer: enforcer.name, files: ['/var/log/access.log'] });
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const store = { async load() { return null; }, async save(_d: DaemonState) {} };
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const daemon = new Daemon({ config: next, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, reloadConfig: () => next });
    await daemon.start();
    writeFileSync(join(dir, 'teapot.yaml'), 'name: teapot\ndescription: Teapots\nmatch:\n  status: [418]\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n');
    next = mk();
    daemon.reload();
    // No sampling tick has run since the reload: the series must already be there, at 0 (a scrape
    // now must see them before the ban below makes them 1).
    expect(await value(metrics, 'banhammer_bans_total{rule="teapot"}')).toBe(0);
    expect(await value(metrics, 'banhammer_rule_matches_total{rule="teapot"}')).toBe(0);
    for (let i = 0; i < 3; i++) source.onLine(`198.18.3.1 - - [02/Dec/2026:10:00:00 +0000] "GET /pot HTTP/1.1" 418 10 "-" "curl"`, '/var/log/access.log');
    for (let j = 0; j < 10; j++) await tick();
    expect(await value(metrics, 'banhammer_bans_total{rule="teapot"}')).toBe(1);
    await daemon.stop();
  });

  it('a rule a reload changed starts its window again, and its matches counter keeps counting up from where it was', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const mk = (env: Record<string, string>): Config => loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/access.log', ...env }, hostname: 'unit' });
    let next = mk({});
    const metrics = createMetrics({ rules: Object.keys(next.rules), enforcer: enforcer.name, files: ['/var/log/access.log'] });
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const store = { async load() { return null; }, async save(_d: DaemonState) {} };
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const daemon = new Daemon({ config: next, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, reloadConfig: () => next });
    await daemon.start();
    const feed = async (n: number, from: number): Promise<void> => {
      // One failure per address: counted, never enough for a ban.
      for (let i = 0; i < n; i++) source.onLine(`198.18.1.${from + i} - - [02/Dec/2026:10:00:00 +0000] "GET /x HTTP/1.1" 403 10 "-" "curl"`, '/var/log/access.log');
      for (let i = 0; i < 4; i++) {
        clock.advance(500);
        for (let j = 0; j < 5; j++) await tick();
      }
    };
    await feed(10, 1);
    expect(await value(metrics, 'banhammer_rule_matches_total{rule="forbidden"}')).toBe(10);
    next = mk({ BANHAMMER_RULE_FORBIDDEN_MAXRETRY: '7' });
    daemon.reload();
    await feed(3, 100);
    // 13 lines matched the rule; none may go uncounted because the rule's own count started again.
    expect(await value(metrics, 'banhammer_rule_matches_total{rule="forbidden"}')).toBe(13);
    await feed(9, 150);
    expect(await value(metrics, 'banhammer_rule_matches_total{rule="forbidden"}')).toBe(22);
    await daemon.stop();
  });

  it('a rule a reload switched off watches nobody: its tracked-addresses gauge drops to 0, not kept at its last value', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const mk = (env: Record<string, string>): Config => loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/access.log', ...env }, hostname: 'unit' });
    let next = mk({});
    const metrics = createMetrics({ rules: Object.keys(next.rules), enforcer: enforcer.name, files: ['/var/log/access.log'] });
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const store = { async load() { return null; }, async save(_d: DaemonState) {} };
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const daemon = new Daemon({ config: next, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, reloadConfig: () => next });
    await daemon.start();
    const wait = async (): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        clock.advance(500);
        for (let j = 0; j < 5; j++) await tick();
      }
    };
    for (let i = 0; i < 7; i++) source.onLine(`198.18.2.${i + 1} - - [02/Dec/2026:10:00:00 +0000] "GET /x HTTP/1.1" 403 10 "-" "curl"`, '/var/log/access.log');
    await wait();
    expect(await value(metrics, 'banhammer_tracked_addresses{rule="forbidden"}')).toBe(7);
    next = mk({ BANHAMMER_RULES: 'exploit-probes' });
    daemon.reload();
    await wait();
    expect(daemon.status().rules.map((r) => r.name)).not.toContain('forbidden');
    expect(await value(metrics, 'banhammer_tracked_addresses{rule="forbidden"}')).toBe(0);
    await daemon.stop();
  });
});
