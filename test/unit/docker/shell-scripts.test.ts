/**
 * The container scripts under docker/ must run under both shells the images have as /bin/sh (dash on
 * Debian, busybox ash on Alpine). Each script is syntax-checked with both, then run for real with
 * paths relocated into a temporary directory (BH_* variables) and the s6 programs replaced by small
 * recorders on PATH, so the logic (rendering, back-off, exit codes, stop order) is exercised without
 * a container. Shells that are not installed are skipped with a reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, envOf, runScript } from './script-harness.js';

function shellScripts(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...shellScripts(p));
    else if (readFileSync(p, 'utf8').startsWith('#!/bin/sh')) out.push(p);
  }
  return out.sort();
}

const SCRIPTS = shellScripts(DOCKER);

it('finds the container scripts', () => {
  const names = SCRIPTS.map((s) => s.slice(DOCKER.length + 1));
  expect(names).toEqual(
    expect.arrayContaining([
      'bin/banhammer-entrypoint',
      'bin/banhammer-shutdown',
      'bin/banhammer-apache',
      'bin/banhammer-healthcheck',
      's6/.s6-svscan/SIGTERM',
      's6/.s6-svscan/finish',
      's6/apache/run',
      's6/apache/finish',
      's6/apache/log/run',
      's6/banhammer/run',
      's6/banhammer/finish',
      's6/syslogd/run',
    ]),
  );
  for (const s of SCRIPTS) expect(statSync(s).mode & 0o111, `${s} is executable`).not.toBe(0);
});

describe.each(SHELLS)('under $name', ({ argv }) => {
  let box: ScriptSandbox;
  let tmp: string;
  let runDir: string;
  let calls: string;
  let env: Record<string, string>;
  const fake = (name: string, body?: string): void => box.fake(name, body);
  const recorded = (): string[] => box.recorded();

  beforeEach(() => {
    box = new ScriptSandbox('bh-docker-sh-');
    ({ tmp, runDir, calls } = box);
    env = { ...box.env };
  });
  afterEach(() => box.remove());

  it.each(SCRIPTS.map((s) => [s.slice(DOCKER.length + 1), s]))('%s parses (-n)', (_name, script) => {
    const r = spawnSync(argv[0]!, [...argv.slice(1), '-n', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  describe('entrypoint', () => {
    const entry = join(DOCKER, 'bin/banhammer-entrypoint');
    const start = (extra: Record<string, string>, args = ['env']) =>
      runScript(argv, entry, args, { ...env, BH_SERVICES: join(DOCKER, 's6'), ...extra });
    const confLines = () => readFileSync(join(runDir, 'apache.conf'), 'utf8').split('\n').filter((l) => !l.trimStart().startsWith('#'));
    /** The rendered tail that picks banhammer-map.conf or banhammer-remoteip.conf by the Defines above it. */
    const layer7 = (apacheDir: string) => [
      '<IfDefine BANHAMMER_MAP_FILE>',
      `    Include ${apacheDir}/banhammer-map.conf`,
      '    CustomLog /proc/self/fd/1 combined env=!banhammer_banned',
      '</IfDefine>',
      '<IfDefine !BANHAMMER_MAP_FILE>',
      `    Include ${apacheDir}/banhammer-remoteip.conf`,
      '    CustomLog /proc/self/fd/1 combined',
      '</IfDefine>',
      '',
    ];

    // The agent's CLI stands in with the Defines it prints for a default configuration.
    beforeEach(() => fake('banhammer', "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\\n'"));

    it('defaults: port 80, BANHAMMER_PORTS=80, log path, rendered Listen, Defines and CustomLog, fresh service tree', () => {
      const r = start({});
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const e = envOf(r.stdout);
      expect(e.HTTP_PORT).toBe('80');
      expect(e.BANHAMMER_PORTS).toBe('80');
      expect(e.BANHAMMER_LOG_PATH).toBe(join(tmp, 'log/access/current'));
      expect(e.BANHAMMER_LOG_FORMAT).toBe('apache-combined');
      expect(e.BH_ACCESS_LOG_BYTES).toBe('10485760');
      expect(e.BH_ACCESS_LOG_KEEP).toBe('2');
      expect(recorded()).toEqual(['banhammer apache-conf --create-map']);
      expect(confLines()).toEqual(['Listen 80', 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For', ...layer7('/etc/banhammer/apache')]);
      expect(readdirSync(runDir).sort()).toEqual(['apache.conf']);
      expect(readlinkSync(join(tmp, 'log/access.log'))).toBe('access/current');
      expect(existsSync(join(tmp, 'service/.s6-svscan/SIGTERM'))).toBe(true);
      expect(statSync(join(tmp, 'service/banhammer/run')).mode & 0o111).not.toBe(0);
    });

    it("the log is read as the image's own format only when it is the image's log and nothing else chose one", () => {
      expect(envOf(start({ BANHAMMER_LOG_FORMAT: 'auto' }).stdout).BANHAMMER_LOG_FORMAT).toBe('auto');
      expect(envOf(start({ BANHAMMER_CONFIG: '/etc/banhammer/banhammer.yaml' }).stdout).BANHAMMER_LOG_FORMAT).toBeUndefined();
      expect(envOf(start({ BANHAMMER_LOG_PATH: '/var/log/other/*.log' }).stdout).BANHAMMER_LOG_FORMAT).toBeUndefined();
    });

    it('HTTPS_PORT adds a Listen (under mod_ssl) and a port; a user BANHAMMER_PORTS wins', () => {
      const r = start({ HTTP_PORT: '8081', HTTPS_PORT: '8443' });
      expect(r.code).toBe(0);
      expect(envOf(r.stdout).BANHAMMER_PORTS).toBe('8081,8443');
      const conf = readFileSync(join(runDir, 'apache.conf'), 'utf8');
      expect(conf).toContain('Listen 8081\n<IfModule ssl_module>\n    Listen 8443 https\n</IfModule>\n');
      const own = start({ HTTP_PORT: '8081', BANHAMMER_PORTS: '8081,9000', BANHAMMER_LOG_PATH: '/x.log' });
      expect(envOf(own.stdout).BANHAMMER_PORTS).toBe('8081,9000');
      expect(envOf(own.stdout).BANHAMMER_LOG_PATH).toBe('/x.log');
    });

    it("a user BANHAMMER_PORTS without Apache's port is kept, with one warning per port left out (kernel enforcers only)", () => {
      const left = start({ HTTP_PORT: '8081', HTTPS_PORT: '8443', BANHAMMER_PORTS: '9000, 8443' });
      expect(left.code).toBe(0);
      expect(envOf(left.stdout).BANHAMMER_PORTS).toBe('9000, 8443');
      expect(left.stderr).toContain('BANHAMMER_PORTS=9000, 8443 leaves out port 8081, where Apache listens');
      expect(left.stderr).not.toContain('port 8443');
      expect(left.stderr.match(/warning/g)).toHaveLength(1);
      expect(start({ HTTP_PORT: '8081', BANHAMMER_PORTS: '8081,9000' }).stderr).toBe('');
      expect(start({ HTTP_PORT: '8081', BANHAMMER_PORTS: '18081' }).stderr).toContain('leaves out port 8081');
      expect(start({ HTTP_PORT: '8081', BANHAMMER_PORTS: '9000', BANHAMMER_ENFORCER: 'apache-map' }).stderr).toBe('');
    });

    it('converts ACCESS_LOG_ROTATE_SIZE and _KEEP', () => {
      const r = start({ ACCESS_LOG_ROTATE_SIZE: '4K', ACCESS_LOG_ROTATE_KEEP: '7' });
      expect(envOf(r.stdout).BH_ACCESS_LOG_BYTES).toBe('4096');
      expect(envOf(r.stdout).BH_ACCESS_LOG_KEEP).toBe('7');
      expect(envOf(start({ ACCESS_LOG_ROTATE_SIZE: '2M' }).stdout).BH_ACCESS_LOG_BYTES).toBe('2097152');
    });

    it.each([
      [{ HTTP_PORT: '80x' }, "HTTP_PORT='80x' is not a TCP port"],
      [{ HTTP_PORT: '0' }, "HTTP_PORT='0' is not a TCP port"],
      [{ HTTP_PORT: '65536' }, "HTTP_PORT='65536' is not a TCP port"],
      [{ HTTP_PORT: '8080', HTTPS_PORT: '8080' }, 'HTTPS_PORT=8080 equals HTTP_PORT'],
      [{ HTTPS_PORT: '-1' }, "HTTPS_PORT='-1' is not a TCP port"],
      [{ ACCESS_LOG_ROTATE_SIZE: 'big' }, "ACCESS_LOG_ROTATE_SIZE='big' is not a size"],
      [{ ACCESS_LOG_ROTATE_SIZE: '1K' }, "ACCESS_LOG_ROTATE_SIZE='1K' is outside 4K..255M"],
      [{ ACCESS_LOG_ROTATE_SIZE: '300M' }, "ACCESS_LOG_ROTATE_SIZE='300M' is outside 4K..255M"],
      [{ ACCESS_LOG_ROTATE_KEEP: '0' }, "ACCESS_LOG_ROTATE_KEEP='0' is outside 1..100"],
    ])('refuses %o with exit 78 and a hint', (bad, message) => {
      const r = start(bad);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toMatch(/hint: /);
      expect(existsSync(join(runDir, 'apache.conf'))).toBe(false);
    });

    it('puts the Defines the agent prints (trusted proxies, apache-map) before the blocks that use them', () => {
      fake(
        'banhammer',
        "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Real-IP\\nDefine BANHAMMER_TRUSTED_PROXIES \"198.19.100.0/26 2001:db8:100::/48\"\\nDefine BANHAMMER_MAP_FILE /run/banhammer/banned.map\\n'",
      );
      const r = start({ BH_APACHE_DIR: '/x/apache', HTTP_PORT: '8081' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(confLines()).toEqual([
        'Listen 8081',
        'Define BANHAMMER_REMOTEIP_HEADER X-Real-IP',
        'Define BANHAMMER_TRUSTED_PROXIES "198.19.100.0/26 2001:db8:100::/48"',
        'Define BANHAMMER_MAP_FILE /run/banhammer/banned.map',
        ...layer7('/x/apache'),
      ]);
    });

    it('apache-map: warns once for each <VirtualHost> that does not turn RewriteEngine on (Apache serves banned clients there), from Apache\'s own vhost list', () => {
      fake('banhammer', "printf 'Define BANHAMMER_MAP_FILE /run/banhammer/banned.map\\n'");
      const site = join(tmp, 'my site.conf');
      writeFileSync(
        site,
        [
          '<VirtualHost *:8081>', // 1: plain: not enforced
          '  ServerName plain.test',
          '</VirtualHost>',
          '  <virtualhost *:8081>', // 4: on (any case, indented)
          '    rewriteengine   on',
          '  </virtualhost>',
          '<VirtualHost *:8081>', // 7: on, then off: the last one counts
          '  RewriteEngine On',
          '  RewriteEngine Off',
          '</VirtualHost>',
          '<VirtualHost *:8081>', // 11: on, but ignores the main server's rules
          '  RewriteEngine On',
          '  RewriteOptions IgnoreInherit',
          '</VirtualHost>',
          '<VirtualHost *:8081>', // 15: on, after a comment naming the engine off
          '  # RewriteEngine Off',
          '  RewriteEngine On',
          '</VirtualHost>',
          '',
        ].join('\n'),
      );
      // What `apache2 -t -D DUMP_VHOSTS` prints (Debian's Apache 2.4): name (file:line), a vhost on two lines when it is the default.
      const list = [
        'VirtualHost configuration:',
        '*:8081                 is a NameVirtualHost',
        `         default server plain.test (${site}:1)`,
        `         port 8081 namevhost plain.test (${site}:1)`,
        `         port 8081 namevhost own.test (${site}:4)`,
        `         port 8081 namevhost off.test (${site}:7)`,
        `         port 8081 namevhost lbl.test (${site}:11)`,
        `         port 8081 namevhost ok.test (${site}:15)`,
      ];
      fake('banhammer-apache', `[ "$*" = '-t -D DUMP_VHOSTS' ] || exit 9; cat <<'EOF'\n${list.join('\n')}\nEOF`);
      const r = start({ HTTP_PORT: '8081' });
      expect(r.code).toBe(0);
      const warned = [...r.stderr.matchAll(/warning: the <VirtualHost> at (.*):(\d+) has no `RewriteEngine On`/g)].map((m) => `${m[1]}:${m[2]}`);
      expect(warned).toEqual([`${site}:1`, `${site}:11`, `${site}:7`]);
      expect(r.stderr).toMatch(/\n  hint: add `RewriteEngine On` inside that <VirtualHost>/);
      // Not with another enforcer, and nothing when Apache cannot list its vhosts.
      fake('banhammer', "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\\n'");
      expect(start({ HTTP_PORT: '8081' }).stderr).toBe('');
      fake('banhammer', "printf 'Define BANHAMMER_MAP_FILE /run/banhammer/banned.map\\n'");
      fake('banhammer-apache', 'echo "AH00526: Syntax error" >&2; exit 1');
      expect(start({ HTTP_PORT: '8081' }).stderr).toBe('');
    });

    it("a configuration the agent refuses stops the container with the agent's one-line reason (exit 78)", () => {
      const reason = 'invalid configuration: trusted_proxies[0] = "10.0.0.0/33" (env BANHAMMER_TRUSTED_PROXIES): not an IPv4/IPv6 address or CIDR';
      fake('banhammer', `echo 'banhammer: ${reason}' >&2; exit 2`);
      const r = start({}, []);
      expect(r.code).toBe(78);
      expect(r.stderr.split('\n')[0]).toBe(`banhammer-entrypoint: ${reason}`);
      expect(r.stderr).toMatch(/\n  hint: .*check-config/);
      expect(existsSync(join(runDir, 'apache.conf'))).toBe(false);
      expect(readdirSync(runDir)).toEqual([]);
      expect(recorded()).toEqual(['banhammer apache-conf --create-map']); // s6-svscan never ran
    });

    it('with a command (e.g. banhammer check-config) a refused configuration is only a warning', () => {
      fake('banhammer', "echo 'banhammer: invalid configuration: x' >&2; exit 2");
      const r = start({}, ['echo', 'ran']);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe('ran');
      expect(r.stderr.trim()).toBe('banhammer-entrypoint: warning: invalid configuration: x');
      expect(confLines()).toEqual(['Listen 80', ...layer7('/etc/banhammer/apache')]);
    });

    it('discards state of a previous run (docker restart) and execs s6-svscan on the scan dir', () => {
      for (const f of ['stopping', 'exit-code', 'agent-crashes']) writeFileSync(join(runDir, f), '1\n');
      mkdirSync(join(tmp, 'service/stale/supervise'), { recursive: true });
      fake('s6-svscan');
      const r = start({}, []);
      expect(r.code).toBe(0);
      expect(recorded()).toEqual(['banhammer apache-conf --create-map', `s6-svscan ${join(tmp, 'service')}`]);
      for (const f of ['stopping', 'exit-code', 'agent-crashes']) expect(existsSync(join(runDir, f))).toBe(false);
      expect(existsSync(join(tmp, 'service/stale'))).toBe(false);
      expect(readFileSync(join(runDir, 'svscan.pid'), 'utf8').trim()).toMatch(/^\d+$/);
    });
  });

  describe('agent service', () => {
    const svc = join(DOCKER, 's6/banhammer');

    it('run: no delay at first, then 1, 2, 4 … capped at 60 s per crash in a row', () => {
      fake('banhammer');
      fake('sleep');
      const delays: string[] = [];
      for (const crashes of [0, 1, 2, 3, 6, 7, 12]) {
        writeFileSync(join(runDir, 'agent-crashes'), `${crashes}\n`);
        writeFileSync(calls, '');
        const r = runScript(argv, join(svc, 'run'), [], env);
        expect(r.code).toBe(0);
        const c = recorded();
        expect(c.at(-1)).toBe('banhammer run');
        delays.push(c.find((l) => l.startsWith('sleep '))?.slice(6) ?? '-');
      }
      expect(delays).toEqual(['-', '1', '2', '4', '32', '60', '60']);
      expect(readFileSync(join(runDir, 'agent-started'), 'utf8').trim()).toMatch(/^\d+$/);
    });

    it('finish: a crash is counted; a minute of uptime resets the count', () => {
      fake('s6-svc');
      writeFileSync(join(runDir, 'agent-started'), `${Math.floor(Date.now() / 1000)}\n`);
      runScript(argv, join(svc, 'finish'), ['1', '0'], env);
      runScript(argv, join(svc, 'finish'), ['256', '11'], env);
      expect(readFileSync(join(runDir, 'agent-crashes'), 'utf8').trim()).toBe('2');
      writeFileSync(join(runDir, 'agent-started'), `${Math.floor(Date.now() / 1000) - 120}\n`);
      const r = runScript(argv, join(svc, 'finish'), ['70', '0'], env);
      expect(readFileSync(join(runDir, 'agent-crashes'), 'utf8').trim()).toBe('1');
      expect(r.stderr).toMatch(/the agent exited \(status 70\); restarting it/);
      expect(recorded()).toEqual([]);
    });

    it.each(['2', '78'])('finish: status %s (configuration, permission) keeps it down and says so once', (code) => {
      fake('s6-svc');
      const r = runScript(argv, join(svc, 'finish'), [code, '0'], env, svc);
      expect(recorded()).toEqual(['s6-svc -d .']);
      expect(r.stderr).toMatch(new RegExp(`stopped with status ${code} .*not restarted.*Apache keeps serving`));
      expect(existsSync(join(runDir, 'agent-crashes'))).toBe(false);
    });

    it('finish: nothing happens while the container is stopping', () => {
      fake('s6-svc');
      writeFileSync(join(runDir, 'stopping'), '');
      const r = runScript(argv, join(svc, 'finish'), ['1', '0'], env);
      expect(r.code).toBe(0);
      expect(recorded()).toEqual([]);
      expect(existsSync(join(runDir, 'agent-crashes'))).toBe(false);
    });
  });

  describe('apache service', () => {
    const finish = join(DOCKER, 's6/apache/finish');

    /** A child in its own process group (like Apache under s6), and one standing in for PID 1. */
    async function victims(): Promise<{ group: number; init: number; dead: (pid: number) => Promise<NodeJS.Signals | null> }> {
      const spawnSleep = () => spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      const g = spawnSleep();
      const i = spawnSleep();
      const exits = new Map<number, Promise<NodeJS.Signals | null>>();
      for (const c of [g, i]) exits.set(c.pid!, new Promise((res) => c.on('exit', (_code, sig) => res(sig))));
      return {
        group: g.pid!,
        init: i.pid!,
        dead: (pid) => exits.get(pid)!,
      };
    }

    it('Apache killed by a signal: records 128+signal, keeps Apache down, kills its group, signals PID 1', async () => {
      fake('s6-svc');
      const v = await victims();
      writeFileSync(join(runDir, 'apache.pgid'), `${v.group}\n`);
      writeFileSync(join(runDir, 'svscan.pid'), `${v.init}\n`);
      const r = runScript(argv, finish, ['256', '9'], env, join(DOCKER, 's6/apache'));
      expect(r.code).toBe(0);
      expect(readFileSync(join(runDir, 'exit-code'), 'utf8').trim()).toBe('137');
      expect(recorded()).toEqual(['s6-svc -d .']);
      expect(r.stderr).toMatch(/Apache exited \(killed by signal 9\); stopping the container with status 137/);
      expect(await v.dead(v.group)).toBe('SIGKILL');
      expect(await v.dead(v.init)).toBe('SIGTERM');
    });

    it('Apache exiting 0 on its own still stops the container with a failure status', async () => {
      fake('s6-svc');
      const v = await victims();
      writeFileSync(join(runDir, 'svscan.pid'), `${v.init}\n`);
      process.kill(v.group, 'SIGKILL');
      runScript(argv, finish, ['0', '0'], env);
      expect(readFileSync(join(runDir, 'exit-code'), 'utf8').trim()).toBe('1');
      expect(await v.dead(v.init)).toBe('SIGTERM');
    });

    it('during a stop it only clears leftover workers', async () => {
      fake('s6-svc');
      writeFileSync(join(runDir, 'stopping'), '');
      const v = await victims();
      writeFileSync(join(runDir, 'apache.pgid'), `${v.group}\n`);
      runScript(argv, finish, ['0', '0'], env);
      expect(recorded()).toEqual([]);
      expect(existsSync(join(runDir, 'exit-code'))).toBe(false);
      expect(await v.dead(v.group)).toBe('SIGKILL');
      process.kill(v.init, 'SIGKILL');
    });
  });

  describe('PID 1 finish', () => {
    it.each([
      ['137', 137],
      ['', 0],
      ['junk', 0],
    ])('exit-code file %j gives container status %d', (content, status) => {
      if (content !== '') writeFileSync(join(runDir, 'exit-code'), content);
      expect(runScript(argv, join(DOCKER, 's6/.s6-svscan/finish'), [], env).code).toBe(status);
    });
  });

  describe('shutdown', () => {
    const shutdown = join(DOCKER, 'bin/banhammer-shutdown');

    it('stops the agent first (with AGENT_STOP_TIMEOUT), then Apache, then syslogd, then s6-svscan', () => {
      fake('s6-svok');
      fake('s6-svstat', 'echo true');
      fake('s6-svc');
      fake('s6-svscanctl');
      const svc = join(tmp, 'service');
      const r = runScript(argv, shutdown, [], { ...env, AGENT_STOP_TIMEOUT: '9' });
      expect(r.code).toBe(0);
      expect(existsSync(join(runDir, 'stopping'))).toBe(true);
      expect(recorded().filter((l) => l.startsWith('s6-svc ') || l.startsWith('s6-svscanctl'))).toEqual([
        `s6-svc -wD -T 9000 -d ${svc}/banhammer`,
        `s6-svc -wD -T 5000 -d ${svc}/apache`,
        `s6-svc -wD -T 1000 -d ${svc}/syslogd`,
        `s6-svscanctl -t ${svc}`,
      ]);
      expect(r.stderr).toMatch(/stopping the banhammer agent.*up to 9 s/);
    });

    it('kills an agent that overstays, and does not wait for services already down', () => {
      fake('s6-svok');
      fake('s6-svstat', 'case $3 in */apache) echo false ;; *) echo true ;; esac');
      fake('s6-svc', 'case "$*" in "-wD -T 6000 -d "*banhammer) exit 99 ;; esac');
      fake('s6-svscanctl');
      const svc = join(tmp, 'service');
      const r = runScript(argv, shutdown, [], env);
      expect(r.code).toBe(0);
      expect(recorded().filter((l) => l.startsWith('s6-svc '))).toEqual([
        `s6-svc -wD -T 6000 -d ${svc}/banhammer`,
        `s6-svc -k ${svc}/banhammer`,
        `s6-svc -wD -T 2000 -d ${svc}/banhammer`,
        `s6-svc -d ${svc}/apache`,
        `s6-svc -wD -T 1000 -d ${svc}/syslogd`,
      ]);
      expect(r.stderr).toMatch(/banhammer did not stop within 6 s; killing it/);
    });

    it('a bad AGENT_STOP_TIMEOUT falls back to 6 s and says so', () => {
      fake('s6-svok');
      fake('s6-svstat', 'echo true');
      fake('s6-svc');
      fake('s6-svscanctl');
      const r = runScript(argv, shutdown, [], { ...env, AGENT_STOP_TIMEOUT: 'soon' });
      expect(r.stderr).toMatch(/AGENT_STOP_TIMEOUT='soon' is not a number of seconds; using 6/);
      expect(recorded()).toContain(`s6-svc -wD -T 6000 -d ${join(tmp, 'service')}/banhammer`);
    });
  });

  describe('healthcheck', () => {
    const hc = join(DOCKER, 'bin/banhammer-healthcheck');
    const STATUS = (failing = 0) => `${JSON.stringify({ instance: 'web', enforcer: 'iptables', since: '2026-11-23T10:00:00.000Z', files: [], rules: [], health: { stateError: null, enforceFailing: failing, refused: 0, repairs: 0, skewedLines: 0 } })}\n`;
    const printStatus = (failing = 0) => `printf '%s\\n' '${STATUS(failing).trim()}'`;

    it('healthy when Apache answers and `banhammer status` answers; names the instance', () => {
      fake('node');
      fake('banhammer', printStatus());
      const r = runScript(argv, hc, [], { ...env, HTTP_PORT: '8081' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe('healthy: Apache answers on port 8081; agent web (enforcer iptables) answers banhammer status');
      const c = recorded(); // the node -e script spans several lines
      expect(c[0]).toMatch(/^node -e/);
      expect(c.at(-2)).toMatch(/ 8081$/);
      expect(c.at(-1)).toBe('banhammer status --json --brief');
    });

    it('unhealthy when the enforcer keeps failing (3 batches in a row), healthy below that', () => {
      fake('node');
      fake('banhammer', printStatus(3));
      let r = runScript(argv, hc, [], env);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe('unhealthy: agent web cannot apply bans (enforcer iptables failed 3 batches in a row; see docker logs)');
      fake('banhammer', printStatus(2));
      r = runScript(argv, hc, [], env);
      expect(r.code).toBe(0);
    });

    it('unhealthy when Apache does not answer (the agent is not asked)', () => {
      fake('node', 'exit 1');
      fake('banhammer');
      const r = runScript(argv, hc, [], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^unhealthy: Apache does not answer on 127\.0\.0\.1:80$/m);
      expect(recorded().some((l) => l.startsWith('banhammer'))).toBe(false);
    });

    it('unhealthy, with the CLI\'s reason, when the agent does not answer', () => {
      fake('node');
      fake('banhammer', 'echo "banhammer: banhammer is not running (no control socket at /run/banhammer/banhammer.sock)" >&2; exit 2');
      const r = runScript(argv, hc, [], env);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        'unhealthy: the banhammer agent is not running or does not answer (see docker logs): banhammer: banhammer is not running (no control socket at /run/banhammer/banhammer.sock)',
      );
    });
  });

  it('the access-log service hands the rendered size and count to s6-log', () => {
    fake('s6-log');
    runScript(argv, join(DOCKER, 's6/apache/log/run'), [], { ...env, BH_ACCESS_LOG_BYTES: '4096', BH_ACCESS_LOG_KEEP: '7' });
    expect(recorded()).toEqual([`s6-log -l 0 -b n7 s4096 1 ${join(tmp, 'log')}/access`]);
  });
});
