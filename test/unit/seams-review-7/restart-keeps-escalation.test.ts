/**
 * Review H33, seam restart vs no restart: IPv6 network escalation counts the addresses of a network
 * banned within BANHAMMER_IPV6_NETWORK_BAN_WITHIN (README: "once three different addresses of one /64
 * have been banned within an hour"). The count lived only in memory: after a restart the bans of the
 * network's first addresses were back in force, but counted for nothing, and a client walking its /64
 * needed `after` more banned addresses (and as many more entries in the firewall set) for the /64.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, RestartStore as Store } from '../../fakes/agent-io.js';
import { plain, PROBE, settle, T0 } from './harness.js';


type Step = number | 'unban-net';

/** Bans addresses ::N of 2001:db8:7:1::/64 (exploit-probes) a minute apart, with a restart after step `restartAfter`; the bans in force at the end. */
async function walk(restartAfter: number | null, steps: readonly Step[] = [1, 2, 3], env: Record<string, string> = {}): Promise<string[]> {
  const config = loadConfig({ env: { BANHAMMER_ENFORCER: 'nftables', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3', ...env }, hostname: 'unit' });
  const clock = new ManualClock(T0);
  const store = new Store();
  const logger = { debug() {}, error() {}, info() {}, warn() {} };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  let daemon = new Daemon({ config, clock, logger, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });
  await daemon.start();
  for (const [i, step] of steps.entries()) {
    clock.advance(60_000);
    if (step === 'unban-net') await daemon.unban('2001:db8:7:1::/64');
    else source!.onLine(plain(`2001:db8:7:1::${step}`, clock.now(), PROBE, 404), '/var/log/access.log');
    await settle();
    if (i + 1 === restartAfter) {
      await daemon.stop({ removeFirewall: false });
      clock.advance(5000);
      daemon = new Daemon({ config, clock, logger, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });
      await daemon.start();
      await settle();
    }
  }
  clock.advance(1000);
  await settle();
  const bans = daemon.status().rules.flatMap((r) => (r.bans ?? []).map((b) => b.ip)).sort();
  await daemon.stop();
  return bans;
}

describe('IPv6 network escalation across a restart', () => {
  it('three addresses of a /64 banned within the hour, no restart: the /64 is banned', async () => {
    expect(await walk(null)).toContain('2001:db8:7:1::/64');
  });

  it('the same with a restart after the second: the /64 is banned all the same', async () => {
    expect(await walk(2)).toEqual(await walk(null));
  });

  it('the first two bans expired before the restart (bantime 30s, within 1h): it still counts, as without a restart', async () => {
    const env = { BANHAMMER_RULE_EXPLOIT_PROBES_BANTIME: '30s' };
    const steps = [1, 2, 3];
    expect(await walk(null, steps, env)).toContain('2001:db8:7:1::/64');
    expect(await walk(2, steps, env)).toEqual(await walk(null, steps, env));
  });

  it('a network named, then unbanned by hand: its addresses do not name it again at once after a restart', async () => {
    const steps: Step[] = [1, 2, 3, 'unban-net', 4];
    const plainRun = await walk(null, steps);
    expect(plainRun).not.toContain('2001:db8:7:1::/64');
    for (const at of [3, 4]) expect(await walk(at, steps)).toEqual(plainRun);
  });

  it('a restart at every step of a longer walk: the same bans as without one', async () => {
    const steps: Step[] = [1, 2, 3, 'unban-net', 4, 5, 6, 7];
    const plainRun = await walk(null, steps);
    for (let at = 0; at < steps.length; at++) expect(await walk(at, steps), `restart after step ${at}`).toEqual(plainRun);
  });
});
