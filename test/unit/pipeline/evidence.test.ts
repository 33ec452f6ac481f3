/**
 * Evidence in the pipeline (issue 14): the lines handed to a ban come from the failures the detector
 * counted — not from lines it ignored — for local offenses and the group's alike; replay keeps none
 * unless asked; `replay --explain` prints them, and its JSON grows an evidence list only then.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { main } from '../../../src/cli.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number, status = 403, path = '/private') => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl"`;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const config = () => loadConfig({ env: { BANHAMMER_IGNOREIP: '198.18.99.0/24' }, hostname: 'unit' });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function live(onBan: (b: Ban) => void): Pipeline {
  return new Pipeline({ config: config(), mode: 'live', hostAddresses: [], onBan });
}

const feed = (p: Pipeline, l: string, now: number, file = '/log') => {
  const ev = p.parse(l, file);
  if (ev !== null) p.observe(ev, now, undefined, undefined, l, file);
};

describe('evidence in the pipeline', () => {
  it('keeps only counted failures: not 200s, not allowlisted addresses, not lines older than findtime', () => {
    const bans: Ban[] = [];
    const p = live((b) => bans.push(b));
    const now = T0 + 120_000;
    feed(p, line('198.18.0.7', T0), now); // 2 minutes old: outside findtime 1m, never counted
    feed(p, line('198.18.0.7', now, 200, '/fine'), now);
    feed(p, line('198.18.99.1', now), now);
    for (let i = 0; i < 5; i++) feed(p, line('198.18.0.7', now, 403, `/p${i}`), now);
    expect(bans).toHaveLength(1);
    expect(bans[0]!.evidence!.map((l) => l.line)).toEqual([0, 1, 2, 3, 4].map((i) => line('198.18.0.7', now, 403, `/p${i}`)));
    expect(bans[0]!.evidenceOmitted).toBeUndefined();
    expect(p.pendingEvidence('198.18.99.1')).toEqual([]);
    expect(p.evidence!.size).toBe(0);
  });

  it('an event observed without its line counts and bans as before, with no lines', () => {
    const bans: Ban[] = [];
    const p = live((b) => bans.push(b));
    for (let i = 0; i < 5; i++) p.observe(p.parse(line('198.18.0.8', T0))!, T0);
    expect(bans).toHaveLength(1);
    expect(bans[0]!.evidence).toBeUndefined();
    expect(bans[0]!.evidenceOmitted).toBe(5);
  });

  it("a ban from the group's count carries this replica's lines and says the rest came from elsewhere", () => {
    const bans: Ban[] = [];
    const p = live((b) => bans.push(b));
    feed(p, line('198.18.0.9', T0), T0);
    feed(p, line('198.18.0.9', T0 + 1000), T0 + 1000);
    p.groupOffense({ ip: '198.18.0.9', family: 4, rule: 'forbidden', at: T0 + 2000, failures: 5 }, T0 + 2000);
    expect(bans).toHaveLength(1);
    expect(bans[0]).toMatchObject({ groupCount: true, failures: 5, evidenceOmitted: 3 });
    expect(bans[0]!.evidence).toHaveLength(2);
  });

  it('unban forgets the lines of failures not banned yet; replay keeps none unless asked', () => {
    const p = live(() => {});
    feed(p, line('198.18.0.10', T0), T0);
    expect(p.pendingEvidence('198.18.0.10')).toHaveLength(1);
    p.banManually('198.18.0.10', { forMs: 60_000, now: T0 });
    p.unban('198.18.0.10', undefined, { at: T0 + 1, by: 'control' });
    expect(p.pendingEvidence('198.18.0.10')).toEqual([]);
    expect(p.book.endedBans().map((e) => e.ended)).toEqual([{ reason: 'unbanned', at: T0 + 1, by: 'control' }]);
    expect(new Pipeline({ config: config(), mode: 'replay' }).evidence).toBeUndefined();
    expect(new Pipeline({ config: config(), mode: 'replay', evidence: true }).evidence).toBeDefined();
  });

  it('replay --explain prints the lines under each ban, and --json carries them only with --explain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-explain-'));
    dirs.push(dir);
    const file = join(dir, 'access.log');
    const log = [...Array.from({ length: 5 }, (_, i) => line('198.18.0.11', T0 + i * 1000, 403, `/x${i}`)), line('198.18.0.12', T0, 200)];
    writeFileSync(file, `${log.join('\n')}\n`);
    const out: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: () => {}, env: {}, hostname: 'unit' };
    expect(await main(['replay', file, '--explain'], io)).toBe(0);
    const text = out.join('');
    for (const l of log.slice(0, 5)) expect(text).toContain(`      | ${l}\n`);
    expect(text).not.toContain(log[5]);
    out.length = 0;
    expect(await main(['replay', file, '--explain', '--json'], io)).toBe(0);
    const j = JSON.parse(out.join('')) as { bans: { ip: string; evidence: { at: string; file: string; line: string }[]; evidenceOmitted: number }[] };
    expect(j.bans[0]!.evidence).toEqual(log.slice(0, 5).map((l, i) => ({ at: new Date(T0 + i * 1000).toISOString(), file, line: l })));
    expect(j.bans[0]!.evidenceOmitted).toBe(0);
    out.length = 0;
    expect(await main(['replay', file, '--json'], io)).toBe(0);
    expect(Object.keys((JSON.parse(out.join('')) as { bans: object[] }).bans[0]!)).toEqual(['ip', 'rule', 'at', 'until', 'failures']);
  });

  it('a rule with a high maxretry keeps lines only near its threshold, and its ban has the same lines as if every one was kept', () => {
    const bans: Ban[] = [];
    const cfg = loadConfig({ env: { BANHAMMER_RULES: 'request-flood', BANHAMMER_RULE_REQUEST_FLOOD_MAXRETRY: '60' }, hostname: 'unit' });
    const p = new Pipeline({ config: cfg, mode: 'live', hostAddresses: [], onBan: (b) => bans.push(b) });
    const l = (i: number): string => line('198.18.0.9', T0 + i * 100, 200, `/page${i}`);
    for (let i = 0; i < 30; i++) feed(p, l(i), T0 + i * 100);
    // 30 failures: 30 more are needed, so none of these lines can be among a ban's last 23.
    expect(p.pendingEvidence('198.18.0.9')).toEqual([]);
    for (let i = 30; i < 45; i++) feed(p, l(i), T0 + i * 100);
    // From the 38th on (60 - 23 + 1), a line may be among them: kept.
    expect(p.pendingEvidence('198.18.0.9')[0]!.lines.map((x) => x.line)).toEqual([...Array(8).keys()].map((k) => l(37 + k)));
    for (let i = 45; i < 60; i++) feed(p, l(i), T0 + i * 100);
    expect(bans).toHaveLength(1);
    expect(bans[0]!.failures).toBe(60);
    expect(bans[0]!.evidence!.map((x) => x.line)).toEqual([...Array(23).keys()].map((k) => l(37 + k)));
    expect(bans[0]!.evidenceOmitted).toBe(37);
  });

  it('with a replica group every failure is kept: the group may ban at any local count', () => {
    const bans: Ban[] = [];
    const cfg = loadConfig({ env: { BANHAMMER_RULES: 'request-flood', BANHAMMER_RULE_REQUEST_FLOOD_MAXRETRY: '60' }, hostname: 'unit' });
    const p = new Pipeline({ config: cfg, mode: 'live', hostAddresses: [], onBan: (b) => bans.push(b), onFailure: () => {} });
    for (let i = 0; i < 3; i++) feed(p, line('198.18.0.10', T0 + i, 200, `/g${i}`), T0 + i);
    p.groupOffense({ ip: '198.18.0.10', family: 4, rule: 'request-flood', at: T0 + 3, failures: 60, origin: undefined }, T0 + 3);
    expect(bans).toHaveLength(1);
    expect(bans[0]!.evidence!.map((x) => x.line)).toEqual([0, 1, 2].map((i) => line('198.18.0.10', T0 + i, 200, `/g${i}`)));
  });
});
