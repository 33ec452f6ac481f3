/**
 * Issue 9, round 2 audit (defect): a rule file in rules_dir (read at start and at every reload, on the
 * agent's event loop) is parsed with yaml's `uniqueKeys: true`, which compares every key of a mapping
 * with every other: one 256 KiB file (MAX_RULE_FILE_BYTES) of 26,000 keys takes ~7 s, and
 * rules_dir may hold 1,000 of them (hours). Rule files are now read as the configuration file is
 * (config/yaml-document.ts): keys looked up in a set, and deep nesting or masses of tags and anchors
 * refused by one lexer pass before yaml parses. Invariant: any rule file is refused or accepted
 * within a second.
 */
import { describe, expect, it } from 'vitest';
import { parseRuleFile, MAX_RULE_FILE_BYTES } from '../../../src/detect/rule-file.js';
import { timedCpuRetry } from '../../support/cpu-time.js';

describe('a hostile rule file is refused quickly', () => {
  it.each([
    ['26,000 keys', Array.from({ length: 40_000 }, (_, i) => `k${i}: 1`).join('\n').slice(0, MAX_RULE_FILE_BYTES - 10)],
    ['256 KiB of [', '['.repeat(MAX_RULE_FILE_BYTES - 10)],
    ['nested block sequences on one line', `${'- '.repeat(100_000)}x`],
    ['60,000 tags', `a: ${'!t '.repeat(60_000)}x`],
  ])('%s', (_name, text) => {
    // CPU time, measured again while over (test/support/cpu-time.ts): the old parse took ~7 s every time.
    const [r, ms] = timedCpuRetry(() => parseRuleFile('/rules/x.yaml', text, { defaultEnabled: true }), 1000);
    expect(r.ok).toBe(false);
    expect(ms).toBeLessThan(1000);
  }, 60_000);
  it('a duplicate key is still refused, and says so', () => {
    const r = parseRuleFile('/rules/x.yaml', 'name: x\nname: x\n', { defaultEnabled: true });
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems.join('\n')).toMatch(/not valid YAML: Map keys must be unique/);
  });
  it('deep nesting says why it is refused', () => {
    const r = parseRuleFile('/rules/x.yaml', '['.repeat(10_000), { defaultEnabled: true });
    expect(r.ok ? [] : r.problems.join('\n')).toMatch(/nests collections more than 256 deep/);
  });
});
