/**
 * Path patterns of rules (`match.paths`): JavaScript regular-expression syntax, case-insensitive,
 * matched in time linear in the request target.
 *
 * V8's own engine backtracks: `^/(\w+-?)+/login$` against a 33-character target took 8 s and every
 * further character doubled it, stalling the whole agent (control socket included). So a pattern
 * written by the user runs on RE2 (re2js, a pure-JS port: no native addon, any Node ≥ 20), which
 * never backtracks. Measured on Node 20 (best of two rounds, 500k tests over request targets of 1–260
 * characters): the sensitive-paths union took 470 ns per test on re2js, 7.8 µs on V8's experimental
 * linear engine (`--enable-experimental-regexp-engine`, flag 'l', which also refuses 'i' together
 * with 'l' and is set through an unsupported runtime V8 flag) and 50 ns on V8's backtracking engine.
 * Hence the split: the presets' own patterns (audited here: no nested or adjacent unbounded
 * quantifiers, see test/unit/detect/rule-redos.test.ts) keep V8's engine, whose speed the hot path
 * relies on; any other pattern, including a preset's pattern list replaced by the user, runs on RE2.
 *
 * RE2 has no backreferences and no lookaround. checkPathPattern refuses such a pattern at
 * configuration time (check-config and load) with a message that says so; compilePathPatterns throws
 * for it. re2js (~7 MB RSS) is loaded on first use: an agent whose rules test no user pattern never
 * pays for it.
 *
 * Only the first MAX_PATH_TESTED characters of a target are tested: Apache refuses a request line
 * longer than 8190 bytes (LimitRequestLine), so a longer target is not an Apache client's anyway, and
 * the cap bounds the work per line whatever the engine.
 *
 * Linear is not yet cheap: RE2's work per character grows with the compiled program, and
 * `\w{1000}\w{1000}` (2,002 instructions) took 220 ms per 8 KiB target. A rule's patterns together may
 * compile to at most MAX_PROGRAM_SIZE instructions (the sensitive-paths preset needs 74), which keeps
 * the worst case near 20 ms per 8 KiB target.
 */
import { createRequire } from 'node:module';
import type * as Re2 from 're2js';
import { PRESETS } from './presets.js';

/** Characters of a request target (and of its percent-decoded form) tested against path patterns. */
export const MAX_PATH_TESTED = 8192;
/** Most RE2 instructions the patterns of one rule may compile to. */
export const MAX_PROGRAM_SIZE = 400;

let re2Module: typeof Re2 | undefined;
function re2(): typeof Re2.RE2JS {
  re2Module ??= createRequire(import.meta.url)('re2js') as typeof Re2;
  return re2Module.RE2JS;
}

/** Patterns shipped with the presets: trusted to run on V8's backtracking engine. */
const TRUSTED: ReadonlySet<string> = new Set(Object.values(PRESETS).flatMap((r) => r.match.paths));

export function isTrustedPattern(p: string): boolean {
  return TRUSTED.has(p);
}

/**
 * Why `p` cannot be a path pattern, or null when it can. Checks JavaScript syntax (what users write),
 * then that RE2 runs it: backreferences (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`,
 * `(?<!`) are refused by name, since re2js would turn `\k<n>` into the literal `k<n>` silently.
 */
export function checkPathPattern(p: string): string | null {
  try {
    new RegExp(p, 'i');
  } catch (e) {
    return `invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  const unsupported = unsupportedSyntax(p);
  if (unsupported !== null) return `${unsupported} cannot be matched in linear time; rewrite the expression without it`;
  let size: number;
  try {
    size = programSize(compileRe2([p]));
  } catch (e) {
    return `cannot be matched in linear time (RE2): ${(e as Error).message.replace(/^error parsing regexp: /, '')}; backreferences and lookaround are not supported`;
  }
  return size > MAX_PROGRAM_SIZE ? tooLarge(size) : null;
}

const tooLarge = (size: number): string =>
  `too large to match quickly (${size} RE2 instructions, at most ${MAX_PROGRAM_SIZE} per rule); shorten counted repetitions such as {1000} or split the rule`;

/** Instructions of the compiled program (re2js keeps it as re2Input.prog.inst); 0 when unknown. */
function programSize(re: Re2.RE2JS): number {
  const inst = (re.re2Input as unknown as { prog?: { inst?: unknown[] } }).prog?.inst;
  return Array.isArray(inst) ? inst.length : 0;
}

/** RE2 instructions the user patterns among `paths` compile to together (0 when none): for tests and messages. */
export function pathProgramSize(paths: readonly string[]): number {
  const user = paths.filter((p) => !TRUSTED.has(p));
  return user.length > 0 ? programSize(compileRe2(user)) : 0;
}

/** Why these (each valid) patterns cannot be combined into one, or null. */
export function checkPathPatternUnion(paths: readonly string[]): string | null {
  const user = paths.filter((p) => !TRUSTED.has(p));
  try {
    const size = user.length > 1 ? programSize(compileRe2(user)) : 0;
    if (size > MAX_PROGRAM_SIZE) return tooLarge(size);
    const trusted = paths.filter((p) => TRUSTED.has(p));
    if (trusted.length > 1) new RegExp(union(trusted), 'i');
  } catch (e) {
    return `these expressions cannot be combined (rename duplicate named groups): ${(e as Error).message}`;
  }
  return null;
}

/**
 * The test of a rule's path patterns (true when any matches the target), or null when the list is
 * empty (any path). Throws when a pattern cannot run in linear time (checkPathPattern says why).
 */
export function compilePathPatterns(paths: readonly string[]): ((target: string) => boolean) | null {
  if (paths.length === 0) return null;
  const user = paths.filter((p) => !TRUSTED.has(p));
  const trusted = paths.filter((p) => TRUSTED.has(p));
  for (const p of user) {
    const why = checkPathPattern(p);
    if (why !== null) throw new Error(`path pattern ${JSON.stringify(p)}: ${why}`);
  }
  const native = trusted.length > 0 ? new RegExp(union(trusted), 'i') : null;
  const linear = user.length > 0 ? compileRe2(user) : null;
  if (linear !== null && programSize(linear) > MAX_PROGRAM_SIZE) throw new Error(`path patterns ${JSON.stringify(user)}: ${tooLarge(programSize(linear))}`);
  if (linear === null) return (s) => native!.test(s);
  if (native === null) return (s) => linear.test(s);
  return (s) => native.test(s) || linear.test(s);
}

const union = (paths: readonly string[]): string => (paths.length === 1 ? paths[0]! : paths.map((p) => `(?:${p})`).join('|'));

function compileRe2(paths: readonly string[]): Re2.RE2JS {
  const RE2JS = re2();
  return RE2JS.compile(union(paths.map((p) => RE2JS.translateRegExp(p))), RE2JS.CASE_INSENSITIVE);
}

/**
 * Backreferences and lookaround, found with a small tokenizer over the JavaScript syntax: an escape
 * takes the next character with it, and inside a character class nothing is a group or reference.
 */
function unsupportedSyntax(p: string): string | null {
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(n)) return `the backreference \\${n}`;
      if (!inClass && n === 'k' && p[i + 2] === '<') return 'the named backreference \\k<…>';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(' && p[i + 1] === '?') {
      const look = p.slice(i + 2, i + 4);
      if (look.startsWith('=') || look.startsWith('!')) return `the lookahead (?${look[0]}…)`;
      if (look === '<=' || look === '<!') return `the lookbehind (?${look}…)`;
    }
  }
  return null;
}
