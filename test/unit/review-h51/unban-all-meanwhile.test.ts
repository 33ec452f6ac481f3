/**
 * `banhammer unban --all` lifts the bans held when it is asked, UNBAN_ALL_SLICE at a time with a turn
 * of the event loop between two slices, and "a ban made meanwhile stays" (daemon.ts). Each slice
 * lifted every ban of each address in it, though: a ban of such an address made while the slices
 * ran (a detected one, or `banhammer ban ADDRESS --rule forbidden`, answered "banned") was lifted
 * with the old ones, and the firewall let the client through (review H51). Real Daemon, fake clock,
 * source, store and enforcer.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, UNBAN_ALL_SLICE, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';
import { intRng } from '../../support/random.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const ipAt = (i: number): string => `198.18.${i >> 8}.${i & 255}`;

async function agentWith(n: number) {
  const clock = new ManualClock(NOW);
  const enforcer = new RecordingEnforcer();
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'unit' }), clock, logger: quiet, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  await daemon.start();
  const ips = Array.from({ length: n }, (_, i) => ipAt(i));
  await Promise.all(ips.map((ip) => daemon.ban(ip, { forMs: null })));
  await settle();
  const listed = (): string[] => daemon.status().rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip}`)).sort();
  const feed = (ip: string, k: number): void => {
    for (let i = 0; i < k; i++) source!.onLine(line(ip, clock.now()), '/var/log/access.log');
  };
  return { daemon, enforcer, ips, listed, feed };
}

describe('unban --all keeps a ban made while it runs', () => {
  it('a manual ban of an address of a later slice, made after unban --all began, stays in the book and the firewall', async () => {
    const N = UNBAN_ALL_SLICE + 88;
    // Seeded: which address of the later slices is banned again.
    const pick = intRng(51);
    for (let round = 0; round < 3; round++) {
      const a = await agentWith(N);
      const X = a.ips[UNBAN_ALL_SLICE + pick(N - UNBAN_ALL_SLICE)]!;
      const all = a.daemon.unbanAll();
      // While the first slice's batch is applied, before the next slice is lifted.
      const ban = await a.daemon.ban(X, { forMs: 3_600_000, rule: 'forbidden' });
      expect(ban.firewall).toBe('held');
      expect(await all).toBe(N);
      await settle();
      expect(a.listed()).toEqual([`forbidden ${X}`]);
      expect([...a.enforcer.held.keys()]).toEqual([X]);
      await a.daemon.stop();
    }
  });

  it('a ban detected meanwhile for an address of a later slice stays too', async () => {
    const N = UNBAN_ALL_SLICE * 2;
    const a = await agentWith(N);
    const X = a.ips[N - 1]!;
    const all = a.daemon.unbanAll();
    a.feed(X, 5); // forbidden: 5 failures in its window
    expect(a.listed()).toContain(`forbidden ${X}`);
    expect(await all).toBe(N);
    await settle();
    expect(a.listed()).toEqual([`forbidden ${X}`]);
    expect([...a.enforcer.held.keys()]).toEqual([X]);
    await a.daemon.stop();
  });

  it('every ban held when it was asked is lifted, in the book and the firewall', async () => {
    const a = await agentWith(UNBAN_ALL_SLICE + 3);
    expect(await a.daemon.unbanAll()).toBe(UNBAN_ALL_SLICE + 3);
    await settle();
    expect(a.listed()).toEqual([]);
    expect(a.enforcer.held.size).toBe(0);
    expect(a.daemon.why(a.ips[UNBAN_ALL_SLICE + 2]!).ended[0]?.ended?.reason).toBe('unbanned');
    await a.daemon.stop();
  });
});
