/**
 * A reload when the host's own addresses cannot be read.
 *
 * Daemon.reload read the host's addresses (getifaddrs, through deps.hostAddresses) before applying
 * anything, outside any try: when that read failed, the whole reload failed, a widened ignoreip was
 * never applied and the ban of the newly allowlisted address stayed in the kernel. On SIGHUP the
 * error was swallowed as "logged by reloadConfig", which it was not. The periodic refresh already
 * treats the same failure as "the last addresses read stay exempt" and goes on.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe('reload while the host addresses cannot be read', () => {
  it('still applies the new configuration (ignoreip lifts the ban), keeps the last host addresses exempt, and says why', async () => {
    const clock = new ManualClock(NOW);
    const enforcer = new RecordingEnforcer();
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''), error() {} };
    let source: FakeSource | undefined;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    let failing = false;
    const H = '198.18.77.1'; // this host's own address, read at start
    const hostAddresses = (): readonly string[] => {
      if (failing) throw new Error('A system error occurred: uv_interface_addresses returned Unknown system error 1');
      return [H];
    };
    let next = loadConfig({ env: {}, hostname: 'unit' });
    const daemon = new Daemon({ config: next, clock, logger: log, enforcer, store: new MemoryStore(), createSource, hostAddresses, reloadConfig: () => next });
    await daemon.start();
    const X = '198.18.77.9';
    for (let i = 0; i < 5; i++) source!.onLine(line(X, clock.now()), '/var/log/access.log');
    await settle();
    expect(enforcer.held.has(X)).toBe(true);

    failing = true;
    next = loadConfig({ env: { BANHAMMER_IGNOREIP: X }, hostname: 'unit' });
    expect(() => daemon.reload()).not.toThrow();
    await settle();
    expect(enforcer.held.has(X)).toBe(false);
    expect(daemon.why(X).allowlisted).toBe(true);
    expect(daemon.why(H).allowlisted).toBe(true); // the last addresses read stay exempt
    expect(warnings.some((w) => w.includes("cannot read this host's addresses"))).toBe(true);
    await daemon.stop();
  });
});
