/**
 * A SIGHUP that comes while `banhammer run` is still starting (restoring its saved bans, waiting for
 * the firewall) was dropped without a word (run.ts: `if (!started) return`): the operator allowlisted
 * an address, sent SIGHUP, and the saved ban of it was restored and stayed, the agent running on the
 * old configuration (review H51). Now the reload is kept and runs once the agent has started. A dry
 * run (log enforcer) with one saved ban; the SIGHUP is the agent's own handler, called as the
 * process would on the signal (process.emit), at onLoaded: before the daemon starts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { controlRequest } from '../../../src/control/client.js';
import { runAgent } from '../../../src/run.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('banhammer run: SIGHUP while starting', () => {
  it('is applied once the agent has started: the newly allowlisted address is unbanned', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-h51-hup-'));
    dirs.push(root);
    const state = join(root, 'state');
    mkdirSync(state, { mode: 0o700 });
    const now = Date.now();
    const X = '198.18.0.9';
    const Y = '198.18.0.10';
    const ban = (ip: string) => ({ ip, family: 4, rule: 'forbidden', at: now, until: now + 3_600_000, failures: 5, nth: 1, manual: false });
    writeFileSync(join(state, 'state-hup.json'), JSON.stringify({ version: 1, savedAt: now, data: { bans: [ban(X), ban(Y)], history: [], positions: [] } }), { mode: 0o600 });
    writeFileSync(join(root, 'access.log'), '');
    const socket = join(root, 'agent.sock');
    const env = { BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: join(root, 'access.log'), BANHAMMER_INSTANCE: 'hup', BANHAMMER_SOCKET: socket, BANHAMMER_STATE_DIR: state, BANHAMMER_METRICS_ADDR: 'off', BANHAMMER_LOG_LEVEL: 'error' };
    const config = loadConfig({ env, hostname: 'unit' });
    // The file as edited before the SIGHUP: X allowlisted.
    const edited = loadConfig({ env: { ...env, BANHAMMER_IGNOREIP: X }, hostname: 'unit' });
    let reads = 0;
    const abort = new AbortController();
    let started!: () => void;
    const isStarted = new Promise<void>((r) => (started = r));
    const exit = runAgent({
      config,
      reloadConfig: () => (reads++, edited),
      dryRun: true,
      version: 'test',
      signal: abort.signal,
      onLoaded: () => void process.emit('SIGHUP', 'SIGHUP'),
      onStarted: () => started(),
    });
    let banned: string[] = [];
    try {
      await Promise.race([isStarted, new Promise((_, reject) => setTimeout(() => reject(new Error('onStarted not called in 10 s')), 10_000))]);
      banned = (await controlRequest(socket, { op: 'status' }, { timeoutMs: 2000 })).rules.flatMap((r) => r.bannedIps);
    } finally {
      abort.abort();
      expect(await exit).toBe(0);
    }
    expect(reads).toBe(1);
    expect(banned).toEqual([Y]);
  });
});
