/**
 * Review H49: a reload that changes IPv6 network escalation's settings counts every ban held again
 * (review H48). It did so in one block inside the reload: 100,000 IPv6 bans held blocked the agent's
 * event loop for 2.5 s (`npx tsx` of Pipeline.reconfigure, three runs: 2,414–2,620 ms; the control
 * socket, the log source and the tick all waiting). The count now runs in slices after the reload, as
 * the restart's count does (review H47); a ban or an unban meanwhile first runs what is left of it,
 * so the networks banned are those a count in one block bans.
 *
 * Counted, not timed: the bans escalation counts (remember) inside the reload's own call, and between
 * two turns of the event loop (a probe re-arming itself with setImmediate marks each turn).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { NetworkEscalation } from '../../../src/decide/network-escalation.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { cleanup, line } from '../seams-variants/harness.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { runSync } from '../../../src/yielding.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 40_000;
/** One address in each of N /64s (2001:db8:0:i::1), banned in the last minutes. */
const v6 = (i: number) => `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const env = (after: number): Record<string, string> => ({
  BANHAMMER_RULES: 'forbidden',
  BANHAMMER_MAX_BANS: '100000',
  BANHAMMER_IPV6_NETWORK_BAN_AFTER: String(after),
  BANHAMMER_ENFORCER: 'nftables',
});

afterEach(() => {
  vi.restoreAllMocks();
  cleanup();
});

describe('a reload changing IPv6 escalation counts the bans held in slices (review H49)', () => {
  it(`${N} IPv6 bans held: the reload itself counts at most a slice of them, and no turn of the event loop counts them all`, async () => {
    const store = new MemoryStore();
    const bans = Array.from({ length: N }, (_, i) => ({ ip: v6(i), family: 6, rule: 'forbidden', at: T0 - 600_000 + i, until: T0 + 3600_000, failures: 5, nth: 1, manual: false }));
    store.doc = { bans, history: [], ended: [], positions: [] } as unknown as DaemonState;
    let next: Config = loadConfig({ env: env(3), hostname: 'unit' });
    const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
    const daemon = new Daemon({ config: next, clock: new ManualClock(T0), logger: quiet, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [], reloadConfig: () => next });
    await daemon.start();

    const original = NetworkEscalation.prototype.remember;
    let sinceTurn = 0;
    let most = 0;
    const remember = vi.spyOn(NetworkEscalation.prototype, 'remember').mockImplementation(function (this: NetworkEscalation, ...args: Parameters<NetworkEscalation['remember']>) {
      most = Math.max(most, ++sinceTurn);
      return original.apply(this, args);
    });
    next = loadConfig({ env: env(4), hostname: 'unit' });
    daemon.reload();
    // Inside the reload's own call (one block of the event loop): one slice (8 ms) at most.
    const inReload = remember.mock.calls.length;
    expect(inReload).toBeLessThan(N / 2);

    let stop = false;
    const probe = (): void => {
      sinceTurn = 0;
      if (!stop) setImmediate(probe);
    };
    setImmediate(probe);
    // Bounded: the count ends within a few hundred turns.
    for (let i = 0; i < 5000 && remember.mock.calls.length < N; i++) await new Promise((r) => setImmediate(r));
    stop = true;
    // Every ban held was counted (each its own /64: none makes a network ban) …
    expect(remember).toHaveBeenCalledTimes(N);
    // … never all of them in one turn of the loop.
    expect(most).toBeLessThan(N / 2);
    await daemon.stop();
  });

  it('a ban, or an unban, before the count is done meets it complete: the networks banned are those of a count in one block', () => {
    // Two pipelines on the same bans: one runs each reload's count to its end at once (as before),
    // the other leaves it to be run in slices and never runs them: a ban or an unban must finish it.
    const bans = ['2001:db8:1:1::a', '2001:db8:1:1::b', '2001:db8:1:2::a', '2001:db8:1:2::b'].map((ip, i) => ({ ip, family: 6, rule: 'forbidden', at: T0 - 60_000 + i, until: T0 + 3600_000, failures: 5, nth: 1, manual: false }));
    const run = (drain: boolean): string[] => {
      const nets: string[] = [];
      const p = new Pipeline({ mode: 'live', config: loadConfig({ env: { ...env(4), BANHAMMER_MAXRETRY: '1' }, hostname: 'unit' }), onBan: (b) => void (b.ip.includes('/') && nets.push(b.ip)) });
      p.book.restore({ bans, history: [] } as never, T0);
      p.restored(T0);
      p.reconfigure(loadConfig({ env: { ...env(3), BANHAMMER_MAXRETRY: '1' }, hostname: 'unit' }), T0 + 1000);
      if (drain) runSync(p.recounting());
      // An unban of one address of 2001:db8:1:2::/64: it no longer counts there.
      p.unban('2001:db8:1:2::a', undefined, { at: T0 + 1000, by: 'control' });
      const ev = (ip: string) => p.parse(line(ip, T0 + 2000), '/var/log/access.log')!;
      // A third address of 2001:db8:1:1::/64 names it; one more of 2001:db8:1:2::/64 makes two there
      // (counted, the unbanned address would make three, and frame the /64).
      p.observe(ev('2001:db8:1:1::c'), T0 + 2000);
      p.observe(ev('2001:db8:1:2::d'), T0 + 2000);
      return nets;
    };
    const inOneBlock = run(true);
    expect(inOneBlock).toEqual(['2001:db8:1:1::/64']);
    expect(run(false)).toEqual(inOneBlock);
  });
});
