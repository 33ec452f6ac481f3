/**
 * Configuration text reaching the operator's terminal (issue 9: hostile input must not rewrite what
 * the operator sees). A rule file is often someone else's work.
 *  - A rule description ("One line shown by `banhammer rules`", README) took a bidi override, an
 *    isolate, a line separator or a C1 control, and `banhammer rules` printed them raw (it replaced C0
 *    and C1 only); the config's own `rules:` even took a newline. Now refused at load, in both places.
 *  - check-config (text and --json) printed C1, bidi and separator characters of log paths and
 *    patterns raw (JSON.stringify and the yaml library leave them); now \uXXXX, reading back the same.
 *  - A configuration error showed the bad value with them raw, and a key or a source unquoted (a
 *    newline in a YAML key forged a problem line); `.nan` and 1e309 were shown as `null`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { resolveConfig } from '../../../src/config/load.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const dir = mkdtempSync(join(tmpdir(), 'bh-h2-cfgterm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string): string => {
  const f = join(dir, `c${n++}.yml`);
  writeFileSync(f, text);
  return f;
};
const rule = (extra: string): string => `rules:\n  mine:\n${extra}    match: { status: [403] }\n    maxretry: 3\n    findtime: 1m\n    bantime: 1h\n`;

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: { BANHAMMER_ENFORCER: 'log', ...env }, hostname: 'unit' };
  return { code: await main(args, io), out, err };
}

const HOSTILE_DESCRIPTIONS = ['evil\u202eesc', 'csi\u009b31m', 'iso\u2066late', 'sep\u2028arator', 'nel\u0085x', 'two\nlines', 'esc\x1b]0;t\x07'];

describe('rule descriptions are one line of printable text', () => {
  it.each(HOSTILE_DESCRIPTIONS)('%j in the config\'s rules: is refused by rules and check-config, the error escaped', async (desc) => {
    const f = file(rule(`    description: ${JSON.stringify(desc)}\n`));
    for (const cmd of ['rules', 'check-config']) {
      const r = await run([cmd, '--config', f]);
      expect(r.code, `${cmd}: ${r.out}`).not.toBe(0);
      expect(r.err).toMatch(/rules\.mine\.description/);
      expect(r.out + r.err).not.toMatch(UNSAFE);
    }
  });

  it.each(HOSTILE_DESCRIPTIONS)('%j in a rules_dir file is refused too', async (desc) => {
    const rulesDir = mkdtempSync(join(dir, 'rules-'));
    writeFileSync(join(rulesDir, 'mine.yml'), `name: mine\ndescription: ${JSON.stringify(desc)}\nmatch: { status: [403] }\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n`);
    const r = await run(['rules'], { BANHAMMER_RULES_DIR: rulesDir });
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/mine\.yml: description: must be one line/);
    expect(r.out + r.err).not.toMatch(UNSAFE);
  });

  it('ordinary descriptions (accents, other scripts, emoji) still load', async () => {
    const f = file(rule('    description: "Zugriff verweigert – 禁止 – запрещено 🚫"\n'));
    const r = await run(['rules', '--config', f]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('禁止');
  });
});

describe('check-config shows paths and patterns safely, and they read back the same', () => {
  const text = `log:\n  paths: ["/var/log/a\u202e.log", "/var/log/b\u0085c.log"]\nrules:\n  mine:\n    match: { status: [403], paths: ["^/x\u2066y"] }\n    maxretry: 3\n    findtime: 1m\n    bantime: 1h\n`;
  it('text', async () => {
    const f = file(text);
    const r = await run(['check-config', '--config', f]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(UNSAFE);
    const back = file(r.out);
    const a = resolveConfig({ env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_CONFIG: f }, hostname: 'unit' }).config;
    const b = resolveConfig({ env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_CONFIG: back }, hostname: 'unit' }).config;
    expect(b.log.paths).toEqual(a.log.paths);
    expect(b.rules.mine!.match.paths).toEqual(a.rules.mine!.match.paths);
  });
  it('--json', async () => {
    const r = await run(['check-config', '--config', file(text), '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(UNSAFE);
    expect(JSON.parse(r.out).log.paths).toEqual(['/var/log/a\u202e.log', '/var/log/b\u0085c.log']);
  });
});

describe('configuration errors', () => {
  it('a YAML key with a newline or a bidi override does not forge or reorder a problem line', async () => {
    const r = await run(['check-config', '--config', file('"ign\\noreip\\u202e": 1\n')]);
    expect(r.code).toBe(1);
    expect(r.err).not.toMatch(UNSAFE);
    expect(r.err.trimEnd().split('\n')).toHaveLength(2); // the header and one problem
  });
  it('a bad value with C1 or bidi characters is shown escaped', async () => {
    const r = await run(['check-config'], { BANHAMMER_INSTANCE: 'web\u202e\u009b1' });
    expect(r.code).toBe(1);
    expect(r.err).not.toMatch(UNSAFE);
    expect(r.err).toContain('\\u202e');
  });
  it.each([['.nan', 'NaN'], ['.inf', 'Infinity'], ['1e309', 'Infinity']])('maxretry %s is shown as %s, not null', async (yaml, shown) => {
    const r = await run(['check-config', '--config', file(rule('').replace('maxretry: 3', `maxretry: ${yaml}`))]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`rules.mine.maxretry = ${shown}`);
  });
});
