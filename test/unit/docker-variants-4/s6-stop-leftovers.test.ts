/**
 * `docker stop` must leave no chain, jump or set of the container behind (issue 4: "after docker stop
 * of A no chain, jump or set of A remains"; with host networking they are the host's). The ordered
 * stop (banhammer-shutdown) asks the running agent to tear its rules down. But the agent is not always
 * running when the stop comes, and it does not always finish:
 *   - it was killed (OOM, SIGKILL, a crash) and is waiting out its restart back-off (up to 60 s): its
 *     rules are still in the kernel and nobody removes them;
 *   - it overstays AGENT_STOP_TIMEOUT and is killed: the same.
 * In both cases the stop must remove the firewall state itself (proposed: a one-shot
 * `banhammer teardown`, which builds the configured enforcer and runs its shutdown: /tmp/h6 patch).
 * Real s6 (s6-svscan, s6-supervise, s6-svc) with stand-ins: the stand-in agent creates $EMU/rules
 * when it starts (its chain, jump and sets) and removes it on SIGTERM, as the real one does.
 * Skipped where s6 is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER } from '../docker/script-harness.js';

const hasS6 = spawnSync('sh', ['-c', 'command -v s6-svscan && command -v s6-svc && command -v dash'], { encoding: 'utf8' }).status === 0;

const FAKES: Record<string, string> = {
  banhammer: `#!/bin/sh
case $1 in
  apache-conf) exit 0 ;;
  teardown)
    echo "teardown-command" >>"$EMU/agent.log"
    rm -f "$EMU/rules"
    exit 0 ;;
  run)
    echo "$$" >>"$EMU/pids"
    echo "start $$" >>"$EMU/agent.log"
    : >"$EMU/rules"
    # A crash-looping agent: it dies right after setting its rules up, leaving them (as OOM would).
    [ -e "$EMU/crash" ] && exit 1
    if [ -e "$EMU/stubborn" ]; then
      trap 'echo "ignoring TERM" >>"$EMU/agent.log"' TERM
    else
      trap 'echo "teardown" >>"$EMU/agent.log"; rm -f "$EMU/rules"; exit 0' TERM
    fi
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
async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!hasS6)('docker stop leaves no firewall state (real s6, stand-in programs)', () => {
  let tmp: string;
  let pid1: ChildProcess | null;
  let exited: Promise<number | null>;
  let stderr = '';
  const read = (f: string) => (existsSync(join(tmp, f)) ? readFileSync(join(tmp, f), 'utf8') : '');
  const lines = (f: string) => read(f).split('\n').filter(Boolean);
  const starts = () => lines('agent.log').filter((l) => l.startsWith('start')).length;

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'bh-h6-s6-'));
    mkdirSync(join(tmp, 'fake'));
    for (const [n, body] of Object.entries(FAKES)) {
      writeFileSync(join(tmp, 'fake', n), body);
      chmodSync(join(tmp, 'fake', n), 0o755);
    }
    pid1 = null;
  });
  afterEach(async () => {
    if (pid1?.pid !== undefined && pid1.exitCode === null && pid1.signalCode === null) {
      process.kill(pid1.pid, 'SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      try {
        process.kill(-pid1.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
    for (const p of lines('pids').map(Number)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
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
    await until('the agent and Apache to start', () => starts() > 0 && lines('apache.log').length > 0 && existsSync(join(tmp, 'rules')));
    await sleep(300);
  }
  const lastAgentPid = () => Number(lines('agent.log').filter((l) => l.startsWith('start')).at(-1)!.split(' ')[1]);
  const dockerStop = async () => {
    process.kill(pid1!.pid!, 'SIGTERM');
    return Promise.race([exited, sleep(20_000).then(() => 'timeout')]);
  };

  it('control: a running agent tears its rules down itself; nothing is left', async () => {
    await boot();
    expect(await dockerStop(), stderr).toBe(0);
    expect(existsSync(join(tmp, 'rules')), 'firewall state left behind').toBe(false);
  }, 40_000);

  it('the agent was killed (OOM) and crash-loops; docker stop during its restart back-off: its rules are removed all the same', async () => {
    await boot();
    writeFileSync(join(tmp, 'crash'), '');
    process.kill(lastAgentPid(), 'SIGKILL');
    // Restarted after 1 s, dies at once, then waits 2 s, dies, then 4 s: stop inside that wait.
    await until('the agent to crash three times', () => starts() >= 3, 20_000);
    await sleep(500);
    expect(existsSync(join(tmp, 'rules'))).toBe(true); // what the dead agent left in the kernel
    expect(await dockerStop(), stderr).toBe(0);
    expect(existsSync(join(tmp, 'rules')), `firewall state left behind after docker stop\n${read('agent.log')}\n${stderr}`).toBe(false);
  }, 60_000);

  it('docker stop while the run script is sleeping out the back-off (the service is up, no agent in it): its rules are removed', async () => {
    await boot();
    writeFileSync(join(tmp, 'crash'), '');
    process.kill(lastAgentPid(), 'SIGKILL');
    await until('the run script to wait 4 s before the next start', () => /starting the agent again in 4 s/.test(stderr), 20_000);
    await sleep(300);
    expect(existsSync(join(tmp, 'rules'))).toBe(true);
    expect(await dockerStop(), stderr).toBe(0);
    expect(existsSync(join(tmp, 'rules')), `firewall state left behind after docker stop\n${read('agent.log')}\n${stderr}`).toBe(false);
  }, 60_000);

  it('an agent that overstays AGENT_STOP_TIMEOUT is killed; its rules are removed all the same', async () => {
    writeFileSync(join(tmp, 'stubborn'), '');
    await boot({ AGENT_STOP_TIMEOUT: '1' });
    expect(await dockerStop(), stderr).toBe(0);
    expect(lines('agent.log')).toContain('ignoring TERM');
    expect(existsSync(join(tmp, 'rules')), `firewall state left behind after docker stop\n${read('agent.log')}\n${stderr}`).toBe(false);
  }, 60_000);
});

it('the command banhammer-shutdown runs exists in the CLI: `banhammer teardown` (log enforcer: nothing to remove) exits 0', () => {
  const cli = resolve(import.meta.dirname, '../../../bin/banhammer.js');
  const tmp = mkdtempSync(join(tmpdir(), 'bh-h6-td-'));
  try {
    const r = spawnSync(process.execPath, [cli, 'teardown'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BANHAMMER_ENFORCER: 'log', BANHAMMER_STATE_DIR: tmp, BANHAMMER_SOCKET: join(tmp, 'bh.sock') },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(readFileSync(join(DOCKER, 'bin/banhammer-shutdown'), 'utf8')).toMatch(/banhammer teardown/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
