/**
 * Helper H48: IPv6 network escalation after a reload and after a restart on the same configuration
 * must ban the same networks. A restart counted the restored bans again (Pipeline.restored) but threw
 * away the network they named when `after` had been lowered (and forgot those bans with it), and a
 * reload that changed the prefix, or switched escalation on, forgot every ban made before it while a
 * restart counted them: the same log, reloaded or restarted, banned a /64 or not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonState } from '../../../src/daemon.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { agent, cleanup, NOW, Store } from '../seams-variants/harness.js';

afterEach(cleanup);

const env = (after: number, prefix: number, within = '10m'): Record<string, string> => ({
  BANHAMMER_MAXRETRY: '1',
  BANHAMMER_BANTIME: '1h',
  BANHAMMER_IPV6_NETWORK_BAN_AFTER: String(after),
  BANHAMMER_IPV6_NETWORK_BAN_PREFIX: String(prefix),
  BANHAMMER_IPV6_NETWORK_BAN_WITHIN: within,
});

/**
 * Bans `first` (one 403 each, a second apart) under `before`, then: one agent reloads to `after`, another
 * is started on `after` from the first one's state; both then see one 403 of each of `next`.
 * Returns the networks each holds.
 */
async function reloadedAndRestarted(before: Record<string, string>, afterEnv: Record<string, string>, first: string[], next: string[], gapMs = 1000) {
  const a = agent({ env: before, clock: new ManualClock(NOW) });
  await a.daemon.start();
  for (const ip of first) {
    await a.feed(ip, 1);
    a.clock.advance(gapMs);
  }
  await a.reloadWith(afterEnv);
  const store = new Store();
  store.doc = JSON.parse(JSON.stringify((a.daemon as unknown as { stateDoc: () => DaemonState }).stateDoc())) as DaemonState;
  const b = agent({ env: afterEnv, store, clock: new ManualClock(a.clock.now()) });
  await b.daemon.start();
  for (const ip of next) {
    for (const x of [a, b]) {
      await x.feed(ip, 1);
      x.clock.advance(1000);
    }
  }
  const nets = (x: typeof a): string[] => x.held().filter((k) => k.includes('/'));
  const out = { reloaded: nets(a), restarted: nets(b) };
  await a.daemon.stop();
  await b.daemon.stop();
  return out;
}

describe('review H48: IPv6 network escalation, reload vs restart', () => {
  it('after lowered from 3 to 2 with two addresses of a /64 banned: the next one bans the /64 either way', async () => {
    const r = await reloadedAndRestarted(env(3, 64), env(2, 64), ['2001:db8:1:1::a', '2001:db8:1:1::b'], ['2001:db8:1:1::c']);
    expect(r.reloaded).toEqual(['2001:db8:1:1::/64']);
    expect(r.restarted).toEqual(r.reloaded);
  });

  it('the same with IPv6 addresses written upper-case and zero-padded in the log', async () => {
    const r = await reloadedAndRestarted(env(3, 64), env(2, 64), ['2001:DB8:1:1::A', '2001:0db8:0001:0001::000b'], ['2001:db8:1:1:0:0:0:c']);
    expect(r.reloaded).toEqual(['2001:db8:1:1::/64']);
    expect(r.restarted).toEqual(r.reloaded);
  });

  it('prefix widened from /64 to /56: the bans made before the change count toward the /56 either way', async () => {
    const r = await reloadedAndRestarted(env(3, 64), env(3, 56), ['2001:db8:1:1::a', '2001:db8:1:2::b'], ['2001:db8:1:3::c']);
    expect(r.restarted).toEqual(['2001:db8:1::/56']);
    expect(r.reloaded).toEqual(r.restarted);
  });

  it('escalation switched on by the reload: the bans made before it count either way', async () => {
    const r = await reloadedAndRestarted(env(0, 64), env(3, 64), ['2001:db8:1:1::a', '2001:db8:1:1::b'], ['2001:db8:1:1::c']);
    expect(r.restarted).toEqual(['2001:db8:1:1::/64']);
    expect(r.reloaded).toEqual(r.restarted);
  });

  it('window widened from 2m to 1h: bans 3 minutes apart count together either way', async () => {
    const r = await reloadedAndRestarted(env(3, 64, '2m'), env(3, 64, '1h'), ['2001:db8:1:1::a', '2001:db8:1:1::b'], ['2001:db8:1:1::c'], 180_000);
    expect(r.restarted).toEqual(['2001:db8:1:1::/64']);
    expect(r.reloaded).toEqual(r.restarted);
  });

  it('nothing changed: reloaded and restarted agents ban the /64 at the same address', async () => {
    const r = await reloadedAndRestarted(env(3, 64), env(3, 64), ['2001:db8:1:1::a', '2001:db8:1:1::b'], ['2001:db8:1:1::c']);
    expect(r.reloaded).toEqual(['2001:db8:1:1::/64']);
    expect(r.restarted).toEqual(r.reloaded);
  });
});
