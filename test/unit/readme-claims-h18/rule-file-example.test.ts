/**
 * README (Rules): the example rule file shows the format of presets/*.yaml and of a user's own rule
 * files ("in the same format"), with `samples` that "must / must not match". A user copies it into
 * rules_dir as wp-login.yaml: it must load as written, and its samples must hold for its own match,
 * as every preset's do (test/unit/detect/preset-samples.test.ts). It once listed every match field
 * at once (queries, User-Agent, referer, raw request line, nested any_of with `{…}` placeholders):
 * all fields must hold together, so the rule matched nothing and its own `match` sample failed, and
 * `any_of: [ {…}, {…} ]` and `references: [https://…]` did not load.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { compileRule } from '../../../src/detect/rule.js';
import { parseRuleFile } from '../../../src/detect/rule-file.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function example(): string {
  const section = README.slice(README.indexOf('\n## Rules'), README.indexOf('**On by default'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block).toBeDefined();
  return block!;
}

describe('README: the example rule file', () => {
  const text = example();
  const result = parseRuleFile('/etc/banhammer/rules/wp-login.yaml', text, { defaultEnabled: true });

  it('loads as written, as a rule file of rules_dir', () => {
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it('its samples hold for its own match', () => {
    if (!result.ok) throw new Error('does not load');
    const { rule } = result;
    const compiled = compileRule(rule.name, rule.settings);
    const parse = createLineParser('auto');
    expect(rule.samples.match.length).toBeGreaterThan(0);
    expect(rule.samples.noMatch.length).toBeGreaterThan(0);
    for (const line of rule.samples.match) {
      const ev = parse(line);
      if (isSkip(ev)) throw new Error(`sample skipped as ${ev}: ${line}`);
      expect([line, compiled.matches(ev)]).toEqual([line, true]);
    }
    for (const line of rule.samples.noMatch) {
      const ev = parse(line);
      if (isSkip(ev)) continue;
      expect([line, compiled.matches(ev)]).toEqual([line, false]);
    }
  });

  it('still shows every match field, count and increment (the other fields as comments)', () => {
    for (const field of ['status:', 'methods:', 'paths:', 'queries:', 'user_agents:', 'referers:', 'requests:', 'any_of:', 'all_of', 'none_of', 'count:', 'increment:', 'samples:']) {
      expect(text, field).toContain(field);
    }
  });
});
