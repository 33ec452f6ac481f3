/**
 * The image's supervision tree under the real s6 (s6-svscan, s6-supervise, s6-svc), without Docker:
 * the real entrypoint, service scripts and banhammer-shutdown, with the agent, Apache, syslogd and
 * s6-log replaced by small stand-ins that record what happens to them. Checks the claims:
 *   - SIGTERM (docker stop): the agent is stopped (its teardown runs) before Apache, exit 0;
 *   - the same with AGENT_STOP_TIMEOUT written with a leading zero (shell arithmetic once aborted the
 *     stop there, leaving the agent running and its rules in place until Docker's SIGKILL);
 *   - Apache dying: the agent is torn down and PID 1 exits with 128+signal;
 *   - the agent crashing: restarted (with back-off) while the same Apache keeps serving.
 * Skipped where s6 is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER } from '../docker/script-harness.js';

const hasS6 = spawnSync('sh', ['-c', 'command -v s6-svscan && command -v s6-svc && command -v dash'], { encoding: 'utf8' }).status === 0;

const FAKES: Record<string, string> = {
  banhammer: `#!/bin/sh
case $1 in
  apache-conf) exit 0 ;;
  run)
    echo "$$" >>"$EMU/pids"
    echo "start $$" >>"$EMU/agent.log"
    trap 'echo "teardown" >>"$EMU/agent.log"; sleep 0.2; echo "torn-down" >>"$EMU/agent.log"; exit 0' TERM
    while :; do sleep 0.1; done ;;
esac
exit 0
`,
  'banhammer-apache': `#!/bin/sh
echo "$$" >>"$EMU/pids"
echo "$$" >"$BH_RUN_DIR/apache.pgid"
echo "apache-start $$" >>"$EMU/apache.log"
trap 'echo "apache-term" >>"$EMU/apache.log"; exit 0' TERM
while :; do sleep 0.1; done
`,
  busybox: `#!/bin/sh
echo "$$" >>"$EMU/pids"
trap 'exit 0' TERM
while :; do sleep 0.2; done
`,
  's6-log': `#!/bin/sh
exec cat >/dev/null
`,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!hasS6)('the s6 tree (real s6, stand-in programs)', () => {
  let tmp: string;
  let pid1: ChildProcess | null;
  let exited: Promise<number | null>;
  let stderr = '';
  const read = (f: string) => (existsSync(join(tmp, f)) ? readFileSync(join(tmp, f), 'utf8') : '');
  const lines = (f: string) => read(f).split('\n').filter(Boolean);

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'bh-h2-s6-'));
    mkdirSync(join(tmp, 'fake'));
    for (const [n, body] of Object.entries(FAKES)) {
      writeFileSync(join(tmp, 'fake', n), body);
      chmodSync(join(tmp, 'fake', n), 0o755);
    }
    pid1 = null;
  });
  afterEach(async () => {
    if (pid1?.pid !== undefined && pid1.exitCode === null && pid1.signalCode === null) {
      // A failed test: the ordinary stop first, then the group of PID 1 (s6-svscan, s6-supervise).
      process.kill(pid1.pid, 'SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      try {
        process.kill(-pid1.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
    // The services run in their own sessions (s6-supervise setsid): end any stand-in left, by pid.
    for (const p of lines('pids').map(Number)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // The stand-ins' sleeps end within 0.2 s of their parent; wait that long before removing the tree.
    await sleep(300);
    rmSync(tmp, { recursive: true, force: true });
  });

  async function boot(extra: Record<string, string> = {}): Promise<void> {
    const env = {
      EMU: tmp,
      BH_RUN_DIR: join(tmp, 'run'),
      BH_SCANDIR: join(tmp, 'service'),
      BH_SERVICES: join(DOCKER, 's6'),
      BH_LOG_DIR: join(tmp, 'log'),
      BH_APACHE_DIR: join(DOCKER, 'apache'),
      PATH: `${join(tmp, 'fake')}:${join(DOCKER, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      ...extra,
    };
    pid1 = spawn('dash', [join(DOCKER, 'bin/banhammer-entrypoint')], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    stderr = '';
    pid1.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((res) => pid1!.on('exit', (code, sig) => res(code ?? (sig === null ? null : 128))));
    await until('the agent and Apache to start', () => lines('agent.log').length > 0 && lines('apache.log').length > 0);
    await sleep(300);
  }
  const agentPid = () => Number(lines('agent.log').filter((l) => l.startsWith('start')).at(-1)!.split(' ')[1]);

  it('docker stop (SIGTERM to PID 1): agent torn down first, then Apache; exit 0', async () => {
    await boot();
    process.kill(pid1!.pid!, 'SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
    expect(code, stderr).toBe(0);
    expect(lines('agent.log').slice(-2)).toEqual(['teardown', 'torn-down']);
    expect(lines('apache.log').at(-1)).toBe('apache-term');
  }, 30_000);

  it.each(['08', '010'])('AGENT_STOP_TIMEOUT=%s: docker stop still tears the agent down and ends PID 1', async (t) => {
    await boot({ AGENT_STOP_TIMEOUT: t });
    process.kill(pid1!.pid!, 'SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
    expect(code, `${stderr}\n${read('agent.log')}`).toBe(0);
    expect(lines('agent.log')).toContain('torn-down');
  }, 30_000);

  it('Apache dies (SIGKILL): the agent is torn down and PID 1 exits 137', async () => {
    await boot();
    process.kill(Number(read('run/apache.pgid').trim()), 'SIGKILL');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
    expect(code, stderr).toBe(137);
    expect(lines('agent.log')).toContain('torn-down');
  }, 30_000);

  it('the agent crashes: it is started again, the same Apache keeps running', async () => {
    await boot();
    const first = agentPid();
    process.kill(first, 'SIGKILL');
    await until('the agent to be restarted', () => lines('agent.log').filter((l) => l.startsWith('start')).length >= 2, 10_000);
    expect(agentPid()).not.toBe(first);
    expect(lines('apache.log')).toHaveLength(1); // started once, never stopped
    expect(read('run/agent-crashes').trim()).toBe('1');
    expect(stderr).toMatch(/the agent exited \(killed by signal 9\); restarting it/);
    process.kill(pid1!.pid!, 'SIGTERM');
    expect(await Promise.race([exited, sleep(15_000).then(() => 'timeout')])).toBe(0);
  }, 30_000);
});
