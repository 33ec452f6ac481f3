/**
 * Helper H55: a ban restored from the state file dated ahead of the clock (a file saved by a clock
 * that ran ahead, or written by hand) counted toward IPv6 network escalation forever: escalation's
 * window is (at − within, at], and an entry stamped after every later ban never left it, so each
 * later ban of one more address of its /64, a day or a year on, made the network ban.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../../src/daemon.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { agent, cleanup, NOW, Store } from '../seams-variants/harness.js';

afterEach(cleanup);

const env = { BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: 'permanent', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3', BANHAMMER_IPV6_NETWORK_BAN_PREFIX: '64', BANHAMMER_IPV6_NETWORK_BAN_WITHIN: '10m' };
const YEAR = 365 * 86_400_000;

/** A state file holding bans of two addresses of 2001:db8:1:1::/64, dated `ahead` ms after NOW. */
async function savedAhead(ahead: number): Promise<Store> {
  const a = agent({ env, clock: new ManualClock(NOW) });
  await a.daemon.start();
  await a.feed('2001:db8:1:1::a', 1);
  await a.feed('2001:db8:1:1::b', 1);
  await a.daemon.stop();
  const doc = JSON.parse(JSON.stringify(a.store.doc)) as DaemonState;
  for (const b of doc.bans as { at: number }[]) b.at += ahead;
  const store = new Store();
  store.doc = doc;
  return store;
}

describe('review H55: restored bans dated ahead of the clock and IPv6 network escalation', () => {
  for (const [label, ahead, later] of [
    ['a year ahead, a third address a day later', YEAR, 86_400_000],
    ['ten years ahead, a third address an hour later', 10 * YEAR, 3_600_000],
    ['a day ahead, a third address two days later', 86_400_000, 2 * 86_400_000],
  ] as const) {
    it(`${label}: no network ban (they count as made at the restart, for one window)`, async () => {
      const b = agent({ env, store: await savedAhead(ahead), clock: new ManualClock(NOW + 60_000) });
      await b.daemon.start();
      expect(b.held()).toEqual(['2001:db8:1:1::a', '2001:db8:1:1::b']);
      b.clock.advance(later);
      await b.feed('2001:db8:1:1::c', 1);
      expect(b.held().filter((k) => k.includes('/'))).toEqual([]);
      await b.daemon.stop();
    });
  }

  it('within the window of the restart they still count (clamped to the restart, not dropped)', async () => {
    const b = agent({ env, store: await savedAhead(YEAR), clock: new ManualClock(NOW + 60_000) });
    await b.daemon.start();
    b.clock.advance(60_000);
    await b.feed('2001:db8:1:1::c', 1);
    expect(b.held().filter((k) => k.includes('/'))).toEqual(['2001:db8:1:1::/64']);
    await b.daemon.stop();
  });
});
