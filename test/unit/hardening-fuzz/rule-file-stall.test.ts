/**
 * Issue 9, round 2 audit (defect): a rule file in rules_dir (read at start and at every reload, on the
 * agent's event loop) is parsed with yaml's `uniqueKeys: true`, which compares every key of a mapping
 * with every other: one 256 KiB file (MAX_RULE_FILE_BYTES) of 26,000 keys takes ~7 s, and
 * rules_dir may hold 1,000 of them (hours). config/file.ts had the same and looks keys up in a set;
 * deep nesting within 256 KiB costs ~0.6 s a file (not tested here: too close to the bound). Invariant: any rule file is refused or accepted
 * within a second.
 */
import { describe, expect, it } from 'vitest';
import { parseRuleFile, MAX_RULE_FILE_BYTES } from '../../../src/detect/rule-file.js';

describe('a hostile rule file is refused quickly', () => {
  it.each([
    ['26,000 keys', Array.from({ length: 40_000 }, (_, i) => `k${i}: 1`).join('\n').slice(0, MAX_RULE_FILE_BYTES - 10)],
  ])('%s', (_name, text) => {
    const t = performance.now();
    const r = parseRuleFile('/rules/x.yaml', text, { defaultEnabled: true });
    expect(r.ok).toBe(false);
    expect(performance.now() - t).toBeLessThan(1000);
  }, 60_000);
  it('a duplicate key is still refused', () => {
    const r = parseRuleFile('/rules/x.yaml', 'name: x\nname: x\n', { defaultEnabled: true });
    expect(r.ok).toBe(false);
  });
});
