/**
 * A boolean takes the same words in every place it can be written (issue 10, leftover 3): the config
 * file (`rules: NAME: enabled:`), a rule file of rules_dir (`enabled:`) and the environment
 * (BANHAMMER_RULE_<NAME>_ENABLED). YAML 1.2 reads `off`, `no`, `yes` as strings, so `enabled: off`
 * was refused in the file ("expected true or false") while the environment took `off`, and the
 * environment's own message named only true and false. Now all three take true/false, yes/no,
 * on/off, 1/0 (any case), and refuse anything else with one message naming them all.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.js';
import { isBanhammerError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-h10-bool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const MATCH = 'description: mine\nmatch: { status: [403] }\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n';

/** `enabled` of rule `mine` when the word is written in `where`, or the problem text. */
function enabledVia(where: 'file' | 'rules_dir' | 'env', word: string): boolean | string {
  const d = join(dir, `d${n++}`);
  mkdirSync(d);
  const env: Record<string, string> = { BANHAMMER_ENFORCER: 'log' };
  if (where === 'file') {
    writeFileSync(join(d, 'c.yaml'), `rules:\n  mine:\n    enabled: ${word}\n${MATCH.replace(/^/gm, '    ').trimEnd()}\n`);
    env.BANHAMMER_CONFIG = join(d, 'c.yaml');
  } else {
    writeFileSync(join(d, 'mine.yaml'), `name: mine\n${where === 'rules_dir' ? `enabled: ${word}\n` : ''}${MATCH}`);
    env.BANHAMMER_RULES_DIR = d;
    if (where === 'env') env.BANHAMMER_RULE_MINE_ENABLED = word;
  }
  try {
    return resolveConfig({ env, hostname: 'unit' }).config.rules.mine!.enabled;
  } catch (e) {
    if (!isBanhammerError(e)) throw e;
    return e.message;
  }
}

const WORDS: [string, boolean][] = [
  ['true', true],
  ['false', false],
  ['yes', true],
  ['no', false],
  ['on', true],
  ['off', false],
  ['1', true],
  ['0', false],
  ['OFF', false],
  ['Yes', true],
  ["'off'", false],
  ['"on"', true],
];

describe('every spelling of a boolean means the same in the file, a rule file and the environment', () => {
  it.each(WORDS)('%s', (word, want) => {
    expect(enabledVia('file', word)).toBe(want);
    expect(enabledVia('rules_dir', word)).toBe(want);
    // The environment has no quotes: the word itself.
    expect(enabledVia('env', word.replace(/^['"]|['"]$/g, ''))).toBe(want);
  });

  it.each(['maybe', '2', '-1', 'enable', 'nein', '[true]', '{}', '""', 'null', 'truee'])('%s is refused everywhere, naming every allowed word', (word) => {
    for (const where of ['file', 'rules_dir', 'env'] as const) {
      if (where === 'env' && /^[[{"]|^null$/.test(word)) continue;
      const r = enabledVia(where, word);
      expect(typeof r, `${where} ${word}`).toBe('string');
      expect(r, `${where} ${word}`).toMatch(/enabled.*expected true or false \(or yes\/no, on\/off, 1\/0\)/);
    }
  });
});
