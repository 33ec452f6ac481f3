/**
 * `banhammer apache-conf` (the hidden command the image's entrypoint runs before Apache starts) and
 * its wiring: the command itself with the real configuration loader and a temporary map directory;
 * the entrypoint under dash and busybox sh calling the real CLI (through tsx) with relocated paths;
 * and Apache's own syntax check (`apache2 -t`) of what gets rendered, with the repository's snippets.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';

const REPO = resolve(import.meta.dirname, '../../..');
const DOCKER = join(REPO, 'docker');
const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';

function which(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name]).status === 0;
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bh-apache-conf-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env, hostname: 'web' };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

describe('banhammer apache-conf', () => {
  it('prints the Defines from the resolved configuration (environment and YAML file)', async () => {
    const yaml = join(tmp, 'banhammer.yaml');
    writeFileSync(yaml, 'trusted_proxies: ["198.19.100.0/26"]\nremoteip_header: X-Real-IP\n');
    const r = await cli(['apache-conf'], { BANHAMMER_CONFIG: yaml, BANHAMMER_TRUSTED_PROXIES: '198.19.100.2, 2001:db8:100::/48' });
    expect(r).toEqual({
      code: 0,
      stdout: 'Define BANHAMMER_REMOTEIP_HEADER X-Real-IP\nDefine BANHAMMER_TRUSTED_PROXIES "198.19.100.2/32 2001:db8:100::/48"\n',
      stderr: '',
    });
  });

  it('--create-map with apache-map creates an empty map readable by everyone, and keeps an existing one', async () => {
    const map = join(tmp, 'banned.map');
    const env = { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: map };
    const r = await cli(['apache-conf', '--create-map'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\nDefine BANHAMMER_MAP_FILE ${map}\n`);
    expect(statSync(map).mode & 0o777).toBe(0o644);
    expect(readFileSync(map, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([]);
    // A previous run's bans stay until the agent rewrites the map from its restored state.
    writeFileSync(map, '198.18.0.9 99991231235959\n');
    expect((await cli(['apache-conf', '--create-map'], env)).code).toBe(0);
    expect(readFileSync(map, 'utf8')).toBe('198.18.0.9 99991231235959\n');
    // Without --create-map nothing is written.
    const other = join(tmp, 'other.map');
    expect((await cli(['apache-conf'], { ...env, BANHAMMER_MAP_FILE: other })).code).toBe(0);
    expect(existsSync(other)).toBe(false);
  });

  it('a missing map directory: exit 2, one line naming it and what to do', async () => {
    const map = join(tmp, 'nope', 'banned.map');
    const r = await cli(['apache-conf', '--create-map'], { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: map });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `banhammer: apache-map: cannot write map file ${map}: directory ${join(tmp, 'nope')} does not exist (create that directory or mount a volume there, or set BANHAMMER_MAP_FILE to a file in an existing, writable directory (default /run/banhammer/banned.map))\n`,
    );
  });

  it('an unwritable map directory: exit 2, one line', async () => {
    const dir = join(tmp, 'ro');
    mkdirSync(dir, { mode: 0o555 });
    // Root writes to any directory: as root, run the command with the effective uid/gid of nobody.
    const asRoot = process.geteuid?.() === 0;
    if (asRoot) {
      chmodSync(tmp, 0o755);
      process.setegid!(65534);
      process.seteuid!(65534);
    }
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      r = await cli(['apache-conf', '--create-map'], { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: join(dir, 'banned.map') });
    } finally {
      if (asRoot) {
        process.seteuid!(0);
        process.setegid!(0);
      }
    }
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^banhammer: apache-map: cannot write map file .*is not writable \(EACCES\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'banned.map'))).toBe(false);
  });

  it("invalid values: exit 2 with every problem of the loader on one line, nothing on stdout", async () => {
    const r = await cli(['apache-conf', '--create-map'], { BANHAMMER_TRUSTED_PROXIES: '10.0.0.0/33 proxy', BANHAMMER_ENFORCER: 'apache-map' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'banhammer: invalid configuration: trusted_proxies[0] = "10.0.0.0/33" (env BANHAMMER_TRUSTED_PROXIES): not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32); ' +
        'trusted_proxies[1] = "proxy" (env BANHAMMER_TRUSTED_PROXIES): not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)\n',
    );
    const h = await cli(['apache-conf'], { BANHAMMER_REMOTEIP_HEADER: 'X Forwarded' });
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/^banhammer: invalid configuration: remoteip_header = "X Forwarded" \(env BANHAMMER_REMOTEIP_HEADER\): /);
    expect(h.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('is not listed in help (the image uses it; users have check-config)', async () => {
    expect((await cli(['help'], {})).stdout).not.toContain('apache-conf');
  });
});

it('banhammer-map.conf and banhammer-remoteip.conf configure mod_remoteip the same way', () => {
  const directives = (f: string) =>
    readFileSync(join(DOCKER, 'apache', f), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^(RemoteIP|LoadModule remoteip_module|<IfDefine BANHAMMER_TRUSTED_PROXIES>)/.test(l));
  const map = directives('banhammer-map.conf');
  expect(map).toContain('RemoteIPInternalProxy ${BANHAMMER_TRUSTED_PROXIES}');
  expect(directives('banhammer-remoteip.conf').sort()).toEqual(map.sort());
});

const SHELLS = [
  ...(which('dash') ? [{ name: 'dash', argv: ['dash'] }] : []),
  ...(which('busybox') ? [{ name: 'busybox sh', argv: ['busybox', 'sh'] }] : []),
];
const apacheSkip = !existsSync(APACHE)
  ? `${APACHE} not installed (apt-get install apache2)`
  : !['mod_mpm_event.so', 'mod_authz_core.so', 'mod_rewrite.so', 'mod_remoteip.so'].every((m) => existsSync(join(MODULES, m)))
    ? `Apache modules missing in ${MODULES}`
    : null;

describe.each(SHELLS)('entrypoint with the real CLI under $name', ({ argv }) => {
  /** Runs the entrypoint with `banhammer` on PATH being this repository's CLI (through tsx). */
  function entry(extra: Record<string, string>, args: string[] = ['true']) {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(tmp, 'cli.mjs'), `const { main } = await import(${JSON.stringify(join(REPO, 'src/cli.ts'))});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    writeFileSync(join(bin, 'banhammer'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(join(tmp, 'cli.mjs'))} "$@"\n`);
    chmodSync(join(bin, 'banhammer'), 0o755);
    const env = {
      PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: tmp,
      BH_RUN_DIR: join(tmp, 'run'),
      BH_SCANDIR: join(tmp, 'service'),
      BH_LOG_DIR: join(tmp, 'log'),
      BH_SERVICES: join(DOCKER, 's6'),
      BH_APACHE_DIR: join(DOCKER, 'apache'),
      ...extra,
    };
    const r = spawnSync(argv[0]!, [...argv.slice(1), join(DOCKER, 'bin/banhammer-entrypoint'), ...args], { env, cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('a bad trusted-proxy list stops the container with the loader\'s reason on one line', () => {
    const r = entry({ BANHAMMER_TRUSTED_PROXIES: '198.19.100.0/26,proxy.example' }, []);
    expect(r.code).toBe(78);
    expect(r.stderr.split('\n')[0]).toBe(
      'banhammer-entrypoint: invalid configuration: trusted_proxies[1] = "proxy.example" (env BANHAMMER_TRUSTED_PROXIES): not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)',
    );
    expect(existsSync(join(tmp, 'run/apache.conf'))).toBe(false);
  }, 60_000);

  it('a missing map directory stops it too, naming the directory', () => {
    const r = entry({ BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: join(tmp, 'vol/banned.map') }, []);
    expect(r.code).toBe(78);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^banhammer-entrypoint: apache-map: cannot write map file .*: directory ${join(tmp, 'vol')} does not exist`));
  }, 60_000);

  describe.skipIf(apacheSkip !== null)(`Apache accepts what is rendered${apacheSkip ? ` (skipped: ${apacheSkip})` : ''}`, () => {
    /** apache2 -t (and the loaded modules) with the rendered apache.conf included as the image does. */
    function apacheCheck(): { code: number | null; out: string } {
      const conf = join(tmp, 'httpd.conf');
      writeFileSync(
        conf,
        [
          `ServerRoot ${tmp}`,
          `PidFile ${tmp}/httpd.pid`,
          `ErrorLog ${tmp}/error.log`,
          `LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so`,
          `LoadModule authz_core_module ${MODULES}/mod_authz_core.so`,
          'ServerName localhost',
          `LogFormat "%a %l %u %t \\"%r\\" %>s %O" combined`,
          `Include ${tmp}/run/apache.conf`,
          '',
        ].join('\n'),
      );
      const r = spawnSync(APACHE, ['-f', conf, '-t', '-D', 'DUMP_MODULES'], { encoding: 'utf8', timeout: 30_000 });
      return { code: r.status, out: r.stdout + r.stderr };
    }

    it.each([
      ['no proxies, iptables', {}, [], []],
      ['trusted proxies, iptables', { BANHAMMER_TRUSTED_PROXIES: '198.19.100.0/26 2001:db8:100::/48' }, ['remoteip_module'], ['rewrite_module']],
      ['apache-map without proxies', { BANHAMMER_ENFORCER: 'apache-map' }, ['rewrite_module'], []],
      ['apache-map behind proxies, X-Real-IP', { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_TRUSTED_PROXIES: '198.19.100.0/26', BANHAMMER_REMOTEIP_HEADER: 'X-Real-IP' }, ['remoteip_module', 'rewrite_module'], []],
    ] as const)('%s', (_label, extra, loaded, notLoaded) => {
      const env: Record<string, string> = { ...extra };
      if (env.BANHAMMER_ENFORCER === 'apache-map') env.BANHAMMER_MAP_FILE = join(tmp, 'run/banned.map');
      mkdirSync(join(tmp, 'run'), { recursive: true });
      const r = entry(env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      if (env.BANHAMMER_MAP_FILE) expect(statSync(env.BANHAMMER_MAP_FILE).mode & 0o777).toBe(0o644);
      const a = apacheCheck();
      expect(a.out).not.toMatch(/error|warn/i);
      expect(a.code).toBe(0);
      for (const m of loaded) expect(a.out).toContain(` ${m} (shared)`);
      for (const m of notLoaded) expect(a.out).not.toContain(` ${m} `);
    }, 60_000);
  });
});
