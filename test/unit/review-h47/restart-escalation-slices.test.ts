/**
 * Review H47: at start, IPv6 network escalation counts the restored bans again (Pipeline.restored,
 * review H33): a parse of each ban's address for its network, done in one piece after the restore's
 * own slices. 100,000 saved IPv6 bans (the attacker decides how many, up to BANHAMMER_MAX_BANS)
 * blocked the event loop for 2.1 s (50,000: 1.0 s), the control socket already answering. It now
 * runs in slices (restoredSteps) with turns of the event loop between them.
 *
 * Counted, not timed: the bans escalation counts (remember) between two turns of the event loop (a probe
 * re-arming itself with setImmediate marks each turn).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { NetworkEscalation } from '../../../src/decide/network-escalation.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 16_000;
/** One address in each of N /64s (2001:db8:0:i::1), banned in the last minutes. */
const v6 = (i: number) => `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

afterEach(() => vi.restoreAllMocks());

describe('restored bans counted again by network escalation, in slices (review H47)', () => {
  it(`${N} saved IPv6 bans: no turn of the event loop counts more than a slice of them`, async () => {
    const store = new MemoryStore();
    const bans = Array.from({ length: N }, (_, i) => ({ ip: v6(i), family: 6, rule: 'forbidden', at: T0 - 600_000 + i, until: T0 + 3600_000, failures: 5, nth: 1, manual: false }));
    store.doc = { bans, history: [], ended: [], positions: [] } as unknown as DaemonState;
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAX_BANS: '100000', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3', BANHAMMER_ENFORCER: 'nftables' }, hostname: 'unit' });
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config, clock: new ManualClock(T0), logger: quiet, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });

    const original = NetworkEscalation.prototype.remember;
    let sinceTurn = 0;
    let most = 0;
    const record = vi.spyOn(NetworkEscalation.prototype, 'remember').mockImplementation(function (this: NetworkEscalation, ...args: Parameters<NetworkEscalation['remember']>) {
      most = Math.max(most, ++sinceTurn);
      return original.apply(this, args);
    });
    let stop = false;
    const probe = (): void => {
      sinceTurn = 0;
      if (!stop) setImmediate(probe);
    };
    setImmediate(probe);
    await daemon.start();
    stop = true;

    // Every restored ban was counted (each its own /64: none makes a network ban) …
    expect(record).toHaveBeenCalledTimes(N);
    // … and never all of them in one turn of the loop.
    // (At most a few slices of 8 ms: 4,096 of them in one here once ipv6NetworkOf read canonical text
    // without a full parse, review H49.)
    expect(most).toBeLessThan(N / 2);
    await daemon.stop();
  });
});
