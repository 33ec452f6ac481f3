/**
 * Path patterns of rules (`match.paths`): JavaScript regular-expression syntax, case-insensitive,
 * matched in time linear in the request target.
 *
 * V8's own engine backtracks: `^/(\w+-?)+/login$` against a 33-character target took 8 s and every
 * further character doubled it, stalling the whole agent (control socket included). Two engines:
 *
 * - A pattern without quantifiers (no `*`, `+`, `{…}` outside a character class, `?` only as
 *   "optional", which is one more alternative: a fixed sequence of characters, classes, anchors and
 *   groups) with at most MAX_FIXED_ALTERNATIVES ways
 *   through its alternations runs on V8's engine: at each start position the backtracker tries at
 *   most that many fixed-length sequences, so the work is linear in the target. Every preset's
 *   pattern is of this kind, as are the usual `^/wp-login\.php`, `/xmlrpc\.php(?:[?#]|$)`.
 * - Any other pattern runs on RE2 (re2js, a pure-JS port: no native addon, any Node ≥ 20), which
 *   never backtracks.
 *
 * Measured on Node 20 (500k tests over request targets of 1–260 characters): the sensitive-paths
 * union took 50 ns per test on V8's engine, 470 ns on re2js, 7.8 µs on V8's experimental linear
 * engine (`--enable-experimental-regexp-engine`, flag 'l'; it also refuses 'i' together with 'l' and
 * needs an unsupported runtime V8 flag); a user rule `^/wp-login\.php|^/admin/` 44 ns per event on
 * V8, 570 ns on re2js. Hence V8 wherever it is provably linear, RE2 elsewhere.
 *
 * RE2 has no backreferences and no lookaround. checkPathPattern refuses such a pattern at
 * configuration time (check-config and load), whichever engine would run it, with a message that
 * says so; compilePathPatterns throws for it. re2js (~7 MB RSS) is loaded on first use: an agent
 * whose patterns all run on V8 (most presets, `^/wp-login\.php`…) never loads it, nor one whose
 * RE2-run patterns no line has reached yet (compilePathPatterns' `checked`).
 *
 * Only the first MAX_PATH_TESTED characters of a field are tested: Apache refuses a request line or
 * header longer than 8190 bytes (LimitRequestLine, LimitRequestFieldSize; nginx's buffers are 8 KiB
 * too), and a logged field is at most four times that, each byte escaped as `\xHH` at worst. 8,192
 * characters (before) let a client pad a field with 2 KiB of bytes above 0x7F and put
 * `${jndi:…}` after them, where no rule looked (review: helper). The cap bounds the work per line
 * whatever the engine.
 *
 * Linear is not yet cheap: RE2's work per character grows with the compiled program, and
 * `\w{1000}\w{1000}` (2,002 instructions) took 220 ms per 8 KiB target. A rule's RE2-run patterns
 * together may compile to at most MAX_PROGRAM_SIZE instructions, which keeps the worst case near 20 ms
 * per 8 KiB target (so about 80 ms for a field at the cap); its V8-run patterns may cost at most MAX_FIXED_COST (the characters of every way through their alternations,
 * summed; the whole sensitive-paths preset costs 268, and a rule at the limit took 2 ms per 8 KiB
 * target).
 */
import { createRequire } from 'node:module';
import type * as Re2 from 're2js';
import { requiredLiteralsOfList } from './literals.js';

/** Characters of a request target (and of its percent-decoded form) tested against path patterns. */
export const MAX_PATH_TESTED = 32_768;
/** Most RE2 instructions the patterns of one rule may compile to. */
export const MAX_PROGRAM_SIZE = 400;
/** Most ways through the alternations of a quantifier-free pattern that V8's engine may run. */
export const MAX_FIXED_ALTERNATIVES = 32;
/** Most work per start position (characters of every way through the alternations, summed) of the V8-run patterns of one rule. */
export const MAX_FIXED_COST = 2048;

let re2Module: typeof Re2 | undefined;
function re2(): typeof Re2.RE2JS {
  re2Module ??= createRequire(import.meta.url)('re2js') as typeof Re2;
  return re2Module.RE2JS;
}

/** Whether this process has loaded re2js (for tests of what loads it). */
export const re2Loaded = (): boolean => re2Module !== undefined;

/** The engine that runs `p` (a pattern checkPathPattern accepted): V8 when provably linear there. */
export function engineFor(p: string): 'v8' | 're2' {
  const n = fixedAlternatives(p);
  return n !== null && n <= MAX_FIXED_ALTERNATIVES ? 'v8' : 're2';
}

/**
 * Why `p` cannot be a path pattern, or null when it can. Checks JavaScript syntax (what users write),
 * then that RE2 runs it: backreferences (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`,
 * `(?<!`) are refused by name, since re2js would turn `\k<n>` into the literal `k<n>` silently.
 */
export function checkPathPattern(p: string): string | null {
  const js = javascriptProblem(p);
  if (js !== null) return js;
  if (engineFor(p) === 'v8') return fixedCost(p) > MAX_FIXED_COST ? tooCostly(fixedCost(p)) : null;
  let size: number;
  try {
    size = programSize(compileRe2([p]));
  } catch (e) {
    return `cannot be matched in linear time (RE2): ${(e as Error).message.replace(/^error parsing regexp: /, '')}; backreferences and lookaround are not supported`;
  }
  return size > MAX_PROGRAM_SIZE ? tooLarge(size) : null;
}

/** The checks that need no RE2: JavaScript syntax, then no backreference or lookaround. */
function javascriptProblem(p: string): string | null {
  try {
    new RegExp(p, 'i');
  } catch (e) {
    return `invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  const unsupported = unsupportedSyntax(p);
  return unsupported === null ? null : `${unsupported} cannot be matched in linear time; rewrite the expression without it`;
}

/** Work per start position of a quantifier-free pattern on V8's backtracker (fixedShape). */
function fixedCost(p: string): number {
  return fixedShape(p)?.work ?? Infinity;
}

const tooCostly = (cost: number): string =>
  `too large to match quickly (${cost} = characters of all the ways through its alternations, at most ${MAX_FIXED_COST} per rule); split the rule`;

const tooLarge = (size: number): string =>
  `too large to match quickly (${size} RE2 instructions, at most ${MAX_PROGRAM_SIZE} per rule); shorten counted repetitions such as {1000} or split the rule`;

/** Instructions of the compiled program (re2js keeps it as re2Input.prog.inst); 0 when unknown. */
function programSize(re: Re2.RE2JS): number {
  const inst = (re.re2Input as unknown as { prog?: { inst?: unknown[] } }).prog?.inst;
  return Array.isArray(inst) ? inst.length : 0;
}

/** RE2 instructions `paths` compile to together (0 when none). */
export function pathProgramSize(paths: readonly string[]): number {
  return paths.length > 0 ? programSize(compileRe2(paths)) : 0;
}

/**
 * Why these (each valid) patterns cannot be combined into one, or null. The size limit applies to
 * all of a rule's patterns, whichever engine runs them, so that what is accepted does not depend on it.
 */
export function checkPathPatternUnion(paths: readonly string[]): string | null {
  try {
    const v8 = paths.filter((p) => engineFor(p) === 'v8');
    const re2 = paths.filter((p) => engineFor(p) === 're2');
    const size = re2.length > 1 ? programSize(compileRe2(re2)) : 0;
    if (size > MAX_PROGRAM_SIZE) return tooLarge(size);
    const cost = v8.reduce((sum, p) => sum + fixedCost(p), 0);
    if (cost > MAX_FIXED_COST) return tooCostly(cost);
    if (v8.length > 1) new RegExp(union(v8), 'i');
  } catch (e) {
    return `these expressions cannot be combined (rename duplicate named groups): ${(e as Error).message}`;
  }
  return null;
}

/**
 * The test of a rule's path patterns (true when any matches the target), or null when the list is
 * empty (any path). Throws when a pattern cannot run in linear time (checkPathPattern says why).
 *
 * `checked`: every pattern already passed checkPathPattern and checkPathPatternUnion (configuration
 * did, for user rules; the unit tier and the bundle did, for the presets). The RE2-run ones are then
 * compiled on the first test that reaches them, with the same code on the same text, so the compile
 * cannot fail there: an agent whose RE2-run patterns only sit behind literal gates that no line
 * opens (exploit-probes, on by default, has 18) never loads re2js, which costs ~5 MB of idle RSS.
 */
export function compilePathPatterns(paths: readonly string[], checked = false): ((target: string) => boolean) | null {
  if (paths.length === 0) return null;
  // Unchecked patterns are checked here (the guard for other callers); this loads re2js for the
  // patterns RE2 runs. Checked ones only have their JavaScript syntax asked again, which needs no RE2.
  const v8: string[] = [];
  const re2: string[] = [];
  for (const p of paths) {
    const js = javascriptProblem(p);
    const engine = js === null ? engineFor(p) : null;
    const why = js ?? (checked ? null : checkPathPattern(p));
    if (why !== null) throw new Error(`path pattern ${JSON.stringify(p)}: ${why}`);
    (engine === 'v8' ? v8 : re2).push(p);
  }
  const native = v8.length > 0 ? new RegExp(union(v8), 'i') : null;
  if (re2.length === 0) return (s) => native!.test(s);
  let linear = checked ? null : linearOf(re2);
  // re2js costs ~50–100 ns a character: a text holding none of the literals every match of these
  // patterns needs (one native regex pass, ~1 ns a character) is answered without it (literalGuard).
  const guard = literalGuard(re2);
  const test =
    guard === null
      ? (s: string): boolean => (linear ??= linearOf(re2)).test(s)
      : (s: string): boolean => guard.test(s) && (linear ??= linearOf(re2)).test(s);
  if (native === null) return test;
  return (s) => native.test(s) || test(s);
}

/**
 * A test of whether a text holds one of the necessary literals of `paths` (literals.ts: at least one
 * occurs, folded, in every text any of them matches), or null when some pattern has none. Run before
 * re2js on each text: a hostile line's 8 KB spellings (`%2e/` repeated, `\x5c` runs) cost ~0.5 ms
 * each through the RE2-run patterns of the presets, and most hold none of their literals.
 *
 * It is a V8 regular expression of the literals (an alternation of fixed strings: linear, native,
 * ~1 ns a character), written to find at least what the fold finds: case-insensitive, a `/` also as
 * `\`, a space also as `+` (literals.ts folds those), and `s`, `k` also as ſ (U+017F) and K (U+212A),
 * which RE2's case folding matches to them (the only characters outside ASCII it folds into ASCII,
 * checked over the whole BMP; V8's engine without the `u` flag folds none, and literals are ASCII).
 */
function literalGuard(paths: readonly string[]): RegExp | null {
  const literals = requiredLiteralsOfList(paths);
  if (literals === null || literals.length === 0 || literals.some((l) => l.length === 0)) return null;
  return new RegExp(literals.map(literalSource).join('|'), 'i');
}

/** One folded literal as a V8 pattern that matches every text the fold maps to it. */
function literalSource(literal: string): string {
  let out = '';
  for (const c of literal) {
    if (c === '/') out += '[/\\\\]';
    else if (c === ' ') out += '[ +]';
    else if (c === 's') out += '[s\u017f]';
    else if (c === 'k') out += '[k\u212a]';
    else out += /[a-z0-9]/.test(c) ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The RE2 program of `paths`; throws when it is too large (checkPathPatternUnion's limit). */
function linearOf(paths: readonly string[]): Re2.RE2JS {
  const linear = compileRe2(paths);
  if (programSize(linear) > MAX_PROGRAM_SIZE) throw new Error(`path patterns ${JSON.stringify(paths)}: ${tooLarge(programSize(linear))}`);
  return linear;
}

const union = (paths: readonly string[]): string => (paths.length === 1 ? paths[0]! : paths.map((p) => `(?:${p})`).join('|'));

function compileRe2(paths: readonly string[]): Re2.RE2JS {
  const RE2JS = re2();
  return RE2JS.compile(union(paths.map((p) => javascriptEscapes(RE2JS.translateRegExp(javascriptIdentityEscapes(p))))), RE2JS.CASE_INSENSITIVE);
}

/**
 * `p` with the escapes that JavaScript (without the `u` flag, as patterns are read) takes as plain
 * letters, but re2js's translateRegExp passes to RE2 with another meaning, written as those letters:
 * `\p` `\P` (RE2: a Unicode class, `\pL`, `\p{Greek}`), `\A` `\z` (anchors), `\Q` `\E` (quoting),
 * and the `\u` and `\x` of `\u{…}` `\x{…}` (RE2: a code point; JavaScript: `u` or `x`, then `{…}`
 * as a count or as text). Inside a class too (`[\p]` is `p`). Without this a pattern meant one thing
 * on V8 and another on RE2 (which engine runs it depends only on whether it has a quantifier), and
 * its necessary literals (literals.ts, read as JavaScript) were not in what RE2 matched: `\pLx+`
 * needs `lx`, but RE2 matched `/ax`, so the prefilter and the literal guard kept it from that line.
 */
export function javascriptIdentityEscapes(p: string): string {
  if (!p.includes('\\')) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = p[i + 1] ?? '';
    i++;
    if (IDENTITY_LETTERS.includes(n) || ((n === 'u' || n === 'x') && p[i + 1] === '{')) out += n;
    else out += c + n;
  }
  return out;
}

/** Letters whose escape is the letter itself in JavaScript but not in RE2 (javascriptIdentityEscapes). */
const IDENTITY_LETTERS = 'pPAzQE';

/**
 * JavaScript's white space (WhiteSpace and LineTerminator of the ECMAScript spec), in RE2's class
 * syntax. RE2's `\s` is only `[\t\n\f\r ]`: without this, `union%0bselect` (MySQL reads 0x0B as a
 * space, a known filter bypass) or a no-break space would not be matched by a pattern written with
 * `\s` as JavaScript reads it, which is how patterns are documented.
 */
const JS_SPACE = '\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';
/** Everything else (JavaScript's `\S`), as ranges, for use inside a class. */
const JS_NON_SPACE =
  '\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}';

/**
 * JavaScript's `\W` as ranges, for use inside a class, less ſ (U+017F) and K (U+212A): a
 * case-insensitive class folds them into s and k, which `\W` must not match (so `[\W]` misses those
 * two, where matching s and k would count ordinary text).
 */
const JS_NON_WORD = '\\x{0}-\\x{2f}\\x{3a}-\\x{40}\\x{5b}-\\x{5e}\\x{60}\\x{7b}-\\x{17e}\\x{180}-\\x{2129}\\x{212b}-\\x{10ffff}';

/**
 * `\s`, `\S` and `\W` of an RE2-syntax pattern written out as JavaScript reads them (in and out
 * of classes), and a `[` inside a class escaped (a member in JavaScript, a POSIX class opener in RE2).
 */
export function javascriptEscapes(p: string): string {
  if (!p.includes('\\s') && !p.includes('\\S') && !p.includes('\\W') && !p.includes('[')) return p;
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1] ?? '';
      i++;
      if (n === 's') out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
      else if (n === 'S') out += inClass ? JS_NON_SPACE : `[^${JS_SPACE}]`;
      // Case-insensitive RE2 folds ſ (U+017F) and K (U+212A) into \w, so its \W misses them; JavaScript's does not.
      else if (n === 'W') out += inClass ? JS_NON_WORD : '(?-i:[^0-9A-Za-z_])';
      else out += c + n;
    } else {
      if (inClass) {
        if (c === ']') inClass = false;
        // A `[` in a class is itself in JavaScript; RE2 would read `[:alpha:]` as a POSIX class.
        else if (c === '[') {
          out += '\\[';
          continue;
        }
      } else if (c === '[') {
        inClass = true;
        out += c;
        // A `]` right after `[` or `[^` is a member in RE2's syntax, not the end.
        if (p[i + 1] === '^') out += p[++i];
        if (p[i + 1] === ']') out += p[++i];
        continue;
      }
      out += c;
    }
  }
  return out;
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

/**
 * For a pattern without quantifiers: how many fixed sequences its alternations allow (`ways`: the
 * backtracker tries at most that many at one position) and the characters of all of them together
 * (`work`: what the backtracker compares at one position, at most); null when it has a quantifier.
 * `x?` is `(?:x|)`: one more way through x (so `jpe?g` stays here); any other quantifier (`*`, `+`,
 * `{`, a lazy `??`) is one (conservative: any `{` outside a class counts); an escape counts as two
 * characters. Called only on patterns that compile as JavaScript.
 * `\b(?:sqlmap|nikto|…)\b` is cheap (work ≈ the sum of the words' lengths), which alternatives ×
 * pattern length overstated.
 */
function fixedShape(p: string): { ways: number; work: number } | null {
  let i = 0;
  let quantified = false;
  const CAP = 1_000_000;
  const group = (): { ways: number; work: number } => {
    let ways = 0;
    let work = 0;
    // The current alternative: a sequence.
    let seqWays = 1;
    let seqWork = 0;
    // The sequence before its last atom, and that atom, so that a `?` after it can make it optional.
    let prevWays = 1;
    let prevWork = 0;
    let lastWays = 0;
    let lastWork = 0;
    const atom = (w: number, k: number): void => {
      prevWays = seqWays;
      prevWork = seqWork;
      lastWays = w;
      lastWork = k;
      // Sequence × atom: every way so far continues with every way of the atom.
      seqWork = Math.min(CAP, seqWork * w + k * seqWays);
      seqWays = Math.min(CAP, seqWays * w);
    };
    while (i < p.length && !quantified) {
      const c = p[i]!;
      if (c === '|') {
        ways = Math.min(CAP, ways + seqWays);
        work = Math.min(CAP, work + seqWork);
        seqWays = 1;
        seqWork = 0;
        lastWays = 0;
        i++;
      } else if (c === ')') {
        break;
      } else if (c === '?' && lastWays > 0 && p[i + 1] !== '?') {
        // `x?` is `(?:x|)`: one more way through the last atom, none longer (a lazy `??` stays RE2's).
        seqWays = Math.min(CAP, prevWays * (lastWays + 1));
        seqWork = Math.min(CAP, prevWork * (lastWays + 1) + lastWork * prevWays);
        lastWays = 0;
        i++;
      } else if (c === '*' || c === '+' || c === '?' || c === '{') {
        quantified = true;
      } else if (c === '\\') {
        atom(1, 2);
        i += 2;
      } else if (c === '[') {
        i++;
        if (p[i] === '^') i++;
        while (i < p.length && p[i] !== ']') i += p[i] === '\\' ? 2 : 1;
        i++;
        atom(1, 1);
      } else if (c === '(') {
        i++;
        if (p[i] === '?') {
          // (?: or (?<name> (lookaround was refused before)
          if (p[i + 1] === '<') i = p.indexOf('>', i) + 1;
          else i += 2;
        }
        const g = group();
        i++; // ')'
        atom(g.ways, g.work);
      } else {
        atom(1, 1);
        i++;
      }
    }
    return { ways: Math.min(CAP, ways + seqWays), work: Math.min(CAP, work + seqWork) };
  };
  const shape = group();
  return quantified ? null : shape;
}

/** How many fixed sequences a quantifier-free pattern allows; null when it has a quantifier. */
function fixedAlternatives(p: string): number | null {
  return fixedShape(p)?.ways ?? null;
}
