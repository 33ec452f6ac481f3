/**
 * DaemonDeps.onBusy (heap-policy.ts keeps V8's optimizing compiler off until the agent has work): not
 * called by a start with nothing to load nor by status requests; called once, by the first log line,
 * by saved bans to restore, or by a Redis group to load bans from.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import type { SharedBan, ShareEvents, ShareStage, ShareStats } from '../../src/share/share.js';

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}

/** A Redis group as the daemon sees it: started after the state is restored, holding no ban. */
class FakeShare implements ShareStage {
  startedBusy = -1;
  readonly connected = true;
  readonly replicaId = 'me';
  constructor(private readonly busy: () => number) {}
  async start(_e: ShareEvents) { this.startedBusy = this.busy(); }
  async stop() {}
  failure() {}
  publishBan(_b: SharedBan) {}
  publishUnban() {}
  async snapshot() { return []; }
  stats() { return {} as ShareStats; }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function setup(saved: DaemonState | null, withShare = false) {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const config = loadConfig({ env: {}, hostname: 'unit' });
  let busy = 0;
  const share = withShare ? new FakeShare(() => busy) : undefined;
  const store = { load: async () => (saved === null ? null : (JSON.parse(JSON.stringify(saved)) as DaemonState)), save: async () => {} };
  const daemon = new Daemon({ config, clock, logger: silent, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [], onBusy: () => busy++, share });
  return { clock, daemon, share, busy: () => busy, source: () => source };
}

describe('Daemon onBusy', () => {
  it('is not called by an idle start nor by status requests, and once by the first lines', async () => {
    for (const saved of [null, { bans: [], history: [], positions: [] }]) {
      const { daemon, busy, source, clock } = setup(saved);
      await daemon.start();
      for (let i = 0; i < 50; i++) daemon.status();
      expect(busy()).toBe(0);
      source().onLine('not a log line', '/var/log/access.log');
      source().onLine(`198.18.0.9 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl"`, '/var/log/access.log');
      expect(busy()).toBe(1);
      clock.advance(1000);
      await daemon.stop();
      expect(busy()).toBe(1);
    }
  });

  it('is called once before saved bans are restored', async () => {
    const at = Date.UTC(2026, 10, 23, 9, 59, 0);
    const { daemon, busy, source } = setup({ bans: [{ ip: '198.18.0.7', family: 4, rule: 'forbidden', at, until: at + 3600_000, nth: 1, failures: 5, manual: false }], history: [], positions: [] });
    await daemon.start();
    expect(busy()).toBe(1);
    expect(daemon.status().rules.find((r) => r.name === 'forbidden')?.bannedIps).toEqual(['198.18.0.7']);
    source().onLine(`198.18.0.9 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl"`, '/var/log/access.log');
    expect(busy()).toBe(1);
    await daemon.stop();
  });

  it('is called once before a Redis group is started (it loads the group\'s bans)', async () => {
    const { daemon, share, busy } = setup(null, true);
    await daemon.start();
    expect(share!.startedBusy).toBe(1);
    expect(busy()).toBe(1);
    await daemon.stop();
  });
});
