/**
 * Audit of issue 9, "an invalid list prints every problem without a cap: cap the report". The number of
 * lines is capped (MAX_PROBLEMS_SHOWN), but not their length: formatProblem (src/config/problems.ts)
 * cuts the value to 80 characters, yet prints the key and the message whole, and a message can carry
 * the whole input (V8's "Invalid regular expression: /…/" from path-pattern.ts javascriptProblem; an
 * unknown variable's name as key and source). And every unknown variable costs an edit distance
 * against every known name (config/env.ts readEnv → problems.ts closest), so the report of many is slow.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadInput } from '../../../src/config/load.js';
import { timedCpuRetry } from '../../support/cpu-time.js';

function message(input: LoadInput): string {
  try {
    loadConfig(input);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an invalid configuration');
}

describe('the problem report is bounded in bytes, not only in lines', () => {
  it('one invalid 50,000-character path pattern gives a short report', () => {
    const m = message({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'u', readFile: () => `rules:\n  r:\n    match:\n      paths: ["${'('.repeat(50_000)}"]\n` });
    expect(m).toMatch(/rules\.r\.match\.paths/);
    expect(m.length).toBeLessThan(5000);
  });
  it('twenty invalid 10,000-character patterns give a short report', () => {
    const paths = Array.from({ length: 20 }, (_, i) => `"${'['.repeat(10_000)}${i}"`).join(', ');
    const m = message({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'u', readFile: () => `rules:\n  r:\n    match:\n      paths: [${paths}]\n` });
    expect(m.length).toBeLessThan(10_000);
  });
  it('an unknown 20,000-character BANHAMMER_ variable gives a short report', () => {
    const m = message({ env: { [`BANHAMMER_${'X'.repeat(20_000)}`]: '1' }, hostname: 'u' });
    expect(m).toMatch(/unknown variable/);
    expect(m.length).toBeLessThan(5000);
  });
  it('5,000 unknown BANHAMMER_ variables are reported within a second', () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) env[`BANHAMMER_BOGUS_SETTING_${i}`] = 'x';
    // CPU time, measured again while over (test/support/cpu-time.ts): a loaded machine does not count.
    const [m, took] = timedCpuRetry(() => message({ env, hostname: 'u' }), 1000);
    expect(m).toMatch(/5000 problems/);
    expect(took).toBeLessThan(1000);
  }, 30_000);
});
