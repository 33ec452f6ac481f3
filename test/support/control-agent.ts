/**
 * A real Daemon behind a real control socket, driven through the CLI's main() (no process): what
 * tests of the control path share (cidr-ban, ban-held-until). The clock is manual, the enforcer
 * records, the state is kept in memory; cleanupControlAgents() ends every one started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIo } from '../../src/cli.js';
import { Daemon, type DaemonState } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { startControlServer, type ControlServer } from '../../src/control/server.js';
import type { LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

export class MemoryStore {
  doc: DaemonState | null = null;
  async load() {
    return this.doc ? (JSON.parse(JSON.stringify(this.doc)) as DaemonState) : null;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d));
  }
}

const source = (): LineSource => ({
  async start() {},
  async stop() {},
  positions: () => [],
  lagBytes: () => 0,
  stats: () => ({ files: 0, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }),
});

const cleanup: (() => Promise<void>)[] = [];

/** Stops every agent started by setupControlAgent (call in afterEach). */
export async function cleanupControlAgents(): Promise<void> {
  for (const c of cleanup.splice(0).reverse()) await c();
}

export async function setupControlAgent(opts: { enforcer?: RecordingEnforcer; store?: MemoryStore } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-control-'));
  const socketPath = join(dir, 'control.sock');
  const env = { BANHAMMER_SOCKET: socketPath, BANHAMMER_IGNOREIP: '198.18.99.0/24' };
  const config = loadConfig({ env, hostname: 'unit' });
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 7, 0, 0));
  const enforcer = opts.enforcer ?? new RecordingEnforcer();
  const store = opts.store ?? new MemoryStore();
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource: () => source(), hostAddresses: ['198.18.7.1', '2001:db8:7::1'] });
  await daemon.start();
  const server: ControlServer = await startControlServer({ socketPath, handler: daemon });
  cleanup.push(async () => {
    await server.close();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env, hostname: 'unit' };
  const cli = async (...argv: string[]) => {
    out.length = 0;
    err.length = 0;
    const code = await main(argv, io);
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
  return { cli, daemon, enforcer, store, clock };
}

