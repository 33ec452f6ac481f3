/**
 * Rule names are own keys only (issue 9): `ban IP --rule constructor` must find no rule, no layer
 * (YAML, environment, flags) may reach Object.prototype through a rule name, and `__proto__` in YAML
 * pollutes nothing.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadInput } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import { PRESETS, isPreset } from '../../../src/detect/presets.js';
import { ruleNameProblem } from '../../../src/config/schema.js';
import type { Problem } from '../../../src/config/problems.js';

const PROTO_NAMES = ['constructor', 'toString', 'tostring', '__proto__', 'hasOwnProperty', 'hasownproperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

function input(opts: { env?: Record<string, string>; yaml?: string; flags?: LoadInput['flags'] }): LoadInput {
  const env = { ...(opts.yaml !== undefined ? { BANHAMMER_CONFIG: '/c.yaml' } : {}), ...opts.env };
  return { env, flags: opts.flags, hostname: 'h', readFile: () => opts.yaml ?? '' };
}

function problems(i: LoadInput): Problem[] {
  try {
    loadConfig(i);
  } catch (e) {
    if (e instanceof BanhammerError && e.code === 'BH_ERR_CONFIG') return e.data.problems as Problem[];
    throw e;
  }
  throw new Error('expected BH_ERR_CONFIG');
}

describe('config.rules', () => {
  const c = loadConfig(input({}));
  it('has no prototype: inherited names are not rules', () => {
    expect(Object.getPrototypeOf(c.rules)).toBeNull();
    for (const n of PROTO_NAMES) expect(c.rules[n], n).toBeUndefined();
    expect(Object.keys(c.rules)).toEqual(Object.keys(PRESETS));
  });
  it('PRESETS has no prototype either', () => {
    expect(Object.getPrototypeOf(PRESETS)).toBeNull();
    for (const n of PROTO_NAMES) {
      expect(PRESETS[n], n).toBeUndefined();
      expect(isPreset(n), n).toBe(false);
    }
    expect(isPreset('forbidden')).toBe(true);
  });
});

describe('rule names', () => {
  it.each(['constructor', 'manual', 'a'.repeat(65), '__proto__', 'toString', 'Forbidden', '-x', 'x_y'])('%s is refused', (n) => {
    expect(ruleNameProblem(n)).not.toBeNull();
  });
  it.each(['forbidden', 'wp-login', '404s', 'a'.repeat(64)])('%s is accepted', (n) => {
    expect(ruleNameProblem(n)).toBeNull();
  });
  it('a YAML rule named constructor is refused, naming it', () => {
    const p = problems(input({ yaml: 'rules:\n  constructor:\n    match: { status: [401] }\n' }));
    expect(p.map((x) => x.key)).toEqual(['rules.constructor']);
    expect(p[0]!.message).toMatch(/reserved/);
  });
  it('a YAML rule named manual is refused (the manual bans’ pseudo-rule)', () => {
    const p = problems(input({ yaml: 'rules:\n  manual:\n    match: { status: [401] }\n' }));
    expect(p.map((x) => x.key)).toEqual(['rules.manual']);
  });
});

describe('__proto__ in YAML', () => {
  it('at the top level is an unknown key and sets nothing', () => {
    const p = problems(input({ yaml: '__proto__: { enforcer: log, ignoreip: [0.0.0.0/0] }\n' }));
    expect(p.map((x) => x.key)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).enforcer).toBeUndefined();
  });
  it('as a rule name is refused', () => {
    const p = problems(input({ yaml: 'rules:\n  __proto__: { maxretry: 1 }\n' }));
    expect(p.map((x) => x.key)).toEqual(['rules.__proto__']);
    expect(({} as Record<string, unknown>).maxretry).toBeUndefined();
  });
  it('inside a rule is an unknown key; the rule keeps its values', () => {
    const p = problems(input({ yaml: 'rules:\n  forbidden:\n    __proto__: { maxretry: 1 }\n' }));
    expect(p.map((x) => x.key)).toEqual(['rules.forbidden.__proto__']);
  });
  it('inside match is an unknown key', () => {
    const p = problems(input({ yaml: 'rules:\n  forbidden:\n    match: { __proto__: { status: [200] } }\n' }));
    expect(p.map((x) => x.key)).toEqual(['rules.forbidden.match.__proto__']);
  });
  it('a YAML rule named like an inherited member cannot shadow a preset lookup', () => {
    const c = loadConfig(input({ yaml: 'rules:\n  probe:\n    match: { status: [401] }\n' }));
    expect(Object.keys(c.rules)).toEqual([...Object.keys(PRESETS), 'probe']);
    expect(Object.getPrototypeOf(c.rules)).toBeNull();
  });
});

describe('environment and flags', () => {
  it('BANHAMMER_RULE_CONSTRUCTOR_MAXRETRY names an unknown rule', () => {
    const p = problems(input({ env: { BANHAMMER_RULE_CONSTRUCTOR_MAXRETRY: '1' } }));
    expect(p.map((x) => x.key)).toEqual(['rules.constructor.maxretry']);
    expect(p[0]!.message).toMatch(/unknown rule "constructor"/);
  });
  it('BANHAMMER_RULE___PROTO___MAXRETRY is an unknown variable', () => {
    const p = problems(input({ env: { BANHAMMER_RULE___PROTO___MAXRETRY: '1' } }));
    expect(p.map((x) => x.key)).toEqual(['BANHAMMER_RULE___PROTO___MAXRETRY']);
  });
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('BANHAMMER_RULES=%s names an unknown rule', (n) => {
    const p = problems(input({ env: { BANHAMMER_RULES: n } }));
    expect(p.map((x) => x.value)).toEqual([n]);
  });
  it('--rules constructor names an unknown rule', () => {
    const p = problems(input({ flags: { rules: ['constructor'] } }));
    expect(p.map((x) => x.value)).toEqual(['constructor']);
  });
});
