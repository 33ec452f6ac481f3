import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MetricsSampler } from '../../../src/metrics/sampler.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { loadConfig } from '../../../src/config/load.js';
import { createMetrics, MAX_LABEL_VALUES, OVERFLOW_LABEL, REPAIR_KINDS, repairKind } from '../../../src/metrics/registry.js';

/** The value of one sample line, by its exact series name with labels. */
async function sample(text: Promise<string>, series: string): Promise<number | undefined> {
  for (const line of (await text).split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('createMetrics', () => {
  it('uses its own registry, not the global default, and no process metrics', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.lines(5);
    expect(await sample(a.render(), 'banhammer_lines_total')).toBe(5);
    expect(await sample(b.render(), 'banhammer_lines_total')).toBe(0);
    expect(await globalRegistry.metrics()).not.toContain('banhammer_');
    expect(await a.render()).not.toMatch(/^process_|^nodejs_/m);
    expect(await sample(a.render(), 'banhammer_build_info{version="unknown"}')).toBe(1);
  });

  it('the sampler adds only what changed since its previous sample', async () => {
    const m = createMetrics({ rules: ['forbidden'] });
    const sampler = new MetricsSampler(m);
    const p = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live' });
    const take = () => sampler.sample({ stats: p.stats, detector: p.detector, book: p.book, now: 0, lagBytes: 7 });
    p.parse('');
    p.parse('');
    take();
    take();
    p.parse('garbage');
    take();
    expect(await sample(m.render(), 'banhammer_lines_total')).toBe(3);
    expect(await sample(m.render(), 'banhammer_parse_skipped_total{reason="empty"}')).toBe(2);
    expect(await sample(m.render(), 'banhammer_tail_lag_bytes')).toBe(7);
  });

  it('share series exist only for an agent that shares bans, and follow Redis health', async () => {
    expect(await createMetrics().render()).not.toContain('banhammer_share_');
    const m = createMetrics({ share: true });
    m.share(false, 3);
    m.shareLag(0.004);
    expect(await sample(m.render(), 'banhammer_share_connected')).toBe(0);
    expect(await sample(m.render(), 'banhammer_share_outbox_operations')).toBe(3);
    expect(await sample(m.render(), 'banhammer_share_propagation_seconds_bucket{le="0.005"}')).toBe(1);
    m.share(true, 0);
    expect(await sample(m.render(), 'banhammer_share_connected')).toBe(1);
    expect(await sample(m.render(), 'banhammer_share_bans_total{direction="in"}')).toBe(0);
    const sampler = new MetricsSampler(m);
    const p = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live' });
    const counts = { connected: true, outboxDepth: 0, bansIn: 4, bansOut: 2, unbansIn: 1, unbansOut: 0, invalid: { 'bad-ip': 3 } };
    sampler.sample({ stats: p.stats, detector: p.detector, book: p.book, now: 0, lagBytes: 0, share: counts });
    sampler.sample({ stats: p.stats, detector: p.detector, book: p.book, now: 0, lagBytes: 0, share: { ...counts, bansIn: 5 } });
    expect(await sample(m.render(), 'banhammer_share_bans_total{direction="in"}')).toBe(5);
    expect(await sample(m.render(), 'banhammer_share_bans_total{direction="out"}')).toBe(2);
    expect(await sample(m.render(), 'banhammer_share_unbans_total{direction="in"}')).toBe(1);
    expect(await sample(m.render(), 'banhammer_share_invalid_total')).toBe(3);
  });

  it('ignores zero and negative additions instead of throwing on the hot path', async () => {
    const m = createMetrics();
    m.lines(0);
    m.lines(-3);
    m.banned('forbidden', 0);
    expect(await sample(m.render(), 'banhammer_lines_total')).toBe(0);
    expect(await m.render()).not.toContain('banhammer_bans_total{rule="forbidden"}');
  });

  it('caps distinct free-text label values, counting the rest as "other"', async () => {
    const m = createMetrics();
    for (let i = 0; i < MAX_LABEL_VALUES + 10; i++) m.ruleMatches(`rule-${i}`, 1);
    const text = await m.render();
    const series = text.split('\n').filter((l) => l.startsWith('banhammer_rule_matches_total{'));
    expect(series).toHaveLength(MAX_LABEL_VALUES + 1);
    expect(await sample(Promise.resolve(text), `banhammer_rule_matches_total{rule="${OVERFLOW_LABEL}"}`)).toBe(10);
    expect(await sample(Promise.resolve(text), 'banhammer_rule_matches_total{rule="rule-0"}')).toBe(1);
  });

  it('counts repairs by kind, never by the repair line (which names sets and addresses)', async () => {
    const m = createMetrics();
    m.repaired('set bh-web-v4 (IPv4): 3 missing ban(s) re-added, 1 stray element(s) removed');
    m.repaired('set (IPv4): bh-web-v4: could not re-add 198.18.0.7: Kernel error');
    m.repaired('jump (IPv6): INPUT -p tcp --dport 8080 -j BANHAMMER-web was missing and was re-added');
    m.repaired('198.18.0.7 was odd');
    const text = await m.render();
    expect(text).not.toContain('198.18.0.7');
    expect(await sample(Promise.resolve(text), 'banhammer_repairs_total{what="set"}')).toBe(2);
    expect(await sample(Promise.resolve(text), 'banhammer_repairs_total{what="jump"}')).toBe(1);
    expect(await sample(Promise.resolve(text), 'banhammer_repairs_total{what="other"}')).toBe(1);
    for (const l of ['set x', 'chain x', 'jump x', 'container x', 'table x', 'map x', 'elements x', '??']) expect(REPAIR_KINDS).toContain(repairKind(l));
  });

  it('timeEnforce observes every batch and counts the failed ones', async () => {
    const m = createMetrics({ enforcer: 'log' });
    expect(await m.timeEnforce('log', async () => 42)).toBe(42);
    await expect(m.timeEnforce('log', async () => Promise.reject(new Error('iptables said no')))).rejects.toThrow('iptables said no');
    expect(await sample(m.render(), 'banhammer_enforce_duration_seconds_count{enforcer="log"}')).toBe(2);
    expect(await sample(m.render(), 'banhammer_enforce_errors_total{enforcer="log"}')).toBe(1);
  });

  it('never takes an address as a label: no metric has an ip-like label name', async () => {
    const m = createMetrics({ rules: ['forbidden'], enforcer: 'iptables', files: ['/var/log/apache2/access.log'] });
    m.banned('forbidden');
    m.repaired('ipset');
    m.checked(Date.now(), 'iptables', { held: 1, missing: 1, stray: 0 });
    m.logFile('/var/log/apache2/access.log', { lagSeconds: 1, lastLineSeconds: 1, lines: 1 });
    const names = new Set([...(await m.render()).matchAll(/[{,]([a-z_]+)="/g)].map((x) => x[1]));
    expect([...names].sort()).toEqual(['enforcer', 'family', 'file', 'kind', 'le', 'reason', 'rule', 'version', 'what']);
  });
});
