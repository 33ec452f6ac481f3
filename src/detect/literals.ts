/**
 * Necessary literals of a pattern, for the shared prefilter: a set of strings at least one of which
 * appears (case-insensitively, after fold()) in every text the pattern matches, or null when no such
 * set is known. Conservative by construction: when unsure, a part of the pattern contributes nothing.
 *
 * `union\s+select` → {union} or {select} (the longer); `(?:wget|curl)\s` → {wget, curl};
 * `a|b\.php` → {a, b.php}; `^[a-z]+$` → null.
 */

/** The alphabet the prefilter compares in: ASCII lower-case, `\` as `/`, `+` as a space. */
export function foldCode(c: number): number {
  if (c >= 65 && c <= 90) return c + 32;
  if (c === 92) return 47; // \ → /
  if (c === 43) return 32; // + → space
  return c;
}

export function fold(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += String.fromCharCode(foldCode(s.charCodeAt(i)));
  return out;
}

const QUANT = new Set(['*', '+', '?', '{']);

/** Characters common in ordinary targets and headers: as a one-character literal they select little. */
const COMMON = new Set([...'()/.;,:-_=&? 0123456789aeiostnrl']);

/** How selective a literal is (higher is rarer): length first; among single characters, rare punctuation wins. */
export function literalScore(s: string): number {
  if (s.length >= 2) return s.length * 10;
  return COMMON.has(s) ? 5 : 8;
}

/** Candidates are compared by their least selective member, then by count. */
export function better(a: string[] | null, b: string[] | null): string[] | null {
  if (a === null) return b;
  if (b === null) return a;
  const ma = Math.min(...a.map(literalScore));
  const mb = Math.min(...b.map(literalScore));
  if (ma !== mb) return ma > mb ? a : b;
  return a.length <= b.length ? a : b;
}

/** Necessary literals of a JavaScript-syntax pattern (already validated), folded. */
export function requiredLiterals(p: string): string[] | null {
  let i = 0;
  let failed = false;

  // Reads an alternation up to `)` or the end; returns its necessary set.
  const alternation = (): string[] | null => {
    const alts: (string[] | null)[] = [];
    for (;;) {
      alts.push(sequence());
      if (i < p.length && p[i] === '|') {
        i++;
        continue;
      }
      break;
    }
    if (alts.some((a) => a === null)) return null;
    const out = new Set<string>();
    for (const a of alts) for (const s of a!) out.add(s);
    return [...out];
  };

  // Reads a sequence up to `|`, `)` or the end.
  const sequence = (): string[] | null => {
    let best: string[] | null = null;
    let run = '';
    const endRun = (): void => {
      if (run.length > 0) best = better(best, [run]);
      run = '';
    };
    while (i < p.length && !failed) {
      const c = p[i]!;
      if (c === '|' || c === ')') break;
      // One atom: its literal char (or null), or a group's set.
      let ch: string | null = null;
      let group: string[] | null | undefined;
      if (c === '\\') {
        const n = p[i + 1] ?? '';
        if (n === 'x' && /^[0-9a-f]{2}$/i.test(p.slice(i + 2, i + 4))) {
          const code = parseInt(p.slice(i + 2, i + 4), 16);
          ch = code >= 32 && code < 127 ? String.fromCharCode(code) : null;
          i += 4;
        } else if (n === 'u' || n === 'c' || n === 'p' || n === 'P' || n === 'k' || /[0-9]/.test(n)) {
          // Patterns run without the `u` flag, so these read as JavaScript's legacy (Annex B) syntax:
          // `\uXXXX` is one character, but `\u` without four hex digits is a `u` (and a `{…}` after
          // it a quantifier); `\cX` is a control character only for a letter X, else `\c` stands for
          // itself; `\p{…}` is `p` then literal text; `\0`–`\7` may start an octal escape of up to
          // three digits. Each is skipped as an atom that is not a literal, taking no more than it
          // holds (taking more could swallow a `|` and claim a literal one alternative lacks).
          i += 2;
          if (n === 'u' && /^[0-9a-f]{4}$/i.test(p.slice(i, i + 4))) i += 4;
          else if (n === 'c' && /^[a-z]$/i.test(p[i] ?? '')) i += 1;
          else if (/[0-9]/.test(n)) while (i < p.length && /[0-9]/.test(p[i]!)) i++;
        } else if (/[a-zA-Z]/.test(n)) {
          i += 2; // \d \w \s \b \n \t …: not a literal character
        } else {
          ch = n;
          i += 2;
        }
      } else if (c === '[') {
        // In JavaScript a class ends at its first unescaped `]`: `[]` matches nothing, `[^]` anything.
        i++;
        if (p[i] === '^') i++;
        while (i < p.length && p[i] !== ']') i += p[i] === '\\' ? 2 : 1;
        i++;
      } else if (c === '(') {
        i++;
        let lookaround = false;
        if (p[i] === '?') {
          if (p[i + 1] === '<' && p[i + 2] !== '=' && p[i + 2] !== '!') i = p.indexOf('>', i) + 1;
          else if (p[i + 1] === ':') i += 2;
          else {
            lookaround = true;
            i += p[i + 1] === '<' ? 3 : 2;
          }
        }
        const g = alternation();
        if (p[i] !== ')') failed = true;
        i++;
        group = lookaround ? null : g;
      } else if (c === '.' || c === '^' || c === '$') {
        i++;
      } else {
        ch = c;
        i++;
      }
      // A quantifier on the atom.
      let optional = false;
      let repeated = false;
      if (i < p.length && QUANT.has(p[i]!)) {
        const q = p[i]!;
        if (q === '{') {
          const m = /^\{(\d+)(,\d*)?\}/.exec(p.slice(i));
          // Not a quantifier: a literal `{` (legacy syntax), read as the next atom, which may be
          // quantified in turn (`{+`).
          if (m !== null) {
            optional = Number(m[1]) === 0; // `{0}`, `{00,3}`: none at all may do
            repeated = true;
            i += m[0].length;
            if (p[i] === '?') i++; // lazy
          }
        } else {
          optional = q === '?' || q === '*';
          repeated = q !== '?';
          i++;
          if (p[i] === '?') i++; // lazy
        }
      }
      if (optional) {
        endRun();
        continue;
      }
      // Only ASCII: the scanner compares ASCII, and a text with anything else passes every gate anyway.
      if (ch !== null && ch.charCodeAt(0) >= 128) ch = null;
      if (ch !== null) {
        run += fold(ch);
        if (repeated) endRun();
        continue;
      }
      endRun();
      if (group !== undefined && group !== null) best = better(best, group);
    }
    endRun();
    return best;
  };

  const out = alternation();
  if (failed || i < p.length) return null;
  return out === null || out.some((s) => s.length === 0) ? null : out;
}

/** Necessary literals of a list of patterns (any may match): the union, or null if one has none. */
export function requiredLiteralsOfList(patterns: readonly string[]): string[] | null {
  if (patterns.length === 0) return null;
  const out = new Set<string>();
  for (const p of patterns) {
    const l = requiredLiterals(p);
    if (l === null) return null;
    for (const s of l) out.add(s);
  }
  return [...out];
}
