/**
 * Hostile configuration files and rule directories (issue 9/10, round 5): check-config and the agent
 * (`banhammer run`, which loads the same way before it starts anything) refuse the same inputs with
 * the same message, quickly, without a stack trace.
 *
 * Fixed here: YAML's `!!omap`, `!!set`, `!!pairs`, `!!binary` and `!!timestamp` load as Map, Set,
 * bytes or a Date, which the schemas read as a mapping without keys. A config file tagged `!!set`
 * was an empty configuration ("OK", every setting of the file ignored), `rules: forbidden: !!omap
 * [...]` silently dropped the rule's settings, and a rule file's `match: !!omap [{status: [403]}]`
 * became a match of EVERY request (status any, no paths): a rule meant for 403s banned any client
 * making a few requests. Now refused where they stand, in the config file and in rule files.
 *
 * Pinned (already refused): alias bombs, duplicate keys, a 100 MB file, a FIFO, /dev/zero, a rules
 * directory of 100,000 files, a symlink loop, editor and package-manager leftovers beside rule files
 * (`.x.yaml`, `.#x.yaml`, `x.yaml~`, `x.yaml.swp`, `x.yaml.dpkg-old`: only `*.yaml`/`*.yml` not
 * starting with `.` are rules).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';

const root = mkdtempSync(join(tmpdir(), 'bh-h10-hostile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const file = (text: string): string => {
  const p = join(root, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
};
const ruleDir = (files: Record<string, string>): string => {
  const d = join(root, `d${n++}`);
  mkdirSync(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
};
const RULE = (name: string, match = 'match: { status: [403] }\n'): string => `name: ${name}\ndescription: d\n${match}maxretry: 3\nfindtime: 1m\nbantime: 1h\n`;

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_STATE_DIR: join(root, 'state'), BANHAMMER_SOCKET: join(root, 'bh.sock'), BANHAMMER_METRICS_ADDR: 'off', ...env },
    hostname: 'unit',
  };
  const t0 = Date.now();
  const code = await main(args, io);
  return { code, out, err, ms: Date.now() - t0 };
}

/** check-config refuses (exit 1) and run refuses before starting (exit 2), with the same message. */
async function bothRefuse(env: Record<string, string>, message: RegExp): Promise<void> {
  const check = await cli(['check-config'], env);
  expect(check.out).toBe('');
  expect(check.code).toBe(1);
  expect(check.err).toMatch(message);
  expect(check.err).not.toMatch(/\n\s+at /); // no stack trace
  expect(check.ms).toBeLessThan(10_000);
  const run = await cli(['run', '--dry-run'], env);
  expect(run.code).toBe(2);
  expect(run.err).toMatch(message);
  expect(run.err).not.toMatch(/\n\s+at /);
}

describe('YAML values that are not plain data are refused', () => {
  it.each([
    ['a file tagged !!set', '!!set\n? instance\n? rules\n', /!!set collection is not a plain list or mapping at line 2/],
    ['a file tagged !!omap', '!!omap\n- instance: web9\n', /!!omap collection/],
    ['a rule tagged !!omap', 'rules:\n  forbidden: !!omap\n    - bantime: 1d\n', /!!omap collection .* at line 3, column 5/],
    ['a match tagged !!omap', 'rules:\n  mine: { maxretry: 3, findtime: 1m, bantime: 1h, match: !!omap [ {status: [403]} ] }\n', /!!omap collection/],
    ['ignoreip tagged !!set', 'ignoreip: !!set\n  ? 198.18.0.1\n', /!!set collection/],
    ['a rule tagged !!pairs', 'rules:\n  forbidden: !!pairs\n    - enabled: false\n', /!!pairs collection/],
    ['a !!binary value', 'instance: !!binary aGVsbG8=\n', /tagged !!binary is not plain text/],
    ['a !!timestamp value', 'instance: !!timestamp 2001-12-14\n', /tagged !!timestamp is not plain text/],
  ])('in the config file: %s', async (_what, text, message) => {
    await bothRefuse({ BANHAMMER_CONFIG: file(text) }, message);
  });

  it('in a rule file: match: !!omap is refused, not read as a match of every request', async () => {
    const d = ruleDir({ 'two.yaml': RULE('two', 'match: !!omap\n  - status: [403]\n') });
    await bothRefuse({ BANHAMMER_RULES_DIR: d }, /rule file .*two\.yaml: not valid YAML: a !!omap collection is not a plain list or mapping at line 4/);
  });

  it('plain values and tags that stay plain (!!str, !!int, !!float, !!null) still load', async () => {
    const r = await cli(['check-config', '--json'], { BANHAMMER_CONFIG: file('instance: !!str web9\nmax_tracked: !!int 5000\nrules:\n  forbidden: { maxretry: !!int 7, findtime: !!float 60, enabled: true }\nmetrics_addr: !!null\n') });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { instance: string; maxTracked: number; rules: Record<string, { maxretry: number }> };
    expect(j.instance).toBe('web9');
    expect(j.maxTracked).toBe(5000);
    expect(j.rules.forbidden!.maxretry).toBe(7);
  });
});

describe('hostile files and directories: refused quickly by check-config and the agent alike', () => {
  it('an alias bomb, duplicate keys, a 100 MB file, a FIFO, /dev/zero', async () => {
    const bomb = ['a0: &a0 [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 10; i++) bomb.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
    bomb.push('rules: *a9');
    await bothRefuse({ BANHAMMER_CONFIG: file(`${bomb.join('\n')}\n`) }, /cannot be loaded: Excessive alias count/);
    await bothRefuse({ BANHAMMER_CONFIG: file('rules:\n  forbidden:\n    bantime: -1\n    bantime: 1h\n') }, /Map keys must be unique at line 4/);
    const big = join(root, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(100 * 1024 * 1024)}\n`);
    await bothRefuse({ BANHAMMER_CONFIG: big }, /is too large to be a configuration file/);
    rmSync(big);
    const fifo = join(root, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    await bothRefuse({ BANHAMMER_CONFIG: fifo }, /is not a regular file/);
    await bothRefuse({ BANHAMMER_CONFIG: '/dev/zero' }, /is not a regular file/);
  }, 60_000);

  it('a rules directory of 100,000 files, a symlink loop, a FIFO and /dev/zero as rule files', async () => {
    const many = join(root, 'many');
    mkdirSync(many);
    for (let i = 0; i < 100_000; i++) writeFileSync(join(many, `r${i}.yaml`), '');
    await bothRefuse({ BANHAMMER_RULES_DIR: many }, /holds 100000 rule files, at most 1000/);
    rmSync(many, { recursive: true, force: true });
    const loop = join(root, 'loop');
    mkdirSync(loop);
    symlinkSync(join(loop, 'b'), join(loop, 'a'));
    symlinkSync(join(loop, 'a'), join(loop, 'b'));
    symlinkSync(join(loop, 'a'), join(loop, 'x.yaml'));
    await bothRefuse({ BANHAMMER_RULES_DIR: join(loop, 'a') }, /rules directory .* cannot be read: ELOOP/);
    await bothRefuse({ BANHAMMER_RULES_DIR: loop }, /rule file .*x\.yaml: cannot be read: ELOOP/);
    const odd = ruleDir({});
    execFileSync('mkfifo', [join(odd, 'f.yaml')]);
    symlinkSync('/dev/zero', join(odd, 'z.yaml'));
    await bothRefuse({ BANHAMMER_RULES_DIR: odd }, /f\.yaml: cannot be read: .* not a regular file[\s\S]*z\.yaml: cannot be read: .* not a regular file/);
  }, 120_000);

  it('editor and package-manager leftovers beside a rule file are not rules', async () => {
    const broken = 'name: [this is not a rule\n';
    const d = ruleDir({
      'mine.yaml': RULE('mine'),
      '.mine.yaml': broken,
      '.#mine.yaml': broken,
      'mine.yaml~': broken,
      'mine.yaml.swp': broken,
      'mine.yaml.dpkg-old': broken,
      'mine.yaml.bak': broken,
      '.hidden.yml': broken,
      'README.md': broken,
    });
    const r = await cli(['check-config', '--json'], { BANHAMMER_RULES_DIR: d });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rules = Object.keys((JSON.parse(r.out) as { rules: Record<string, unknown> }).rules);
    expect(rules).toContain('mine');
    expect(rules.filter((x) => x.includes('mine') || x.includes('hidden'))).toEqual(['mine']);
  });
});
