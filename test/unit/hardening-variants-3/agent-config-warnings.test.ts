/**
 * The agent says so when its configuration switches protection off (config/warnings.ts): an ignoreip
 * of every IPv4 or IPv6 address, or no rule running. It started with `info: banhammer started` and
 * nothing else, and kept quiet on a reload to such a configuration.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';

class FakeSource implements LineSource {
  constructor(readonly startPositions: FilePosition[]) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}
class MemoryStore {
  async load(): Promise<DaemonState | null> { return null; }
  async save(_d: DaemonState) {}
}

function agent(env: Record<string, string>) {
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''), error() {} };
  const createSource: LineSourceFactory = (o) => new FakeSource(o.startPositions);
  const config = loadConfig({ env, hostname: 'unit' });
  const daemon = new Daemon({ config, clock: new ManualClock(Date.UTC(2026, 11, 5, 5)), logger, enforcer: new RecordingEnforcer(), store: new MemoryStore(), createSource, hostAddresses: [] });
  return { daemon, warnings };
}

describe('the agent warns of a configuration that switches protection off', () => {
  it.each([
    [{ BANHAMMER_IGNOREIP: '0.0.0.0/0' }, /every IPv4 address/],
    [{ BANHAMMER_IGNOREIP: '::/1, 8000::/1' }, /every IPv6 address/],
    [{ BANHAMMER_RULE_FORBIDDEN_ENABLED: 'false', BANHAMMER_RULE_EXPLOIT_PROBES_ENABLED: 'false' }, /no rule runs/],
  ])('at start: %j', async (env, said) => {
    const { daemon, warnings } = agent(env);
    await daemon.start();
    expect(warnings.join('\n')).toMatch(said);
    await daemon.stop();
  });

  it('on a reload to such a configuration, and never for an ordinary one', async () => {
    const { daemon, warnings } = agent({ BANHAMMER_IGNOREIP: '198.18.0.0/24' });
    await daemon.start();
    expect(warnings.filter((w) => /every IPv|no rule runs/.test(w))).toEqual([]);
    daemon.reload(loadConfig({ env: { BANHAMMER_IGNOREIP: '::ffff:0:0/96' }, hostname: 'unit' }));
    expect(warnings.join('\n')).toMatch(/every IPv4 address/);
    await daemon.stop();
  });
});
