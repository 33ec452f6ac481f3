/**
 * Path patterns run in linear time (issue 9, ReDoS): a user pattern that backtracks catastrophically
 * on V8's engine must not stall the agent, a pattern RE2 cannot run is refused at load naming the rule
 * and the pattern, and the matching semantics (case-insensitive, percent-decoded, presets) stay.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compileRule, matchPatterns, type RuleSettings } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import {
  checkPathPattern,
  checkPathPatternUnion,
  compilePathPatterns,
  engineFor,
  MAX_PATH_TESTED,
  MAX_FIXED_ALTERNATIVES,
  MAX_FIXED_COST,
  MAX_PROGRAM_SIZE,
  pathProgramSize,
} from '../../../src/detect/path-pattern.js';
import { loadConfig } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import type { Problem } from '../../../src/config/problems.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import { cpuMs } from '../../support/cpu-time.js';

const EVIL = String.raw`^/(\w+-?)+/login$`;

function rule(paths: string[], status: number[] | null = null): RuleSettings {
  return { enabled: true, description: '', match: { status, paths, methods: [] }, maxretry: 5, findtime: 60_000, bantime: 60_000, increment: null };
}

function ev(path: string, status = 404): AccessEvent {
  return { ip: '198.18.0.7', family: 4, time: 0, method: 'GET', path, status } as AccessEvent;
}

/** CPU ms of fn (test/support/cpu-time.ts): preemption on a loaded machine does not count; a backtracking match (seconds) does. */
const timed = cpuMs;

describe('a catastrophically backtracking user pattern', () => {
  const r = compileRule('login', rule([EVIL]));
  it('answers a 33-character request fast (8 s on the backtracking engine)', () => {
    const target = `/${'a'.repeat(31)}!`;
    expect(target.length).toBe(33);
    let result = true;
    expect(timed(() => (result = r.matches(ev(target))))).toBeLessThan(200);
    expect(result).toBe(false);
  });
  it('answers a 5,000-character request fast', () => {
    let result = true;
    expect(timed(() => (result = r.matches(ev(`/${'a-'.repeat(2500)}!`))))).toBeLessThan(200);
    expect(result).toBe(false);
  });
  it('answers a 1 MB request fast: only the first MAX_PATH_TESTED characters are tested', () => {
    expect(MAX_PATH_TESTED).toBe(32_768);
    expect(timed(() => r.matches(ev(`/${'ab'.repeat(500_000)}!`)))).toBeLessThan(200);
  });
  it('still matches what it should, case-insensitively', () => {
    expect(r.matches(ev('/a-b-c/login'))).toBe(true);
    expect(r.matches(ev('/A-B-C/LOGIN'))).toBe(true);
    expect(r.matches(ev('/a-b-c/logout'))).toBe(false);
  });
  it('combined with a preset pattern, each still matches', () => {
    const both = compileRule('mix', rule([EVIL, String.raw`/\.env(?:[./?#]|$)`]));
    expect(both.matches(ev('/x/login'))).toBe(true);
    expect(both.matches(ev('/.ENV'))).toBe(true);
    expect(both.matches(ev('/index.html'))).toBe(false);
    expect(timed(() => both.matches(ev(`/${'a'.repeat(40)}!`)))).toBeLessThan(200);
  });
});

describe('matching semantics', () => {
  it('tests the percent-decoded target too', () => {
    const r = compileRule('env', rule([String.raw`^/\.env$`]));
    expect(r.matches(ev('/%2eenv'))).toBe(true);
    expect(r.matches(ev('/%2EENV'))).toBe(true);
    expect(r.matches(ev('/%zz'))).toBe(false);
  });
  it('JavaScript syntax works: escaped slash, \\d, classes, named groups, unicode escapes', () => {
    const r = compileRule('js', rule([String.raw`^\/api\/v\d+\/(?<item>[a-z_-]+)\u002ejson$`]));
    expect(r.matches(ev('/api/v2/Users.json'))).toBe(true);
    expect(r.matches(ev('/api/vx/users.json'))).toBe(false);
  });
  it('a target longer than MAX_PATH_TESTED characters counts as if its unread rest matched (documented cap)', () => {
    const r = compileRule('late', rule(['secret']));
    expect(r.matches(ev(`/${'a'.repeat(MAX_PATH_TESTED - 20)}/secret`))).toBe(true);
    expect(r.matches(ev(`/${'a'.repeat(MAX_PATH_TESTED - 20)}/public`))).toBe(false);
    // Past the cap nothing is read: padding cannot push a probe out of reach (review H46).
    expect(r.matches(ev(`/${'a'.repeat(MAX_PATH_TESTED)}/secret`))).toBe(true);
    expect(r.matches(ev(`/${'a'.repeat(MAX_PATH_TESTED)}/public`))).toBe(true);
  });
});

describe('patterns RE2 cannot run', () => {
  it.each([
    [String.raw`^/(\w+)/\1$`, /backreference \\1/],
    [String.raw`^/(?<w>\w+)/\k<w>$`, /named backreference/],
    ['^/login(?!/ok)', /lookahead/],
    ['^/login(?=/ok)', /lookahead/],
    ['(?<=/admin)/x', /lookbehind/],
    ['(?<!/admin)/x', /lookbehind/],
    ['^/wp-(login', /invalid regular expression/],
  ])('%s is refused: %s', (p, why) => {
    expect(checkPathPattern(p)).toMatch(why);
    expect(() => compilePathPatterns([p])).toThrow();
  });
  it('a backslash escaped or inside a class is not mistaken for a reference', () => {
    expect(checkPathPattern(String.raw`^/a\\1`)).toBeNull();
    expect(checkPathPattern(String.raw`[\k<]x`)).toBeNull();
    expect(checkPathPattern(String.raw`[(?=]`)).toBeNull();
  });
  it('are refused at load, naming the rule and the pattern', () => {
    const yaml = "rules:\n  probe:\n    match: { paths: ['^/ok', '^/(\\w+)/\\1$'] }\n";
    let err: unknown;
    try {
      loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => yaml });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BanhammerError);
    const problems = (err as BanhammerError).data.problems as Problem[];
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ key: 'rules.probe.match.paths[1]', value: String.raw`^/(\w+)/\1$` });
    expect((err as BanhammerError).message).toContain('rules.probe.match.paths[1] = "^/(\\\\w+)/\\\\1$"');
    expect((err as BanhammerError).message).toMatch(/linear time/);
  });
});

describe('patterns too large to match quickly', () => {
  it('are refused: linear time grows with the program (\\w{1000}\\w{1000} took 220 ms per 8 KiB target)', () => {
    expect(pathProgramSize([EVIL])).toBeGreaterThan(0); // re2js still exposes its program
    expect(checkPathPattern(String.raw`\w{1000}\w{1000}`)).toMatch(/too large .*at most 400/);
    expect(checkPathPattern(String.raw`(?:[a-z]{100}){9}`)).toMatch(/too large|invalid repeat/);
    expect(checkPathPatternUnion([String.raw`\w{300}`, String.raw`\d{300}`])).toMatch(/too large/);
    expect(() => compilePathPatterns([String.raw`\w{300}`, String.raw`\d{300}`])).toThrow(/too large/);
  });
  it('a quantifier-free pattern (run by V8) is bounded by alternatives × length, per rule', () => {
    expect(MAX_FIXED_COST).toBe(2048);
    expect(checkPathPattern(`${'a'.repeat(2047)}b`)).toBeNull();
    expect(checkPathPattern(`${'a'.repeat(2048)}b`)).toMatch(/too large .*at most 2048/);
    expect(checkPathPatternUnion(['a'.repeat(1100), 'b'.repeat(1100)])).toMatch(/too large/);
    const worst = compileRule('worst', rule([`${'(?:a|a)'.repeat(5)}${'a'.repeat(28)}b`]));
    expect(timed(() => worst.matches(ev(`/${'a'.repeat(8190)}`)))).toBeLessThan(200);
  });
  it('the largest accepted rule stays fast on an 8 KiB target', () => {
    const p = String.raw`\w{${MAX_PROGRAM_SIZE - 10}}`;
    expect(checkPathPattern(p)).toBeNull();
    const r = compileRule('big', rule([p]));
    expect(timed(() => r.matches(ev(`/${'a-'.repeat(4096)}`)))).toBeLessThan(200);
  });
});

describe('presets', () => {
  const patterns = Object.values(PRESETS).flatMap((r) => matchPatterns(r.match));
  // The secret-and-traversal probes: the preset an adversary's targets meet most (any status).
  const sensitive = matchPatterns(PRESETS['sensitive-paths']!.match);
  it('every preset pattern compiles in the linear engine too (a user may copy it)', () => {
    for (const p of patterns) expect(checkPathPattern(p), p).toBeNull();
  });
  it('every preset rule compiles', () => {
    for (const [name, s] of Object.entries(PRESETS)) expect(() => compileRule(name, s)).not.toThrow();
  });
  it('sensitive-paths is fast on adversarial 8 KiB targets', () => {
    const alphabet = ['/', '.', '\\', 'a', 'e', '%2e', '../', '/.', 'wp-config', '.git', '/etc/', '%252e', '?../', '//'];
    const r = compileRule('sensitive-paths', PRESETS['sensitive-paths']!);
    for (const piece of alphabet) {
      const target = piece.repeat(Math.ceil(MAX_PATH_TESTED / piece.length)).slice(0, MAX_PATH_TESTED) + '!';
      expect(timed(() => r.matches(ev(target))), piece).toBeLessThan(200);
    }
  });
  it('every preset, on, stays fast on adversarial 8 KiB targets', () => {
    const rules = Object.entries(PRESETS).map(([n, s]) => compileRule(n, s));
    for (const piece of ['/', '%2e', '%25', 'a-', '\\', '=', 'union select ', '${', 'x']) {
      const target = piece.repeat(Math.ceil(MAX_PATH_TESTED / piece.length)).slice(0, MAX_PATH_TESTED);
      const e = { ...ev(`/${target}?${target}`), request: `GET /${target} HTTP/1.1`, userAgent: target, referer: target };
      expect(timed(() => { for (const r of rules) r.matches(e); }), piece).toBeLessThan(500);
    }
  });
  it('the native and the linear engine agree on sensitive-paths over a corpus', () => {
    const corpus = ['/', '/.env', '/.ENV', '/.env.bak', '/.envy', '/x/.git/config', '/.git', '/.gitignore', '/.htaccess', '/.HTPASSWD', '/etc/passwd', '/etc/shadow',
      '/a/../b', '..\\windows', '/..', '/...', '/wp-config.php', '/wp-configXphp', '/xmlrpc.php', '/xmlrpc.php?x', '/XMLRPC.PHP#', '/xmlrpc.phps', '/index.html'];
    for (const p of sensitive.filter((x) => engineFor(x) === 'v8')) {
      const native = new RegExp(p, 'i');
      const linear = compilePathPatterns([`(?:${p})+`])!; // quantified, so RE2 runs it
      for (const s of corpus) expect(linear(s), `${p} on ${s}`).toBe(native.test(s));
    }
  });
});

describe('the engine of a pattern', () => {
  it.each([
    [String.raw`^/wp-login\.php`, 'v8'],
    [String.raw`/xmlrpc\.php(?:[?#]|$)`, 'v8'],
    [String.raw`^/(?<a>admin|wp-admin)/[a-z0-9]`, 'v8'],
    ['[*+?{]', 'v8'],
    [String.raw`\*\+\?\{`, 'v8'],
    [EVIL, 're2'],
    ['^/a+', 're2'],
    ['^/a?', 'v8'], // optional: one more alternative
    [String.raw`\.(?:jpe?g|woff2?)$`, 'v8'],
    ['^/a??', 're2'], // lazy
    ['^/a{2}', 're2'],
    ['(?:a|b)*', 're2'],
    ['x{', 're2'], // a literal { in JavaScript, but counted as a quantifier: conservative
    [Array(6).fill('(?:a|b)').join(''), 're2'], // 64 ways through the alternations
    [Array(5).fill('(?:a|b)').join(''), 'v8'], // 32
  ])('%s runs on %s', (p, engine) => {
    expect(checkPathPattern(p)).toBeNull();
    expect(engineFor(p)).toBe(engine);
  });
  it('V8 runs a fixed pattern with the most alternatives allowed in linear time', () => {
    expect(MAX_FIXED_ALTERNATIVES).toBe(32);
    const p = `${Array(5).fill('(?:a|a)').join('')}b`;
    expect(engineFor(p)).toBe('v8');
    const r = compileRule('alt', rule([p]));
    expect(timed(() => r.matches(ev(`/${'a'.repeat(8190)}`)))).toBeLessThan(200);
  });
  it('both engines in one rule: each pattern still matches', () => {
    const r = compileRule('mix', rule([String.raw`^/wp-login\.php`, EVIL]));
    expect(r.matches(ev('/WP-LOGIN.PHP'))).toBe(true);
    expect(r.matches(ev('/a-b/login'))).toBe(true);
    expect(r.matches(ev('/a-b/logout'))).toBe(false);
  });
});

describe('loading re2js', () => {
  // In a fresh process: vitest workers share Node's CommonJS cache between test files.
  const loadedAfter = (code: string): boolean => {
    const script = `const { compileRule } = await import('./src/detect/rule.ts'); const { PRESETS } = await import('./src/detect/presets.ts');
      ${code}
      const { createRequire } = await import('node:module');
      console.log(Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('re2js')));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../..', import.meta.url).pathname, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim() === 'true';
  };
  it('happens only for a pattern RE2 runs: never for loading the presets (~7 MB RSS saved)', () => {
    expect(loadedAfter('Object.keys(PRESETS).length;')).toBe(false);
    expect(loadedAfter("compileRule('f', PRESETS.forbidden);")).toBe(false);
    expect(loadedAfter("compileRule('u', { ...PRESETS.forbidden, match: { status: null, paths: ['^/a+'], methods: [] } });")).toBe(true);
  });
  it('happens neither for a configured rule whose patterns V8 runs (validation included)', () => {
    const load = (paths: string) =>
      `const { loadConfig } = await import('./src/config/load.ts');
       const c = loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => "rules:\\n  wp:\\n    match: { paths: ${paths} }\\n" });
       compileRule('wp', c.rules.wp);`;
    expect(loadedAfter(load(String.raw`['^/wp-login\\.php', '/xmlrpc\\.php(?:[?#]|$)']`))).toBe(false);
    expect(loadedAfter(load(String.raw`['^/wp-.*\\.php']`))).toBe(true);
  });
});
