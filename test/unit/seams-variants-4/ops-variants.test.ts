/**
 * Issue 10 audit, round 4: the same bans through every seam (live daemon with a manual clock and the
 * recording enforcer, restart from the state file, reload, status, why) for variants nobody tried:
 * bans that end during the downtime, two rules with different bantimes, a network ban over an address
 * ban, permanent bans, an increment changed by reload.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup, settle, Store, NOW } from '../seams-variants/harness.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';

const dirs: string[] = [];
afterEach(() => {
  cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function yaml(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h1-ops-'));
  dirs.push(dir);
  const y = join(dir, 'c.yaml');
  writeFileSync(y, text);
  return y;
}
const view = (x: ReturnType<typeof agent>) => x.daemon.status().rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip} ${b.until}`)).sort();
const iso = (t: number) => new Date(t).toISOString();

describe('restart: bans that end while the agent is down', () => {
  it('V1 a ban that ended during the downtime: not restored, not expected, in why as expired; its count still grows the next ban', async () => {
    const y = yaml('rules:\n  forbidden:\n    bantime: 10m\n    increment: { factor: 3, maxtime: 1d }\n');
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer, env: { BANHAMMER_CONFIG: y } });
    await d.daemon.start();
    await d.feed('198.18.50.1', 5);
    expect(enforcer.held.get('198.18.50.1')?.until).toBe(NOW + 600_000);
    await d.daemon.stop({ removeFirewall: false });
    d.clock.advance(3600_000); // down for an hour: the ban ended at +10 min
    const d2 = agent({ store, enforcer, clock: d.clock, env: { BANHAMMER_CONFIG: y } });
    await d2.daemon.start();
    d2.clock.advance(1500);
    await settle();
    expect(view(d2)).toEqual([]);
    // (The recording enforcer keeps what it was given: a kernel set's timeout ends it by itself.
    // What counts is that the agent no longer expects it: the repair check would remove it.)
    d2.clock.advance(2500);
    await settle();
    expect(enforcer.expectedSeen.at(-1)!.map((b) => b.ip)).not.toContain('198.18.50.1');
    const w = d2.daemon.why('198.18.50.1');
    expect(w.active).toEqual([]);
    expect(w.ended.map((e) => [e.rule, e.ended?.reason])).toEqual([['forbidden', 'expired']]);
    await d2.feed('198.18.50.1', 5);
    expect(d2.daemon.why('198.18.50.1').active.map((b) => b.nth)).toEqual([2]);
    expect(enforcer.held.get('198.18.50.1')?.until).toBe(d2.clock.now() + 1800_000);
    await d2.daemon.stop();
  });
});

describe('two rules ban one address with different bantimes', () => {
  const y = () => yaml('rules:\n  forbidden:\n    bantime: 10m\n  long403:\n    match: { status: [403] }\n    maxretry: 5\n    findtime: 1m\n    bantime: 1h\n');
  it('V2 the kernel holds the later end; after the shorter ends, status lists the other; a restart in between keeps the later end', async () => {
    const cfg = y();
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer, env: { BANHAMMER_CONFIG: cfg } });
    await d.daemon.start();
    await d.feed('198.18.51.1', 5);
    expect(view(d)).toEqual([`forbidden 198.18.51.1 ${iso(NOW + 600_000)}`, `long403 198.18.51.1 ${iso(NOW + 3600_000)}`]);
    expect(enforcer.held.get('198.18.51.1')?.until).toBe(NOW + 3600_000);
    expect(d.daemon.why('198.18.51.1').active.map((b) => b.rule).sort()).toEqual(['forbidden', 'long403']);
    await d.daemon.stop({ removeFirewall: false });
    d.clock.advance(900_000);
    const d2 = agent({ store, enforcer, clock: d.clock, env: { BANHAMMER_CONFIG: cfg } });
    await d2.daemon.start();
    d2.clock.advance(1500);
    await settle();
    expect(view(d2)).toEqual([`long403 198.18.51.1 ${iso(NOW + 3600_000)}`]);
    expect(enforcer.held.get('198.18.51.1')?.until).toBe(NOW + 3600_000);
    d2.clock.advance(3600_000);
    await settle();
    expect(enforcer.held.has('198.18.51.1')).toBe(false);
    expect(view(d2)).toEqual([]);
    await d2.daemon.stop();
  });

  it('V3 reload removes the longer rule while it holds its ban: kernel and status keep it until its own end', async () => {
    const cfg = y();
    const d = agent({ env: { BANHAMMER_CONFIG: cfg } });
    await d.daemon.start();
    await d.feed('198.18.51.2', 5);
    await d.reloadWith({ BANHAMMER_CONFIG: yaml('rules:\n  forbidden:\n    bantime: 10m\n') });
    d.clock.advance(601_000);
    await settle();
    expect(view(d)).toEqual([`long403 198.18.51.2 ${iso(NOW + 3600_000)}`]);
    expect(d.enforcer.held.get('198.18.51.2')?.until).toBe(NOW + 3600_000);
    // Unban lifts it although its rule no longer runs.
    expect(await d.daemon.unban('198.18.51.2')).toBe(1);
    expect(d.enforcer.held.has('198.18.51.2')).toBe(false);
    await d.daemon.stop();
  });
});

describe('a network ban and an address ban inside it', () => {
  it('V4 unban of the address: the network still drops it and why says so; the network expiring leaves the longer address ban', async () => {
    const d = agent();
    await d.daemon.start();
    await d.daemon.ban('198.18.52.0/24', { forMs: 600_000 });
    await d.daemon.ban('198.18.52.9', { forMs: 3600_000 });
    expect(d.enforcer.held.get('198.18.52.0/24')?.until).toBe(NOW + 600_000);
    expect(d.enforcer.held.get('198.18.52.9')?.until).toBe(NOW + 3600_000);
    expect(d.daemon.why('198.18.52.9').active.map((b) => b.ip).sort()).toEqual(['198.18.52.0/24', '198.18.52.9']);
    d.clock.advance(601_000);
    await settle();
    expect(d.enforcer.held.has('198.18.52.0/24')).toBe(false);
    expect(d.enforcer.held.get('198.18.52.9')?.until).toBe(NOW + 3600_000);
    expect(await d.daemon.unban('198.18.52.9')).toBe(1);
    expect(d.enforcer.held.size).toBe(0);
    await d.daemon.ban('198.18.52.0/24', { forMs: 600_000 });
    await d.daemon.ban('198.18.52.10', { forMs: 60_000 });
    expect(await d.daemon.unban('198.18.52.10')).toBe(1);
    expect([...d.enforcer.held.keys()]).toEqual(['198.18.52.0/24']);
    expect(d.daemon.why('198.18.52.10').active.map((b) => b.ip)).toEqual(['198.18.52.0/24']);
    await d.daemon.stop();
  });
});

describe('permanent bans through every seam', () => {
  it('V5 bantime -1: held without end, restored after a long downtime, kept by a reload to a finite bantime, lifted by unban', async () => {
    const cfg = yaml('rules:\n  forbidden:\n    bantime: -1\n');
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer, env: { BANHAMMER_CONFIG: cfg } });
    await d.daemon.start();
    await d.feed('198.18.53.1', 5);
    expect(enforcer.held.has('198.18.53.1') && enforcer.held.get('198.18.53.1')!.until).toBeNull();
    expect(view(d)).toEqual(['forbidden 198.18.53.1 null']);
    await d.daemon.stop({ removeFirewall: false });
    d.clock.advance(400 * 86400_000);
    const d2 = agent({ store, enforcer, clock: d.clock, env: { BANHAMMER_CONFIG: cfg } });
    await d2.daemon.start();
    d2.clock.advance(1500);
    await settle();
    expect(view(d2)).toEqual(['forbidden 198.18.53.1 null']);
    expect(enforcer.held.has('198.18.53.1') && enforcer.held.get('198.18.53.1')!.until).toBeNull();
    await d2.reloadWith({ BANHAMMER_CONFIG: yaml('rules:\n  forbidden:\n    bantime: 1m\n') });
    d2.clock.advance(120_000);
    await settle();
    expect(view(d2)).toEqual(['forbidden 198.18.53.1 null']);
    expect(enforcer.held.has('198.18.53.1') && enforcer.held.get('198.18.53.1')!.until).toBeNull();
    expect(await d2.daemon.unban('198.18.53.1')).toBe(1);
    expect(enforcer.held.size).toBe(0);
    await d2.daemon.stop();
  });
});

describe('increment changed by reload', () => {
  it('V6 the ban in force keeps its end; the next ban uses the new factor with the kept count', async () => {
    const d = agent({ env: { BANHAMMER_CONFIG: yaml('rules:\n  forbidden:\n    bantime: 1m\n    increment: { factor: 2, maxtime: 1d }\n') } });
    await d.daemon.start();
    await d.feed('198.18.54.1', 5);
    d.clock.advance(61_000);
    await settle();
    await d.feed('198.18.54.1', 5);
    expect(d.enforcer.held.get('198.18.54.1')?.until).toBe(d.clock.now() + 120_000);
    await d.reloadWith({ BANHAMMER_CONFIG: yaml('rules:\n  forbidden:\n    bantime: 1m\n    increment: { factor: 10, maxtime: 1d }\n') });
    expect(d.enforcer.held.get('198.18.54.1')?.until).toBe(NOW + 61_000 + 120_000);
    d.clock.advance(121_000);
    await settle();
    await d.feed('198.18.54.1', 5);
    expect(d.enforcer.held.get('198.18.54.1')?.until).toBe(d.clock.now() + 100 * 60_000);
    await d.daemon.stop();
  });
});

describe('restart with a configuration changed while down', () => {
  it('V7 a saved network ban that now covers an allowlisted address is not restored nor expected; its neighbour address ban is', async () => {
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer });
    await d.daemon.start();
    await d.daemon.ban('198.18.55.0/24', { forMs: 3600_000 });
    await d.daemon.ban('198.18.56.1', { forMs: 3600_000 });
    await d.daemon.stop({ removeFirewall: false });
    enforcer.held.clear(); // (the kernel's sets went with the container)
    const d2 = agent({ store, enforcer, clock: d.clock, env: { BANHAMMER_IGNOREIP: '198.18.55.7' } });
    await d2.daemon.start();
    d2.clock.advance(2500);
    await settle();
    expect([...enforcer.held.keys()]).toEqual(['198.18.56.1']);
    expect(enforcer.expectedSeen.at(-1)!.map((b) => b.ip)).toEqual(['198.18.56.1']);
    expect(d2.banned()).toEqual(['manual 198.18.56.1']);
    expect(d2.daemon.why('198.18.55.7').active).toEqual([]);
    await d2.daemon.stop();
  });

  it('V8 permanent manual ban, restart after a year, then unban --all: nothing comes back at the next restart', async () => {
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer });
    await d.daemon.start();
    await d.daemon.ban('198.18.57.1', { forMs: null, permanent: true });
    await d.daemon.ban('2001:db8:57::/48', { forMs: null, permanent: true });
    await d.daemon.stop();
    d.clock.advance(366 * 86400_000);
    const d2 = agent({ store, enforcer, clock: d.clock });
    await d2.daemon.start();
    await settle();
    expect([...enforcer.held.entries()].map(([k, b]) => `${k} ${b.until}`).sort()).toEqual(['198.18.57.1 null', '2001:db8:57::/48 null']);
    expect(await d2.daemon.unbanAll()).toBe(2);
    await d2.daemon.stop();
    const d3 = agent({ store, enforcer, clock: d.clock });
    await d3.daemon.start();
    await settle();
    expect(enforcer.held.size).toBe(0);
    expect(d3.banned()).toEqual([]);
    await d3.daemon.stop();
  });
});

describe('status counters across a restart', () => {
  it('V9 a restored ban counts in its rule\'s Total banned (never "Currently banned 1, Total banned 0"), as fail2ban counts one', async () => {
    const store = new Store();
    const enforcer = new RecordingEnforcer();
    const d = agent({ store, enforcer });
    await d.daemon.start();
    await d.feed('198.18.58.1', 5);
    await d.daemon.ban('198.18.58.2', { forMs: 600_000 });
    await d.daemon.stop();
    const d2 = agent({ store, enforcer, clock: d.clock });
    await d2.daemon.start();
    await settle();
    for (const r of d2.daemon.status().rules) expect(r.totalBanned, r.name).toBeGreaterThanOrEqual(r.currentlyBanned);
    expect(d2.daemon.status().rules.filter((r) => r.currentlyBanned > 0).map((r) => `${r.name} ${r.totalBanned}`)).toEqual(['forbidden 1', 'manual 1']);
    // A ban made after the restart adds to it.
    await d2.feed('198.18.58.3', 5);
    expect(d2.daemon.status('forbidden').rules[0]!.totalBanned).toBe(2);
    await d2.daemon.stop();
  });
});
