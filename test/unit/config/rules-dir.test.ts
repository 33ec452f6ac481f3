/**
 * Rule files (issue 13): the user's rules_dir and the rule-file format. Files are hostile input:
 * unknown keys, invalid or non-linear patterns, wrong names, oversized files and YAML bombs are
 * refused with one line naming the file and key; YAML `rules:` overrides and BANHAMMER_RULE_* work on
 * them as on presets; a file may not take a preset's name.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig } from '../../../src/config/load.js';
import { parseRuleFile, readRuleDir, type DirReader } from '../../../src/detect/rule-file.js';
import { isBanhammerError } from '../../../src/errors.js';
import { describeConfig } from '../../../src/config/describe.js';

const rule = (name: string, extra = ''): string =>
  `name: ${name}\ndescription: ${name} rule\nmatch:\n  paths: ['^/${name}$']\nmaxretry: 2\nfindtime: 1m\nbantime: 1h\n${extra}`;

function dirOf(files: Record<string, string>): DirReader {
  return {
    list: () => Object.keys(files),
    read: (p) => {
      const f = files[p.split('/').pop()!];
      if (f === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return f;
    },
  };
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (isBanhammerError(e)) return ((e.data.problems ?? []) as { message: string }[]).map((p) => p.message);
    throw e;
  }
  return [];
}

describe('rules_dir', () => {
  it('adds the files as rules, on unless they say otherwise; other files are ignored', () => {
    const c = loadConfig({
      env: { BANHAMMER_RULES_DIR: '/rules' },
      hostname: 'h',
      readDir: dirOf({ 'a.yaml': rule('a'), 'b.yml': rule('b', 'enabled: false\n'), 'README.md': '# notes', '.hidden.yaml': 'junk: [' }),
    });
    expect(c.rulesDir).toBe('/rules');
    expect(c.rules.a).toMatchObject({ enabled: true, maxretry: 2, findtime: 60_000, bantime: 3_600_000, match: { paths: ['^/a$'], status: null, methods: [] } });
    expect(c.rules.b!.enabled).toBe(false);
    expect(Object.keys(c.rules)).not.toContain('README');
  });
  it('is read from the YAML file too; the environment wins', () => {
    const seen: string[] = [];
    const reader: DirReader = { list: (d) => (seen.push(d), ['a.yaml']), read: () => rule('a') };
    loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => 'rules_dir: /from-file\n', readDir: reader });
    loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml', BANHAMMER_RULES_DIR: '/from-env' }, hostname: 'h', readFile: () => 'rules_dir: /from-file\n', readDir: reader });
    expect(seen).toEqual(['/from-file', '/from-env']);
  });
  it('YAML overrides, BANHAMMER_RULE_* and BANHAMMER_RULES work on file rules as on presets', () => {
    const c = loadConfig({
      env: { BANHAMMER_CONFIG: '/c.yaml', BANHAMMER_RULES_DIR: '/rules', BANHAMMER_RULE_A_BANTIME: '2h' },
      hostname: 'h',
      readFile: () => 'rules:\n  a:\n    maxretry: 7\n    match: { status: [404] }\n',
      readDir: dirOf({ 'a.yaml': rule('a') }),
    });
    expect(c.rules.a).toMatchObject({ maxretry: 7, bantime: 7_200_000, match: { status: [404], paths: ['^/a$'] } });
    const d = loadConfig({ env: { BANHAMMER_RULES_DIR: '/rules', BANHAMMER_RULES: 'forbidden' }, hostname: 'h', readDir: dirOf({ 'a.yaml': rule('a') }) });
    expect(d.rules.a!.enabled).toBe(false);
  });
  it('refuses a file named like a preset, and a rule defined twice (.yaml and .yml)', () => {
    expect(problems(() => loadConfig({ env: { BANHAMMER_RULES_DIR: '/r' }, hostname: 'h', readDir: dirOf({ 'forbidden.yaml': rule('forbidden') }) }))).toEqual([
      expect.stringMatching(/rule file \/r\/forbidden\.yaml: "forbidden" is a preset; change a preset with rules: forbidden:/),
    ]);
    expect(problems(() => loadConfig({ env: { BANHAMMER_RULES_DIR: '/r' }, hostname: 'h', readDir: dirOf({ 'a.yaml': rule('a'), 'a.yml': rule('a') }) }))).toEqual([
      expect.stringMatching(/rule file \/r\/a\.yml: rule "a" is also defined by \/r\/a\.yaml/),
    ]);
  });
  it('a missing directory is one problem', () => {
    const r: DirReader = { list: () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); }, read: () => '' };
    expect(problems(() => loadConfig({ env: { BANHAMMER_RULES_DIR: '/nope' }, hostname: 'h', readDir: r }))).toEqual(['rules directory /nope does not exist']);
  });
  it('check-config output (with the file rules in it) loads back to the same rules', () => {
    const readDir = dirOf({ 'a.yaml': rule('a', "count: distinct-paths\n") });
    const c = loadConfig({ env: { BANHAMMER_RULES_DIR: '/rules' }, hostname: 'h', readDir });
    const text = describeConfig(c);
    const back = resolveConfig({ env: { BANHAMMER_CONFIG: '/d.yaml' }, hostname: 'h', readFile: () => text, readDir }).config;
    expect(back.rules).toEqual(c.rules);
    expect(back.rules.a!.count).toBe('distinct-paths');
  });
});

describe('a rule file', () => {
  const parse = (text: string, file = '/r/x.yaml') => parseRuleFile(file, text, { defaultEnabled: true });
  const errors = (text: string, file?: string): string[] => {
    const r = parse(text, file);
    return r.ok ? [] : [...r.problems];
  };
  it.each([
    ['unknown top-level key', `${rule('x')}thresold: 3\n`, /rule file \/r\/x\.yaml: unknown key "thresold"; allowed here: name, description/],
    ['unknown match key', rule('x').replace('paths:', 'pathz:'), /match: unknown key "pathz"; allowed here: status, methods, paths, queries, user_agents, referers, requests, any_of, all_of, none_of/],
    ['backtracking-only syntax', rule('x').replace("'^/x$'", () => String.raw`'^/(\w+)/\1$'`), /match\.paths\[0\]: the backreference \\1 cannot be matched in linear time/],
    ['invalid regex', rule('x').replace("'^/x$'", "'(unclosed'"), /match\.paths\[0\]: invalid regular expression/],
    ['name ≠ file name', rule('y'), /name: "y" must equal the file name without \.yaml \("x"\)/],
    ['reserved name', rule('constructor'), /name: "constructor" is reserved/],
    ['missing thresholds', 'name: x\ndescription: d\nmatch: {}\n', /maxretry: /],
    ['multi-line description', rule('x').replace('description: x rule', 'description: "a\\nb"'), /description: must be one line/],
    ['an empty nested match', rule('x').replace("  paths: ['^/x$']", '  any_of: [{}]'), /match\.any_of\[0\]: an empty match holds for every request/],
    ['nesting too deep', rule('x').replace("  paths: ['^/x$']", '  any_of: [{ any_of: [{ any_of: [{ any_of: [{ status: [404] }] }] }] }]'), /unknown key "any_of"/],
    ['a bad reference', `${rule('x')}references: ['javascript:alert(1)']\n`, /references\[0\]: expected an http\(s\) URL/],
    ['not YAML', 'name: [x', /not valid YAML/],
    ['duplicate keys', `${rule('x')}maxretry: 3\n`, /not valid YAML/],
    ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`, /cannot be loaded|not valid YAML|excessive alias/i],
    ['a huge file', `${rule('x')}# ${'x'.repeat(300 * 1024)}\n`, /larger than 262144 bytes/],
  ])('%s is refused with one line naming the file and key', (_what, text, re) => {
    const errs = errors(text);
    expect(errs.length).toBeGreaterThan(0);
    expect(errs.join('\n')).toMatch(re);
    for (const e of errs) expect(e).not.toContain('\n');
  });
  it('a file name that is not <name>.yaml', () => {
    expect(errors(rule('x'), '/r/x.txt')).toEqual(['rule file /r/x.txt: the file name must be <rule name>.yaml']);
  });
  it('reads every field: nesting, count, increment, references, samples', () => {
    const r = parse(
      [
        'name: x',
        'description: everything',
        'enabled: false',
        'references: [https://example.org/a]',
        'match:',
        '  status: [404, 403]',
        '  methods: [get]',
        '  any_of:',
        "    - queries: ['union\\s+select']",
        "    - user_agents: ['sqlmap']",
        "  none_of: [{ referers: ['^https://ok\\.example/'] }]",
        "  all_of: [{ requests: [' HTTP/1\\.1$'] }]",
        'count: distinct-paths',
        'maxretry: 3',
        'findtime: 90',
        'bantime: permanent',
        'increment: { factor: 2, maxtime: 1w }',
        'samples:',
        "  match: ['198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] \"GET /?q=1 HTTP/1.1\" 404 1 \"-\" \"sqlmap\"']",
        '  no_match: []',
      ].join('\n'),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.rule.settings).toEqual({
      enabled: false,
      description: 'everything',
      match: {
        status: [404, 403],
        paths: [],
        methods: ['GET'],
        anyOf: [
          { status: null, paths: [], methods: [], queries: [String.raw`union\s+select`] },
          { status: null, paths: [], methods: [], userAgents: ['sqlmap'] },
        ],
        noneOf: [{ status: null, paths: [], methods: [], referers: [String.raw`^https://ok\.example/`] }],
        allOf: [{ status: null, paths: [], methods: [], requests: [String.raw` HTTP/1\.1$`] }],
      },
      count: 'distinct-paths',
      maxretry: 3,
      findtime: 90_000,
      bantime: Infinity,
      increment: { factor: 2, maxtime: 7 * 86_400_000 },
      references: ['https://example.org/a'],
    });
    expect(r.rule.samples.match).toHaveLength(1);
  });
  it('readRuleDir collects the problems of every file', () => {
    const out = readRuleDir('/r', { defaultEnabled: true, reader: dirOf({ 'a.yaml': rule('a'), 'b.yaml': 'name: b\n', 'c.yaml': rule('c') }) });
    expect(out.rules.map((r) => r.name)).toEqual(['a', 'c']);
    expect(out.problems.every((p) => p.startsWith('rule file /r/b.yaml: '))).toBe(true);
  });
});
