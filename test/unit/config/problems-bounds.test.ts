/**
 * The problem report is bounded in bytes and in time, whatever the input: every line's key, value,
 * source and message are shortened with a visible marker, the lines stop at MAX_REPORT_CHARS, and
 * "did you mean" is looked up for the first problems only, by a distance that skips hopeless names.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadInput } from '../../../src/config/load.js';
import {
  MAX_KEY_CHARS,
  MAX_MESSAGE_CHARS,
  MAX_REPORT_CHARS,
  MAX_SOURCE_CHARS,
  closest,
  formatProblem,
  formatProblems,
  shorten,
  suggester,
} from '../../../src/config/problems.js';
import { BanhammerError } from '../../../src/errors.js';
import { timedCpuRetry } from '../../support/cpu-time.js';

function failure(input: LoadInput): BanhammerError {
  try {
    loadConfig(input);
  } catch (e) {
    if (e instanceof BanhammerError) return e;
    throw e;
  }
  throw new Error('expected an invalid configuration');
}
// CPU time, measured again while over the bound (test/support/cpu-time.ts): a loaded machine's
// preemption does not count, a real stall (seconds) fails every run.
const timed = <T>(f: () => T, boundMs: number): [T, number] => timedCpuRetry(f, boundMs);
const fileInput = (yaml: string): LoadInput => ({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'u', readFile: () => yaml });

describe('shorten', () => {
  it('keeps short text, cuts long text in the middle with a marker, within the limit', () => {
    expect(shorten('abc', 10)).toBe('abc');
    const s = shorten(`${'a'.repeat(1000)}END`, 100);
    expect(s.length).toBeLessThanOrEqual(100);
    expect(s).toMatch(/^a+…\[\d+ characters cut\]…a*END$/);
  });
  it('never splits a surrogate pair', () => {
    for (let n = 40; n < 60; n++) {
      const s = shorten('😀'.repeat(500), n);
      expect(s).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
  });
});

describe('formatProblem', () => {
  it('bounds every part of a line', () => {
    const huge = 'x'.repeat(1_000_000);
    const line = formatProblem({ key: huge, source: `env ${huge}`, value: huge, message: huge });
    expect(line.length).toBeLessThan(MAX_KEY_CHARS + MAX_SOURCE_CHARS + MAX_MESSAGE_CHARS + 120);
    expect(line.match(/characters cut/g)).toHaveLength(3);
  });
  it('bounds a value of any type', () => {
    expect(formatProblem({ key: 'k', source: 's', value: Array(100_000).fill('abc'), message: 'm' }).length).toBeLessThan(200);
  });
  it('formatProblems stops at MAX_REPORT_CHARS but always writes one line, then says how many more', () => {
    const p = { key: 'k', source: 's', message: 'm'.repeat(MAX_MESSAGE_CHARS) };
    const lines = formatProblems(Array(20).fill(p));
    expect(lines.slice(0, -1).join('\n').length).toBeLessThanOrEqual(MAX_REPORT_CHARS);
    expect(lines.at(-1)).toMatch(new RegExp(`^… and ${20 - (lines.length - 1)} more`));
    expect(formatProblems([p])).toHaveLength(1);
  });
});

describe('config problems, from every layer', () => {
  it('a long unknown key in the file', () => {
    const e = failure(fileInput(`? ${'k'.repeat(100_000)}\n: 1\n`));
    expect(e.message.length).toBeLessThan(3000);
    expect(e.message).toMatch(/unknown key/);
  });
  it('a long rule name in a BANHAMMER_RULE_* variable and in BANHAMMER_RULES', () => {
    const name = 'N'.repeat(30_000);
    const e = failure({ env: { [`BANHAMMER_RULE_${name}_MAXRETRY`]: '3', BANHAMMER_RULES: `${name.toLowerCase()},forbidden` }, hostname: 'u' });
    expect(e.message.length).toBeLessThan(5000);
  });
  it('a long config file path, and a YAML error quoting a long alias', () => {
    const e = failure({ env: { BANHAMMER_CONFIG: `/${'p'.repeat(50_000)}.yaml` }, hostname: 'u', readFile: () => `a: *${'z'.repeat(50_000)}\n` });
    expect(e.message.length).toBeLessThan(5000);
  });
  it('many unknown keys in the file are reported fast, the first ones with a suggestion', () => {
    const yaml = `enforcre: log\n${Array.from({ length: 20_000 }, (_, i) => `unknown_setting_number_${i}: 1`).join('\n')}\n`;
    const [e, ms] = timed(() => failure(fileInput(yaml)), 1500);
    expect(ms).toBeLessThan(1500);
    expect(e.message).toMatch(/20001 problems/);
    expect(e.message).toMatch(/enforcre \(file \/c\.yaml\): unknown key \(did you mean "enforcer"\?\)/);
  });
  it('many unknown rule names in BANHAMMER_RULES and many BANHAMMER_RULE_* of unknown rules', () => {
    const env: Record<string, string> = { BANHAMMER_RULES: Array.from({ length: 20_000 }, (_, i) => `no-such-rule-${i}`).join(',') };
    for (let i = 0; i < 5000; i++) env[`BANHAMMER_RULE_NO_SUCH_RULE_${i}_BANTIME`] = '1m';
    const [e, ms] = timed(() => failure({ env, hostname: 'u' }), 1500);
    expect(ms).toBeLessThan(1500);
    expect(e.message).toMatch(/25000 problems/);
  });
  it('a typo still gets its suggestion', () => {
    expect(failure({ env: { BANHAMMER_MAXRETRI: '3' }, hostname: 'u' }).message).toMatch(/did you mean BANHAMMER_MAXRETRY\?/);
    expect(failure({ env: { BANHAMER_MAXRETRY: '3' }, hostname: 'u' }).message).toMatch(/did you mean BANHAMMER_MAXRETRY\?/);
  });
});

describe('closest and suggester', () => {
  it('find the same typos as before, and skip hopeless names without work', () => {
    expect(closest('forbiden', ['not-found', 'forbidden'])).toBe('forbidden');
    expect(closest('xyz', ['forbidden'])).toBeNull();
    const [r, ms] = timed(() => closest('X'.repeat(1_000_000), ['X'.repeat(30)]), 50);
    expect(r).toBeNull();
    expect(ms).toBeLessThan(50);
  });
  it('a suggester answers its budget, then null', () => {
    const s = suggester(2);
    expect([s('forbiden', ['forbidden']), s('forbiden', ['forbidden']), s('forbiden', ['forbidden'])]).toEqual(['forbidden', 'forbidden', null]);
  });
});

describe('duplicate keys in the file', () => {
  it('are still a YAML error naming the line', () => {
    const e = failure(fileInput('ports: [80]\nlog:\n  format: auto\n  format: auto\nports: [443]\n'));
    expect(e.code).toBe('BH_ERR_CONFIG_FILE');
    expect(e.message).toMatch(/Map keys must be unique at line 4, column 3/);
    expect(e.message).toMatch(/Map keys must be unique at line 5, column 1/);
  });
  it('are found in linear time', () => {
    const yaml = `${Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`).join('\n')}\nk0: 2\n`;
    const [e, ms] = timed(() => failure(fileInput(yaml)), 1500);
    expect(ms).toBeLessThan(1500);
    expect(e.message).toMatch(/Map keys must be unique at line 20001/);
  });
});
