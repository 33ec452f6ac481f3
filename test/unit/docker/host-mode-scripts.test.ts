/**
 * IMAGE_MODE=host in the container scripts (the agent alone, for the containers of a Docker host):
 * the entrypoint renders no Apache configuration and starts a service tree holding only the agent,
 * the agent's finish script stops the container on a configuration error (nothing else runs), the
 * shutdown does not announce an Apache that is not there, and the healthcheck asks only the agent.
 * Same method as shell-scripts.test.ts: both shells, paths relocated (BH_*), s6 programs replaced by
 * recorders on PATH.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, envOf, runScript } from './script-harness.js';

it('has a shell to run the scripts with', () => {
  // dash is Debian's /bin/sh; without it (and busybox) nothing below would run.
  expect(SHELLS.length, 'dash or busybox installed').toBeGreaterThan(0);
});

describe.each(SHELLS)('host mode under $name', ({ argv }) => {
  let box: ScriptSandbox;
  let tmp: string;
  let runDir: string;
  let env: Record<string, string>;
  const fake = (name: string, body?: string): void => box.fake(name, body);
  const recorded = (): string[] => box.recorded();

  beforeEach(() => {
    box = new ScriptSandbox('bh-docker-host-');
    ({ tmp, runDir } = box);
    env = { ...box.env, BH_SERVICES: join(DOCKER, 's6'), IMAGE_MODE: 'host' };
    // Would print Apache Defines; host mode must not ask for them.
    fake('banhammer', "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\\n'");
  });
  afterEach(() => box.remove());

  describe('entrypoint', () => {
    const entry = join(DOCKER, 'bin/banhammer-entrypoint');

    it('defaults the enforcer and log path to docker-user and Docker json-file logs, renders nothing for Apache', () => {
      // HTTP_PORT is an Apache setting: ignored in host mode, even when it is not a port.
      const r = runScript(argv, entry, ['env'], { ...env, HTTP_PORT: 'none' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const e = envOf(r.stdout);
      expect(e.IMAGE_MODE).toBe('host');
      expect(e.BANHAMMER_ENFORCER).toBe('docker-user');
      expect(e.BANHAMMER_LOG_PATH).toBe('/var/lib/docker/containers/*/*-json.log');
      expect(e.BANHAMMER_PORTS).toBeUndefined();
      expect(recorded()).toEqual([]); // no `banhammer apache-conf`
      expect(readdirSync(runDir)).toEqual([]);
      expect(existsSync(join(tmp, 'log'))).toBe(false);
    });

    it('keeps what the user set', () => {
      const r = runScript(argv, entry, ['env'], { ...env, BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: '/logs/*.log' });
      expect(r.code).toBe(0);
      expect(envOf(r.stdout).BANHAMMER_ENFORCER).toBe('log');
      expect(envOf(r.stdout).BANHAMMER_LOG_PATH).toBe('/logs/*.log');
    });

    it('execs s6-svscan on a fresh service tree that holds the agent only (and the SIGTERM path)', () => {
      for (const f of ['stopping', 'exit-code', 'agent-crashes']) writeFileSync(join(runDir, f), '1\n');
      mkdirSync(join(tmp, 'service/stale/supervise'), { recursive: true });
      fake('s6-svscan');
      const r = runScript(argv, entry, [], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(recorded()).toEqual([`s6-svscan ${join(tmp, 'service')}`]);
      expect(readdirSync(join(tmp, 'service')).sort()).toEqual(['.s6-svscan', 'banhammer']);
      expect(readdirSync(join(tmp, 'service/.s6-svscan')).sort()).toEqual(['SIGINT', 'SIGTERM', 'finish']);
      for (const f of ['stopping', 'exit-code', 'agent-crashes']) expect(existsSync(join(runDir, f))).toBe(false);
      expect(readFileSync(join(runDir, 'svscan.pid'), 'utf8').trim()).toMatch(/^\d+$/);
    });

    it('app mode (the default) still runs Apache and syslogd beside the agent', () => {
      fake('s6-svscan');
      const { IMAGE_MODE: _m, ...appEnv } = env;
      const r = runScript(argv, entry, [], appEnv);
      expect(r.code).toBe(0);
      expect(readdirSync(join(tmp, 'service')).sort()).toEqual(['.s6-svscan', 'apache', 'banhammer', 'syslogd']);
      expect(recorded()).toEqual(['banhammer apache-conf --create-map', `s6-svscan ${join(tmp, 'service')}`]);
    });

    it('refuses an unknown IMAGE_MODE with exit 78 and a hint', () => {
      fake('s6-svscan');
      const r = runScript(argv, entry, [], { ...env, IMAGE_MODE: 'hots' });
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/^banhammer-entrypoint: IMAGE_MODE='hots' is neither app nor host\n {2}hint: /);
      expect(recorded()).toEqual([]);
    });
  });

  it('agent finish: status 78 stops the container with 78 (nothing else runs), never restarts', async () => {
    fake('s6-svc');
    const init = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const died = new Promise<NodeJS.Signals | null>((res) => init.on('exit', (_c, sig) => res(sig)));
    writeFileSync(join(runDir, 'svscan.pid'), `${init.pid}\n`);
    const svc = join(DOCKER, 's6/banhammer');
    const r = runScript(argv, join(svc, 'finish'), ['78', '0'], env, svc);
    expect(r.code).toBe(0);
    expect(recorded()).toEqual(['s6-svc -d .']);
    expect(readFileSync(join(runDir, 'exit-code'), 'utf8').trim()).toBe('78');
    expect(r.stderr).toMatch(/stopped with status 78 .*host mode.*stops with that status/);
    expect(r.stderr).not.toMatch(/Apache/);
    expect(existsSync(join(runDir, 'agent-crashes'))).toBe(false);
    expect(await died).toBe('SIGTERM');
  });

  it('shutdown: stops the agent (rules removed) and s6-svscan; no word about Apache', () => {
    const svc = join(tmp, 'service');
    mkdirSync(join(svc, 'banhammer'), { recursive: true });
    // s6-svok answers only for service directories that exist.
    fake('s6-svok', '[ -d "$1" ]');
    fake('s6-svstat', 'echo true');
    fake('s6-svc');
    fake('s6-svscanctl');
    const r = runScript(argv, join(DOCKER, 'bin/banhammer-shutdown'), [], env);
    expect(r.code).toBe(0);
    expect(recorded().filter((l) => l.startsWith('s6-svc ') || l.startsWith('s6-svscanctl'))).toEqual([
      `s6-svc -wD -T 6000 -d ${svc}/banhammer`,
      `s6-svscanctl -t ${svc}`,
    ]);
    expect(r.stderr).toMatch(/stopping the banhammer agent/);
    expect(r.stderr).not.toMatch(/Apache/);
  });

  describe('healthcheck', () => {
    const hc = join(DOCKER, 'bin/banhammer-healthcheck');

    it('healthy when the agent answers; Apache is not probed', () => {
      fake('node', 'exit 1');
      fake('banhammer', `printf '%s\\n' '${JSON.stringify({ instance: 'host', enforcer: 'docker-user', since: '', files: [], rules: [], health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, skewedLines: 0 } })}'`);
      const r = runScript(argv, hc, [], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe('healthy: host mode; agent host (enforcer docker-user) answers banhammer status');
      expect(recorded()).toEqual(['banhammer status --json --brief']);
    });

    it('unhealthy when the agent does not answer', () => {
      fake('banhammer', 'echo "banhammer: banhammer is not running (no control socket at /run/banhammer/banhammer.sock)" >&2; exit 2');
      const r = runScript(argv, hc, [], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^unhealthy: the banhammer agent is not running/);
    });
  });
});
