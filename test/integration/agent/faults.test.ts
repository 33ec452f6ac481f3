/**
 * Faults must not switch protection off (issue 9), with the real agent process (`bin/banhammer.js
 * run --dry-run`: the log enforcer, so no firewall is touched):
 * - its state directory on a full tmpfs (a private mount namespace: nothing is mounted for anyone
 *   else): bans keep coming, the failure is logged once and shown in `status --json`;
 * - a FIFO as the log path: start-up does not hang, the FIFO is named in a warning, the other log is
 *   followed, and SIGTERM ends the agent cleanly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { apacheTime } from './fixture.js';

const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const BIN = join(REPO, 'bin', 'banhammer.js');
const built = existsSync(join(REPO, 'dist', 'banhammer.js'));
const root = process.getuid?.() === 0;
const canUnshare = root && spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status === 0;

interface Agent {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function start(argv: string[], env: Record<string, string>): Agent {
  const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => logs.push({ stderr: d.toString() }));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, logs, exited };
}

async function until<T>(what: string, fn: () => T, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function statusJson(socket: string): Record<string, unknown> | null {
  const r = spawnSync(process.execPath, [BIN, 'status', '--json'], { env: { PATH: process.env.PATH ?? '', BANHAMMER_SOCKET: socket }, encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : null;
}

const line = (ip: string) => `${ip} - - ${apacheTime(Date.now())} "GET /private HTTP/1.1" 403 10 "-" "curl"`;

function sandbox(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bh-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.skipIf(!built)(`the agent under faults${built ? '' : ' (skipped: dist/banhammer.js is not built)'}`, () => {
  it.skipIf(!canUnshare)(`a full state disk: bans go on, the failure is logged once and shown in status${canUnshare ? '' : ' (skipped: needs root and unshare -m)'}`, async () => {
    const dir = sandbox();
    const state = join(dir, 'state');
    mkdirSync(state);
    const log = join(dir, 'access.log');
    writeFileSync(log, '');
    const socket = join(dir, 'agent.sock');
    // A 64 KiB tmpfs over the state directory, filled up before the agent starts; only this process tree sees it.
    const script = 'mount -t tmpfs -o size=64k,mode=0700 tmpfs "$1" && (head -c 1048576 /dev/zero >"$1/filler" 2>/dev/null; true) && shift && exec "$@"';
    const agent = start(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', state, process.execPath, BIN, 'run', '--dry-run'], {
      BANHAMMER_LOG_PATH: log,
      BANHAMMER_STATE_DIR: state,
      BANHAMMER_SOCKET: socket,
      BANHAMMER_INSTANCE: 'faults',
      BANHAMMER_METRICS_ADDR: 'off',
    });
    await until('agent started', () => agent.logs.some((l) => l.msg === 'banhammer started'), (v) => v, 15_000);
    for (let i = 0; i < 5; i++) appendFileSync(log, `${line('198.18.0.51')}\n`);
    await until('first ban', () => agent.logs.filter((l) => l.msg === 'ban').map((l) => l.ip), (v) => v.includes('198.18.0.51'), 10_000);
    for (let i = 0; i < 5; i++) appendFileSync(log, `${line('198.18.0.52')}\n`);
    await until('second ban', () => agent.logs.filter((l) => l.msg === 'ban').map((l) => l.ip), (v) => v.includes('198.18.0.52'), 10_000);
    const st = statusJson(socket);
    expect((st!.health as { stateError: string }).stateError).toMatch(/ENOSPC|no space/i);
    expect(agent.logs.filter((l) => l.msg === 'cannot save state (bans are still enforced; retrying)')).toHaveLength(1);
    expect(agent.child.exitCode).toBeNull();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });

  it('a FIFO as a log path never blocks start-up; SIGTERM ends the agent cleanly', async () => {
    const dir = sandbox();
    const fifo = join(dir, 'fifo.log');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const log = join(dir, 'access.log');
    writeFileSync(log, '');
    const socket = join(dir, 'agent.sock');
    const agent = start([process.execPath, BIN, 'run', '--dry-run'], {
      BANHAMMER_LOG_PATH: `${fifo},${log}`,
      BANHAMMER_STATE_DIR: join(dir, 'state'),
      BANHAMMER_SOCKET: socket,
      BANHAMMER_INSTANCE: 'fifo',
      BANHAMMER_METRICS_ADDR: 'off',
    });
    await until('agent started', () => agent.logs.some((l) => l.msg === 'banhammer started'), (v) => v, 10_000);
    expect(JSON.stringify(agent.logs)).toMatch(/fifo\.log/);
    for (let i = 0; i < 5; i++) appendFileSync(log, `${line('198.18.0.53')}\n`);
    await until('ban from the regular file', () => agent.logs.some((l) => l.msg === 'ban' && l.ip === '198.18.0.53'), (v) => v, 10_000);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});
