/**
 * The entrypoint validates the agent's configuration before anything starts ("An invalid value stops
 * the container here"), so a container never starts with Apache serving and the agent refusing to
 * start (exit 2, not restarted: unprotected). Its gate is `banhammer apache-conf --create-map`; here
 * the entrypoint runs the real built CLI (dist/) with the s6 programs replaced by recorders, and every
 * setting `banhammer run` refuses at start must stop the container with exit 78 before s6-svscan.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, runScript } from '../docker/script-harness.js';

const CLI = resolve(import.meta.dirname, '../../../bin/banhammer.js');
const sh = SHELLS[0]!; // dash (Debian's /bin/sh); the shell is not what this is about

describe('entrypoint gate (real CLI)', () => {
  let box: ScriptSandbox;
  let env: Record<string, string>;
  beforeEach(() => {
    box = new ScriptSandbox('bh-h2-gate-');
    writeFileSync(join(box.fakes, 'banhammer'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    box.fake('s6-svscan');
    mkdirSync(join(box.tmp, 'state'));
    env = { ...box.env, BH_SERVICES: join(DOCKER, 's6'), BANHAMMER_STATE_DIR: join(box.tmp, 'state'), BANHAMMER_INSTANCE: 'h2gate' };
  });
  afterEach(() => box.remove());

  const start = (extra: Record<string, string>) => runScript(sh.argv, join(DOCKER, 'bin/banhammer-entrypoint'), [], { ...env, ...extra });
  const refused = (extra: Record<string, string>, mention: string) => {
    const r = start(extra);
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr.split('\n')[0]).toMatch(/^banhammer-entrypoint: /);
    expect(r.stderr).toContain(mention);
    expect(box.recorded().filter((l) => l.startsWith('s6-svscan'))).toEqual([]);
    expect(existsSync(join(box.runDir, 'apache.conf'))).toBe(false);
  };

  it('a default configuration starts (s6-svscan runs)', () => {
    const r = start({});
    expect(r.code, r.stderr).toBe(0);
    expect(box.recorded()).toEqual([`s6-svscan ${join(box.tmp, 'service')}`]);
  });

  // What `banhammer run` itself refuses here (exit 2 at start; checked below) must stop the container.
  const missing = '/nonexistent/h2-secret';
  const SECRET_CASES: Array<[string, Record<string, string>]> = [
    ['webhook URL file', { BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: missing }],
    ['webhook token file', { BANHAMMER_NOTIFY_WEBHOOK_URL: 'https://hooks.example.org/x', BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: missing }],
    ['SMTP password file', { BANHAMMER_NOTIFY_SMTP_URL: 'smtp://127.0.0.1:1', BANHAMMER_NOTIFY_SMTP_FROM: 'a@example.org', BANHAMMER_NOTIFY_SMTP_TO: 'b@example.org', BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: missing }],
    ['Redis password file', { BANHAMMER_REDIS_URL: 'redis://127.0.0.1:1/', BANHAMMER_SHARE_GROUP: 'g', BANHAMMER_REDIS_PASSWORD_FILE: missing }],
  ];

  it.each(SECRET_CASES)('a missing %s stops the container with exit 78, naming the file', (_what, extra) => {
    refused(extra, missing);
  });

  it('an empty webhook URL file stops it too', () => {
    const f = join(box.tmp, 'empty-url');
    writeFileSync(f, '\n');
    refused({ BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: f }, f);
  });

  it('banhammer run does refuse those at start (exit 2), so the agent would stay down behind a serving Apache', () => {
    writeFileSync(join(box.tmp, 'access.log'), '');
    const r = spawnSync(process.execPath, [CLI, 'run'], {
      env: { PATH: process.env.PATH!, BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: join(box.tmp, 'access.log'), BANHAMMER_STATE_DIR: join(box.tmp, 'state'), BANHAMMER_SOCKET: join(box.tmp, 's.sock'), BANHAMMER_INSTANCE: 'h2gate', BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: missing },
      encoding: 'utf8',
      timeout: 15_000,
      killSignal: 'SIGINT',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(missing);
  });

  it.each<[string, Record<string, string>, string]>([
    ['a missing rules directory', { BANHAMMER_RULES_DIR: '/nonexistent/rules' }, '/nonexistent/rules'],
    ['a missing config file', { BANHAMMER_CONFIG: '/nonexistent/banhammer.yaml' }, '/nonexistent/banhammer.yaml'],
    ['a port range', { BANHAMMER_PORTS: '80-90' }, 'BANHAMMER_PORTS'],
    ['a port list with a shell separator', { BANHAMMER_PORTS: '80;81' }, 'BANHAMMER_PORTS'],
    ['an unknown rule', { BANHAMMER_RULES: 'no-such-rule' }, 'no-such-rule'],
    ['an unknown BANHAMMER_ variable', { BANHAMMER_PORT: '80' }, 'BANHAMMER_PORT'],
    ['a bad enforcer', { BANHAMMER_ENFORCER: 'ipfw' }, 'BANHAMMER_ENFORCER'],
    ['a bad instance name', { BANHAMMER_INSTANCE: 'a b' }, 'BANHAMMER_INSTANCE'],
  ])('%s stops the container with exit 78 (variant that holds)', (_what, extra, mention) => {
    refused(extra, mention);
  });
});
