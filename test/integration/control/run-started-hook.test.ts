/**
 * `banhammer run` (src/run.ts) tells its caller when the agent has started, its saved bans restored
 * and held (RunOptions.onStarted, once): cli.ts limits the heap's growth from then on, not while
 * 100,000 saved bans are being read (heap-policy.ts). A dry run with the log enforcer and one
 * saved ban: the hooks come in order loaded → busy → started, started once.
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

describe('banhammer run: start-up hooks', () => {
  it('calls onStarted once, after the saved bans were restored (after onLoaded and onBusy)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-started-'));
    dirs.push(root);
    const state = join(root, 'state');
    mkdirSync(state, { mode: 0o700 });
    const now = Date.now();
    writeFileSync(join(state, 'state-started.json'), JSON.stringify({ version: 1, savedAt: now, data: { bans: [{ ip: '198.18.0.9', family: 4, rule: 'forbidden', at: now, until: now + 3_600_000, failures: 5, nth: 1, manual: false }], history: [], positions: [] } }), { mode: 0o600 });
    writeFileSync(join(root, 'access.log'), '');
    const socket = join(root, 'agent.sock');
    const config = loadConfig({
      env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: join(root, 'access.log'), BANHAMMER_INSTANCE: 'started', BANHAMMER_SOCKET: socket, BANHAMMER_STATE_DIR: state, BANHAMMER_METRICS_ADDR: 'off', BANHAMMER_LOG_LEVEL: 'error' },
      hostname: 'unit',
    });
    const calls: string[] = [];
    let bannedAtStart: string[] | undefined;
    const abort = new AbortController();
    let started!: () => void;
    const isStarted = new Promise<void>((r) => (started = r));
    const exit = runAgent({
      config,
      reloadConfig: () => config,
      dryRun: true,
      version: 'test',
      signal: abort.signal,
      onLoaded: () => calls.push('loaded'),
      onBusy: () => calls.push('busy'),
      onStarted: () => {
        calls.push('started');
        started();
      },
    });
    try {
      await Promise.race([isStarted, new Promise((_, reject) => setTimeout(() => reject(new Error('onStarted not called in 10 s')), 10_000))]);
      bannedAtStart = (await controlRequest(socket, { op: 'status' }, { timeoutMs: 2000 })).rules.flatMap((r) => r.bannedIps);
    } finally {
      abort.abort();
      expect(await exit).toBe(0);
    }
    expect(calls).toEqual(['loaded', 'busy', 'started']);
    expect(bannedAtStart).toEqual(['198.18.0.9']);
  });
});
