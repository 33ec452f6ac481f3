/**
 * `banhammer ban IP --for D` when another ban of the address lasts longer: the answer names the ban
 * made and also until when the firewall holds the address (a shorter manual ban does not shorten it),
 * so the CLI never says "until +1m" of an address the kernel drops for an hour (audit: helper H4).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { Daemon, type DaemonState } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { formatStatus } from '../../../src/control/format-status.js';
import type { LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

class MemoryStore {
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

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(opts: { enforcer?: RecordingEnforcer; store?: MemoryStore } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-held-'));
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

describe('ban answer: until when the firewall holds the address', () => {
  it('a shorter manual ban beside a longer one says the firewall holds the longer; the same or a longer one says nothing more', async () => {
    const { cli, enforcer, clock } = await setup();
    const t0 = clock.now();
    const first = await cli('ban', '198.18.5.7', '--for', '1h', '--rule', 'forbidden');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.split('\n').filter(Boolean)).toHaveLength(1);

    const shorter = await cli('ban', '198.18.5.7', '--for', '1m');
    expect(shorter.code).toBe(0);
    const lines = shorter.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^banned 198\.18\.5\.7 \(manual\) until /);
    expect(lines[1]).toMatch(/the firewall holds 198\.18\.5\.7 until .*another ban of it lasts longer/);
    expect(enforcer.held.get('198.18.5.7')).toMatchObject({ until: t0 + 3_600_000 });

    // A permanent ban beside it: nothing lasts longer, one line.
    const perm = await cli('ban', '198.18.5.8');
    expect(perm.stdout).toBe('banned 198.18.5.8 (manual) permanently\n');
    const after = await cli('ban', '198.18.5.8', '--for', '10m', '--rule', 'forbidden');
    expect(after.stdout).toMatch(/the firewall holds 198\.18\.5\.8 permanently: another ban of it lasts longer/);
  });
});
