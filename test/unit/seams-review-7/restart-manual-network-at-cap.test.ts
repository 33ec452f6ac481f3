/**
 * Review H33 (differential, seed 24 minimised): a restart must bring back the bans the agent held.
 * At a full book (BANHAMMER_MAX_BANS) `banhammer ban NETWORK` is never refused, so the book holds the
 * cap's detected bans and the manual network. The state file lists them in the order they were made,
 * but a restore puts networks first (the wider of two overlapping ones wins), and counted the manual
 * network toward the cap before the detected bans made earlier: the last detected ban was refused at
 * the restart and its attacker unbanned, though no setting changed. A manual ban of an address at
 * the same point (restored in its place, last) cost nothing: a detected ban's fate hung on whether
 * the operator banned an address or a network.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, RestartStore as Store } from '../../fakes/agent-io.js';
import { plain, PROBE, settle, T0 } from './harness.js';


async function scenario(manual: string): Promise<{ before: string[]; after: string[]; why: string | undefined }> {
  // A cap of 4 (below loadConfig's floor of 1000: the restore's arithmetic is the same at any cap).
  const config = { ...loadConfig({ env: { BANHAMMER_ENFORCER: 'nftables' }, hostname: 'unit' }), maxBans: 4 };
  const clock = new ManualClock(T0);
  const store = new Store();
  const logger = { debug() {}, error() {}, info() {}, warn() {} };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  const mk = (enforcer: RecordingEnforcer) => new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [] });
  const first = mk(new RecordingEnforcer());
  await first.start();
  for (let i = 1; i <= 4; i++) {
    clock.advance(1000);
    source!.onLine(plain(`198.18.0.${i}`, clock.now(), PROBE, 404), '/var/log/access.log');
    await settle();
  }
  clock.advance(1000);
  await first.ban(manual, { forMs: null });
  const bans = (d: Daemon) => d.status().rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip}`)).sort();
  const before = bans(first);
  await first.stop({ removeFirewall: false });
  clock.advance(1000);
  const enforcer = new RecordingEnforcer();
  const second = mk(enforcer);
  await second.start();
  await settle();
  const after = bans(second);
  expect([...enforcer.held.keys()].sort()).toEqual(after.map((b) => b.split(' ')[1]).sort());
  const why = second.why('198.18.0.4').ended[0]?.ended?.by ?? undefined;
  await second.stop();
  return { before, after, why };
}

describe('a restart at a full book with a manual ban', () => {
  it('of an address: every ban comes back', async () => {
    const r = await scenario('198.18.5.5');
    expect(r.before).toHaveLength(5);
    expect(r.after).toEqual(r.before);
  });

  it('of a network: every ban comes back too (the detected ban made before it is not refused)', async () => {
    const r = await scenario('2001:db8:5::/48');
    expect(r.before).toEqual(['exploit-probes 198.18.0.1', 'exploit-probes 198.18.0.2', 'exploit-probes 198.18.0.3', 'exploit-probes 198.18.0.4', 'manual 2001:db8:5::/48']);
    expect(r.after).toEqual(r.before);
    expect(r.why).toBeUndefined();
  });
});
