/**
 * Makes sure a Docker engine answers, starting `dockerd` when none runs, and stops it afterwards only
 * if this process started it. An engine started here runs with --iptables=false --ip-forward=false
 * --bridge=none: it adds no rules, chains or interfaces to the host (every e2e container and build
 * uses host networking, so nothing needs Docker's NAT), and leaves nothing behind when stopped.
 *
 * Never throws for an absent prerequisite: it reports why the tier cannot run, so tests skip with
 * that reason.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, which } from './run.js';

export type EngineState =
  | { readonly ok: true; readonly startedByUs: boolean; readonly logFile: string | null; stop(): Promise<void> }
  | { readonly ok: false; readonly reason: string };

async function engineAnswers(): Promise<boolean> {
  try {
    return (await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 })).code === 0;
  } catch {
    return false;
  }
}

export async function ensureDockerEngine(): Promise<EngineState> {
  if (process.platform !== 'linux') return { ok: false, reason: 'Docker e2e tests run on Linux only' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root: the e2e tier starts dockerd and checks the host firewall' };
  if (which('docker') === null) return { ok: false, reason: 'docker CLI not found (apt-get install docker.io)' };
  if (await engineAnswers()) return { ok: true, startedByUs: false, logFile: null, stop: async () => {} };
  if (which('dockerd') === null) return { ok: false, reason: 'no Docker engine answers and dockerd is not installed' };

  const logFile = join(tmpdir(), `banhammer-e2e-dockerd-${process.pid}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn('dockerd', ['--iptables=false', '--ip-forward=false', '--bridge=none'], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();

  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    child.kill('SIGTERM');
    for (let i = 0; i < 100 && !exited; i++) await sleep(200);
    if (!exited) child.kill('SIGKILL');
  };

  for (let i = 0; i < 60 && !exited; i++) {
    // A clean stop removes the engine's log; one that never came up keeps it (the reason names it).
    if (await engineAnswers()) return { ok: true, startedByUs: true, logFile, stop: async () => { await stop(); rmSync(logFile, { force: true }); } };
    await sleep(500);
  }
  await stop();
  const tail = (() => {
    try {
      return readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '';
    }
  })();
  return { ok: false, reason: `dockerd did not come up within 30 s (log ${logFile}):\n${tail}` };
}
