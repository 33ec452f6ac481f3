/**
 * The two programs under test, each started in a namespace the caller made, following a log file
 * in a temp dir, and ended in cleanup:
 * - banhammer: `ip netns exec NS node bin/banhammer.js run`, enforcer iptables (or nftables), configured only by
 *   BANHAMMER_* variables (any inherited BANHAMMER_* is dropped), stdout/stderr to a file;
 * - fail2ban: `fail2ban-server -f -x -c DIR` with its own config dir: one jail with the replay
 *   bench's 403 filter, maxretry 5, findtime 60, bantime 3600, the stock `iptables-ipset-proto6`
 *   action (ban = `ipset -exist add f2b-bhb <ip> timeout 0`), an in-memory database, and the
 *   pyinotify backend when /usr/bin/python3 has it (else polling).
 * `ip netns exec` execs the program in place, so the child's pid is the program's own.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/control/client.js';
import type { StatusReport } from '../../src/control/protocol.js';
import { FILTER_CONF } from '../fail2ban.js';
import { Cleanup, endChild, sh, startChild, waitFor } from './sys.js';
import { parseFail2banStatus } from './util.js';

export interface Agent {
  readonly pid: number;
  readonly instance: string;
  readonly setV4: string;
  readonly logPath: string;
  readonly stateFile: string;
  readonly outPath: string;
  status(): Promise<StatusReport>;
  stop(): Promise<void>;
}

/**
 * The environment the images give the agent (PATH, HOME, NODE_ENV=production: Dockerfile.debian,
 * Dockerfile.alpine), to which the caller adds its settings; never the environment of the shell that
 * runs the bench: a developer's NODE_EXTRA_CA_CERTS alone (a CA bundle Node reads at start) added
 * 5.5 MB to the idle RSS measured here (60.4 against 54.9 MB), which no container of the image pays.
 */
export function imageEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env['HOME'] ?? '/root', NODE_ENV: 'production' };
}

export async function startAgent(cleanup: Cleanup, o: { root: string; ns: string; dir: string; instance: string; port: number; enforcer?: 'iptables' | 'nftables' }): Promise<Agent> {
  const logPath = join(o.dir, 'access.log');
  writeFileSync(logPath, '');
  const stateDir = join(o.dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const socket = join(o.dir, 'bh.sock');
  const env = imageEnv();
  Object.assign(env, {
    BANHAMMER_INSTANCE: o.instance,
    BANHAMMER_LOG_PATH: logPath,
    BANHAMMER_LOG_FORMAT: 'apache-combined',
    BANHAMMER_STATE_DIR: stateDir,
    BANHAMMER_SOCKET: socket,
    BANHAMMER_PORTS: String(o.port),
    BANHAMMER_ENFORCER: o.enforcer ?? 'iptables',
    BANHAMMER_MAXRETRY: '5',
    BANHAMMER_FINDTIME: '60',
    BANHAMMER_BANTIME: '3600',
    BANHAMMER_LOG_LEVEL: 'info',
  });
  const outPath = join(o.dir, 'agent.out');
  const fd = openSync(outPath, 'a');
  let child: ChildProcess;
  try {
    child = startChild(cleanup, 'ip', ['netns', 'exec', o.ns, process.execPath, join(o.root, 'bin', 'banhammer.js'), 'run'], {
      env,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid!;
  const setV4 = `bh-${o.instance}-v4`;
  const status = (): Promise<StatusReport> => controlRequest(socket, { op: 'status' }, { timeoutMs: 10_000 }) as Promise<StatusReport>;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitFor('the agent to answer on its control socket', 20_000, async () => {
      if (exited()) throw new Error(`agent exited: ${tail(outPath)}`);
      try {
        await status();
        return true;
      } catch {
        return false;
      }
    }, 100);
  } catch (e) {
    await endChild(child, 2000);
    throw e;
  }
  return {
    pid,
    instance: o.instance,
    setV4,
    logPath,
    stateFile: join(stateDir, `state-${o.instance}.json`),
    outPath,
    status,
    stop: async () => {
      await endChild(child, 15_000);
      if (child.exitCode !== 0) throw new Error(`agent exited with ${child.exitCode ?? child.signalCode}: ${tail(outPath)}`);
    },
  };
}

/** Read offset of the followed file as last saved in the agent's state file (NaN if none yet). */
export function savedOffset(stateFile: string): { offset: number; savedAt: number } {
  try {
    const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as { savedAt: number; data: { positions: { offset: number }[] } };
    return { offset: doc.data.positions.reduce((a, p) => Math.max(a, p.offset), 0), savedAt: doc.savedAt };
  } catch {
    return { offset: Number.NaN, savedAt: Number.NaN };
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

export interface Fail2ban {
  readonly pid: number;
  readonly backend: string;
  readonly set: string;
  readonly logPath: string;
  readonly dir: string;
  status(): Promise<{ totalFailed: number; totalBanned: number; currentlyBanned: number }>;
  stop(): Promise<void>;
}

export const F2B_JAIL = 'bhb';

export async function pyinotifyAvailable(): Promise<boolean> {
  try {
    await sh.run('/usr/bin/python3', ['-c', 'import pyinotify'], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export async function startFail2ban(cleanup: Cleanup, o: { ns: string; dir: string; port: number }): Promise<Fail2ban> {
  const backend = (await pyinotifyAvailable()) ? 'pyinotify' : 'polling';
  const d = o.dir;
  mkdirSync(join(d, 'action.d'), { recursive: true });
  mkdirSync(join(d, 'filter.d'), { recursive: true });
  for (const f of ['iptables.conf', 'iptables-ipset.conf', 'iptables-ipset-proto6.conf']) {
    copyFileSync(join('/etc/fail2ban/action.d', f), join(d, 'action.d', f));
  }
  writeFileSync(join(d, 'filter.d', 'bhb-403.conf'), FILTER_CONF);
  const logPath = join(d, 'access.log');
  writeFileSync(logPath, '');
  const sock = join(d, 'f2b.sock');
  writeFileSync(
    join(d, 'fail2ban.conf'),
    `[Definition]\nloglevel = INFO\nlogtarget = ${join(d, 'fail2ban.log')}\nsyslogsocket = auto\nsocket = ${sock}\npidfile = ${join(d, 'f2b.pid')}\ndbfile = :memory:\ndbpurgeage = 1d\nallowipv6 = auto\n`,
  );
  writeFileSync(
    join(d, 'jail.conf'),
    `[DEFAULT]\nbackend = ${backend}\n\n[${F2B_JAIL}]\nenabled = true\nfilter = bhb-403\nlogpath = ${logPath}\nmaxretry = 5\nfindtime = 60\nbantime = 3600\naction = iptables-ipset-proto6[name=${F2B_JAIL}, port=${o.port}, protocol=tcp]\n`,
  );
  const outPath = join(d, 'server.out');
  const fd = openSync(outPath, 'a');
  let child: ChildProcess;
  try {
    child = startChild(cleanup, 'ip', ['netns', 'exec', o.ns, 'fail2ban-server', '-f', '-x', '-c', d], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const status = async (): Promise<{ totalFailed: number; totalBanned: number; currentlyBanned: number }> => {
    const r = await sh.run('fail2ban-client', ['-c', d, 'status', F2B_JAIL], { timeoutMs: 20_000 });
    return parseFail2banStatus(r.stdout);
  };
  try {
    await waitFor('fail2ban-server to start the jail', 30_000, () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fail2ban-server exited: ${tail(outPath)} ${tail(join(d, 'fail2ban.log'))}`);
      return tail(join(d, 'fail2ban.log')).includes(`Jail '${F2B_JAIL}' started`);
    }, 100);
  } catch (e) {
    await endChild(child, 2000);
    throw e;
  }
  return {
    pid: child.pid!,
    backend,
    set: `f2b-${F2B_JAIL}`,
    logPath,
    dir: d,
    status,
    stop: () => endChild(child, 15_000),
  };
}
