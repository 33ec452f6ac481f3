// The runner answers on the control socket before it calls Daemon.start() (run.ts), and the socket
// takes requests while its file is being set up: a ban taken in that gap was answered "banned" (the
// restore had not begun, so nothing refused it) and the next request "still starting" (seen in a CI
// run of dry-run-networks). From willStart() on, changes are refused until the saved bans are back.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { LogEnforcer } from '../../../src/enforce/dry-run.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function agent(store = new MemoryStore()) {
  const clock = new ManualClock(T0);
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const config = loadConfig({ env: {}, hostname: 'unit' });
  return new Daemon({ config, clock, logger: silent, enforcer: new LogEnforcer(() => {}, clock), store, createSource, hostAddresses: [], reloadConfig: () => config });
}

describe('requests between the control socket and start()', () => {
  it('ban, unban and unban --all are refused as "still starting" from willStart() until start() has restored', async () => {
    const d = agent();
    d.willStart();
    await expect(d.ban('198.18.1.7', { forMs: 3600_000 })).rejects.toThrow(/still starting/);
    await expect(d.unban('198.18.1.7')).rejects.toThrow(/still starting/);
    await expect(d.unbanAll()).rejects.toThrow(/still starting/);
    await d.start();
    await expect(d.ban('198.18.1.7', { forMs: 3600_000 })).resolves.toMatchObject({ ip: '198.18.1.7' });
    expect(d.status().rules.flatMap((r) => r.bannedIps)).toEqual(['198.18.1.7']);
    await d.stop();
  });

  it('a start that fails or is stopped leaves nobody refused for ever', async () => {
    const d = agent();
    d.willStart();
    await d.start();
    await d.stop();
    // (A stopped agent answers as it is: no "still starting".)
    await expect(d.ban('198.18.1.8', { forMs: 3600_000 })).resolves.toBeDefined();
  });
});
