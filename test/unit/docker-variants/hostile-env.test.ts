/**
 * Hostile environment values for the image's entrypoint, under dash and busybox sh: nothing a
 * variable says is ever run as shell code or expanded as a glob, and a bad value gives one clear
 * error (one line naming it, one hint line) and exit 78 before anything is rendered or started.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, envOf, runScript } from '../docker/script-harness.js';

const entry = join(DOCKER, 'bin/banhammer-entrypoint');

/** Values that try to run code (each would create CANARY), split, glob or smuggle a second line. */
const hostile = (canary: string): string[] => [
  `80;touch ${canary}`,
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `80 && touch ${canary}`,
  `80|touch ${canary}`,
  '80\n81',
  '80\r',
  '80 81',
  ' 80',
  '80 ',
  '8*',
  '[8]0',
  '8?8?',
  '~',
  '-80',
  '+80',
  '0x50',
  '080',
  '0',
  '00',
  '65536',
  '99999999999999999999',
  '8080\u0000',
  '٨٠', // Arabic-Indic digits
];

describe.each(SHELLS)('under $name', ({ argv }) => {
  let box: ScriptSandbox;
  let canary: string;
  let cwd: string;
  /** A fresh sandbox, its canary path, and files a glob in a value would match where the script runs. */
  const freshBox = (): void => {
    box = new ScriptSandbox('bh-h2-hostile-');
    canary = join(box.tmp, 'CANARY');
    cwd = join(box.tmp, 'cwd');
    mkdirSync(cwd);
    for (const f of ['8080', '8888', '80', 'x']) writeFileSync(join(cwd, f), '');
    box.fake('banhammer', "printf 'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\\n'");
    box.fake('s6-svscan');
  };
  beforeEach(freshBox);
  afterEach(() => box.remove());

  const start = (extra: Record<string, string>, args: string[] = []) =>
    runScript(argv, entry, args, { ...box.env, BH_SERVICES: join(DOCKER, 's6'), ...extra }, cwd);

  const refusedCleanly = (r: ReturnType<typeof start>, name: string) => {
    expect(r.code, r.stderr).toBe(78);
    expect(existsSync(canary), 'a value ran as shell code').toBe(false);
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    expect(lines, 'one message line and one hint line').toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^banhammer-entrypoint: ${name}`));
    expect(lines[1]).toMatch(/^  hint: /);
    expect(existsSync(join(box.runDir, 'apache.conf'))).toBe(false);
    expect(box.recorded()).toEqual([]); // neither the agent's CLI nor s6-svscan ran
  };

  for (const name of ['HTTP_PORT', 'HTTPS_PORT']) {
    it(`${name}: every hostile value is refused with exit 78, one message, nothing run`, () => {
      for (const v of hostile('CANARY_PLACEHOLDER')) {
        if (v.includes('\u0000')) continue; // an environment value cannot hold NUL
        const value = v.replace('CANARY_PLACEHOLDER', canary);
        const r = start({ [name]: value, ...(name === 'HTTPS_PORT' ? { HTTP_PORT: '8080' } : {}) });
        try {
          refusedCleanly(r, name);
        } catch (e) {
          throw new Error(`${name}=${JSON.stringify(value)}: ${(e as Error).message}\n${r.stderr}`);
        }
        box.remove();
        freshBox();
      }
    });
  }

  it.each([
    ['ACCESS_LOG_ROTATE_SIZE', '$(touch CANARY)'],
    ['ACCESS_LOG_ROTATE_SIZE', '10M;touch CANARY'],
    ['ACCESS_LOG_ROTATE_SIZE', '10 M'],
    ['ACCESS_LOG_ROTATE_SIZE', '1*'],
    ['ACCESS_LOG_ROTATE_SIZE', '10G'],
    ['ACCESS_LOG_ROTATE_SIZE', '10MM'],
    ['ACCESS_LOG_ROTATE_SIZE', '10\nM'],
    ['ACCESS_LOG_ROTATE_SIZE', 'M'],
    ['ACCESS_LOG_ROTATE_SIZE', '-10M'],
    ['ACCESS_LOG_ROTATE_KEEP', '$(touch CANARY)'],
    ['ACCESS_LOG_ROTATE_KEEP', '2 3'],
    ['ACCESS_LOG_ROTATE_KEEP', '101'],
    ['ACCESS_LOG_ROTATE_KEEP', '2\n3'],
    ['IMAGE_MODE', '$(touch CANARY)'],
    ['IMAGE_MODE', 'host;touch CANARY'],
    ['IMAGE_MODE', 'HOST'],
    ['IMAGE_MODE', 'app\nhost'],
    ['IMAGE_MODE', 'h*'],
  ])('%s=%j is refused with exit 78, one message, nothing run', (name, v) => {
    const r = start({ [name]: v.replace('CANARY', canary) });
    refusedCleanly(r, name);
  });

  it('BANHAMMER_* values are handed to the agent untouched (its loader judges them), never run or globbed', () => {
    const ports = `80,8*;touch ${canary} $(touch ${canary}) \`touch ${canary}\``;
    const path = `/var/log/a b/*.log`;
    box.fake('banhammer', `printf '%s\\n' "$BANHAMMER_PORTS" >"${join(box.tmp, 'ports')}"; printf '%s\\n' "$BANHAMMER_LOG_PATH" >"${join(box.tmp, 'path')}"`);
    const r = start({ BANHAMMER_PORTS: ports, BANHAMMER_LOG_PATH: path }, ['env']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(canary)).toBe(false);
    expect(readFileSync(join(box.tmp, 'ports'), 'utf8')).toBe(`${ports}\n`);
    expect(readFileSync(join(box.tmp, 'path'), 'utf8')).toBe(`${path}\n`);
    expect(envOf(r.stdout).BANHAMMER_PORTS).toBe(ports);
  });

  it('an empty HTTP_PORT means the default 80, an empty HTTPS_PORT means none', () => {
    const r = start({ HTTP_PORT: '', HTTPS_PORT: '' }, ['env']);
    expect(r.code, r.stderr).toBe(0);
    expect(envOf(r.stdout).BANHAMMER_PORTS).toBe('80');
    expect(readFileSync(join(box.runDir, 'apache.conf'), 'utf8')).toContain('\nListen 80\n');
    expect(readFileSync(join(box.runDir, 'apache.conf'), 'utf8')).not.toContain('https');
  });

  it('paths with spaces and glob characters (BH_* relocations) are used as they are', () => {
    const odd = join(box.tmp, 'a b [x] *');
    const env = { BH_RUN_DIR: join(odd, 'run'), BH_SCANDIR: join(odd, 'svc dir'), BH_LOG_DIR: join(odd, 'log dir'), BH_APACHE_DIR: join(odd, 'apache dir') };
    const r = start(env);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(odd, 'run/apache.conf'), 'utf8')).toContain(`Include ${join(odd, 'apache dir')}/banhammer-remoteip.conf`);
    expect(existsSync(join(odd, 'svc dir/banhammer/run'))).toBe(true);
    expect(readdirSync(join(odd, 'log dir'))).toEqual(expect.arrayContaining(['access', 'access.log']));
    expect(box.recorded().at(-1)).toBe(`s6-svscan ${join(odd, 'svc dir')}`);
  });
});
