/**
 * Seams a hostile review found between the agent's paths (review: helper), each against a real Daemon
 * with fakes for the clock, the log source, the store and the enforcer:
 *
 * - `unban --all` forgot nothing: the failures and kept lines of the addresses it lifted stayed, so
 *   one more failure banned such an address again at once (`unban ADDRESS` forgets them).
 * - A reload that restarts a rule's windows kept that rule's lines: `why` and the next ban showed
 *   lines that the new window never counted.
 * - The host's own addresses were read once at start: an address that came to an interface later
 *   (a Docker network's gateway) could be banned, and a ban made before stayed. They are read again
 *   on reload and every 10 s, and a ban that now covers one is lifted, in the book and the kernel.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { formatWhy } from '../../src/control/format-why.js';
import { formatStatus } from '../../src/control/format-status.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../fakes/agent-io.js';
import { clf } from '../support/clf.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const line = (ip: string, t: number, path = '/private', status = 403) => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl/8"`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function agent(env: Record<string, string> = {}, hostAddresses: readonly string[] | (() => readonly string[]) = []) {
  const clock = new ManualClock(NOW);
  const enforcer = new RecordingEnforcer();
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  let next = loadConfig({ env, hostname: 'unit' });
  const daemon = new Daemon({ config: next, clock, logger: quiet, enforcer, store: new MemoryStore(), createSource, hostAddresses, reloadConfig: () => next });
  await daemon.start();
  const feed = async (ip: string, n: number, path?: string): Promise<void> => {
    for (let i = 0; i < n; i++) source!.onLine(line(ip, clock.now(), path), '/var/log/access.log');
    await settle();
  };
  const reloadWith = (e: Record<string, string>): void => {
    next = loadConfig({ env: e, hostname: 'unit' });
    daemon.reload();
  };
  const banned = (): string[] => daemon.status().rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip}`)).sort();
  return { clock, enforcer, daemon, feed, reloadWith, banned };
}

describe('unban --all forgets what unban ADDRESS forgets', () => {
  it('failures counted before the unban do not ban the address again on its next failure', async () => {
    const a = await agent();
    const X = '198.18.9.1';
    await a.feed(X, 4);
    await a.daemon.ban(X, { forMs: 3_600_000 });
    await settle();
    expect(a.enforcer.held.has(X)).toBe(true);
    expect(await a.daemon.unbanAll()).toBe(1);
    await settle();
    expect(a.enforcer.held.has(X)).toBe(false);
    await a.feed(X, 1);
    expect(a.banned()).toEqual([]);
    expect(a.daemon.why(X).failing.map((f) => f.lines.length)).toEqual([1]); // only the failure after the unban
    await a.feed(X, 4);
    expect(a.banned()).toEqual([`forbidden ${X}`]);
    await a.daemon.stop();
  });
});

describe('a reload that restarts a rule forgets the lines its old window kept', () => {
  it('the ban after the reload shows only the failures that made it', async () => {
    const a = await agent();
    const X = '198.18.9.2';
    await a.feed(X, 4, '/before-reload');
    a.reloadWith({ BANHAMMER_RULE_FORBIDDEN_FINDTIME: '2m' });
    await a.feed(X, 5, '/after-reload');
    expect(a.banned()).toEqual([`forbidden ${X}`]);
    const text = formatWhy(a.daemon.why(X));
    expect(text).toContain('/after-reload');
    expect(text).not.toContain('/before-reload');
    await a.daemon.stop();
  });
});

describe("the host's own addresses are read again", () => {
  it('an address that comes to an interface after start is exempt within 10 s, and its ban is lifted in the book and the kernel', async () => {
    let own: string[] = ['198.18.200.1'];
    const a = await agent({}, () => own);
    const G = '198.18.201.1'; // a Docker network's gateway, created after the agent started
    await a.feed(G, 5);
    expect(a.banned()).toEqual([`forbidden ${G}`]);
    await settle();
    expect(a.enforcer.held.has(G)).toBe(true);
    own = ['198.18.200.1', G];
    a.clock.advance(10_000);
    await settle();
    expect(a.banned()).toEqual([]);
    expect(a.enforcer.held.has(G)).toBe(false);
    expect(formatWhy(a.daemon.why(G))).toContain("it became one of this host's own addresses");
    // And it is never counted again.
    await a.feed(G, 10);
    expect(a.banned()).toEqual([]);
    await a.daemon.stop();
  });

  it('a reload reads them too', async () => {
    let own: string[] = [];
    const a = await agent({}, () => own);
    const G = '2001:db8:77::1';
    await a.feed(G, 5);
    expect(a.banned()).toEqual([`forbidden ${G}`]);
    own = [G];
    a.reloadWith({});
    await settle();
    expect(a.banned()).toEqual([]);
    expect(a.enforcer.held.has(G)).toBe(false);
    await a.daemon.stop();
  });

  it('a network ban that comes to cover one of them is lifted', async () => {
    let own: string[] = [];
    const a = await agent({}, () => own);
    await a.daemon.ban('198.18.202.0/24', { forMs: 3_600_000 });
    await settle();
    expect(a.banned()).toEqual(['manual 198.18.202.0/24']);
    own = ['198.18.202.9'];
    a.clock.advance(10_000);
    await settle();
    expect(a.banned()).toEqual([]);
    await a.daemon.stop();
  });
});

describe('status, why and the ban and unban answers say what the firewall holds (review: helper)', () => {
  it('a batch rejected as a whole: ban says NOT in the firewall yet, status and why mark it, until the retry holds it', async () => {
    const a = await agent();
    const X = '198.18.9.10';
    a.enforcer.failNext = 1;
    const reply = await a.daemon.ban(X, { forMs: 3_600_000 });
    expect(reply.firewall).toBe('retrying');
    expect(a.enforcer.held.has(X)).toBe(false);
    const bans = a.daemon.status().rules.flatMap((r) => r.bans ?? []);
    expect(bans).toEqual([expect.objectContaining({ ip: X, firewall: 'retrying' })]);
    expect(formatStatus(a.daemon.status(), 'manual')).toContain(`${X} (NOT in the firewall yet: retrying)`);
    expect(formatWhy(a.daemon.why(X))).toContain('Firewall:\tNOT held yet');
    a.clock.advance(1000); // the queue's retry
    await settle();
    expect(a.enforcer.held.has(X)).toBe(true);
    expect(a.daemon.status().rules.flatMap((r) => r.bans ?? [])).toEqual([expect.objectContaining({ ip: X, firewall: 'held' })]);
    expect(formatWhy(a.daemon.why(X))).not.toContain('Firewall:');
    await a.daemon.stop();
  });

  it('an element the kernel refuses: ban answers refused, status and why say NOT held', async () => {
    const a = await agent();
    const X = '198.18.9.11';
    a.enforcer.refuse.add(X);
    expect((await a.daemon.ban(X, { forMs: 3_600_000 })).firewall).toBe('refused');
    expect((await a.daemon.ban('198.18.9.12', { forMs: 3_600_000 })).firewall).toBe('held');
    expect(formatStatus(a.daemon.status(), 'manual')).toContain(`${X} (NOT in the firewall: refused)`);
    expect(formatWhy(a.daemon.why(X))).toContain('Firewall:\tNOT held: the kernel refused it');
    await a.daemon.stop();
  });

  it('unban while the firewall rejects batches: an error that says the firewall still holds it, then the retry lifts it', async () => {
    const a = await agent();
    const X = '198.18.9.13';
    await a.daemon.ban(X, { forMs: 3_600_000 });
    expect(a.enforcer.held.has(X)).toBe(true);
    a.enforcer.failNext = 1;
    await expect(a.daemon.unban(X)).rejects.toThrow(/lifted 1 ban of 198\.18\.9\.13 in the ban book, but the firewall has not applied it yet/);
    expect(a.enforcer.held.has(X)).toBe(true);
    a.clock.advance(1000);
    await settle();
    expect(a.enforcer.held.has(X)).toBe(false);
    expect(await a.daemon.unban(X)).toBe(0);
    await a.daemon.stop();
  });
});

describe('an unban the firewall has not applied is shown as such (review of 30d1fc8: helper)', () => {
  it('status and why say the firewall still drops it, a second unban says so too, unban --all fails the same way; all clear once applied', async () => {
    const a = await agent();
    const X = '198.18.9.20';
    const Y = '198.18.9.21';
    await a.daemon.ban(X, { forMs: 3_600_000 });
    await a.daemon.ban(Y, { forMs: 3_600_000 });
    a.enforcer.failNext = 1000;
    await expect(a.daemon.unban(X)).rejects.toThrow(/the firewall has not applied it yet/);
    expect(a.enforcer.held.has(X)).toBe(true);
    expect(a.daemon.status().health!.unbansPending).toEqual([X]);
    expect(formatStatus(a.daemon.status())).toContain(`the firewall still drops 1 unbanned address (unban not applied yet, retrying): ${X}`);
    expect(a.daemon.why(X).unbanPending).toBe(true);
    expect(formatWhy(a.daemon.why(X))).toContain('still drops it: the unban is not applied yet');
    expect(await a.daemon.unban(X)).toBe(0); // nothing left in the book: the CLI asks why, which says it is pending
    await expect(a.daemon.unbanAll()).rejects.toThrow(/lifted 1 ban in the ban book, but the firewall has not applied it yet/);
    expect(a.daemon.status().health!.unbansPending!.sort()).toEqual([X, Y].sort());
    a.enforcer.failNext = 0;
    a.clock.advance(1000);
    await settle();
    expect(a.enforcer.held.size).toBe(0);
    expect(a.daemon.status().health!.unbansPending).toEqual([]);
    expect(a.daemon.why(X).unbanPending).toBeUndefined();
    await a.daemon.stop();
  });

  it('refused elements are remembered while their bans last, however many (they were forgotten at 10,000)', async () => {
    const a = await agent();
    const n = 10_050;
    const ips = Array.from({ length: n }, (_, i) => `198.18.${100 + (i >> 8)}.${i & 255}`);
    for (const ip of ips) a.enforcer.refuse.add(ip);
    for (let i = 0; i < n; i += 1000) {
      for (const ip of ips.slice(i, i + 1000)) a.daemon.ban(ip, { forMs: 3_600_000 }).catch(() => {});
      await settle();
    }
    await settle();
    expect(a.daemon.why(ips[0]!).active[0]!.firewall).toBe('refused');
    expect(a.daemon.why(ips[n - 1]!).active[0]!.firewall).toBe('refused');
    // Once lifted, it is forgotten: a new ban of it that the kernel takes is held.
    a.enforcer.refuse.delete(ips[0]!);
    await a.daemon.unban(ips[0]!);
    expect((await a.daemon.ban(ips[0]!, { forMs: 3_600_000 })).firewall).toBe('held');
    await a.daemon.stop();
  });
});
