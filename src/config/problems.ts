/**
 * Configuration problems: what is wrong, at which key, from which source, with which value.
 *
 * Every layer (file, environment, flags) reports Problems instead of throwing, so the user sees all
 * of them at once; the loader turns the list into one BanhammerError whose message has one line per
 * problem: `- <key> = <value> (<source>): <what is allowed>`. Keys are the YAML (snake_case) paths,
 * e.g. `rules.forbidden.maxretry`, `ports[1]`.
 *
 * The report is bounded whatever the input: each part of a line is shortened with a visible marker
 * (formatProblem), at most MAX_PROBLEMS_SHOWN lines and MAX_REPORT_CHARS characters are written
 * (formatProblems), and "did you mean" is looked up for a layer's first problems only (suggester).
 */
import { terminalText } from '../control/terminal-text.js';
import type { z } from 'zod/mini';
import { BanhammerError } from '../errors.js';

export interface Problem {
  /** YAML key path, e.g. rules.forbidden.maxretry. */
  readonly key: string;
  /** `file /etc/banhammer.yaml`, `env BANHAMMER_PORTS`, `flag --rules`, `default`. */
  readonly source: string;
  /** The offending value, when there is one. */
  readonly value?: unknown;
  readonly message: string;
}

/** At most this many problems are written out; a 34,000-entry list of bad addresses printed 34,000 lines. */
export const MAX_PROBLEMS_SHOWN = 20;

export function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * The candidate closest to `name` by edit distance, when close enough to be a likely typo (at most
 * max(2, ⌊|name|/4⌋) edits). Bounded work: a candidate whose length alone differs by more than that
 * is skipped without computing a distance, so a 20,000-character name costs nothing.
 */
export function closest(name: string, candidates: Iterable<string>): string | null {
  const limit = Math.max(2, Math.floor(name.length / 4));
  const a = name.toLowerCase();
  let best: string | null = null;
  let bestD = limit + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) >= bestD) continue;
    const d = editDistance(a, c.toLowerCase(), bestD);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** Levenshtein distance, or any value ≥ `stop` as soon as every path is at least that long. */
function editDistance(a: string, b: string, stop: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= stop) return stop;
    prev = cur;
  }
  return prev[b.length]!;
}

/** closest(), or null once `budget` names have been looked up (see suggester). */
export type Suggest = (name: string, candidates: Iterable<string>) => string | null;

/**
 * A "did you mean" for at most `budget` names, null for the rest: the report prints at most
 * MAX_PROBLEMS_SHOWN problems, and 5,000 unknown variables each compared with every known name took
 * seconds for suggestions nobody reads. One suggester per layer (file, environment, flags), so every
 * problem that can be printed still gets its suggestion.
 */
export function suggester(budget: number = MAX_PROBLEMS_SHOWN): Suggest {
  let left = budget;
  return (name, candidates) => (left-- > 0 ? closest(name, candidates) : null);
}

/**
 * Zod issues → Problems. `base` prefixes the issue paths (e.g. ['ports'] when one env value was
 * validated alone). Unknown keys become one Problem each, with a "did you mean" when one is close.
 */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], source: string, base: readonly PropertyKey[] = [], suggest: Suggest = suggester()): Problem[] {
  const out: Problem[] = [];
  for (const iss of issues) {
    const path = [...base, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      const allowed = /allowed keys here: (.*)$/.exec(iss.message)?.[1]?.split(', ') ?? [];
      for (const k of iss.keys) {
        const guess = suggest(k, allowed);
        out.push({
          key: keyOf([...path, k]),
          source,
          message: `unknown key${guess ? ` (did you mean "${guess}"?)` : ''}; allowed here: ${allowed.join(', ')}`,
        });
      }
      continue;
    }
    if (iss.code === 'invalid_key') {
      const inner = iss.issues[0]?.message ?? iss.message;
      out.push({ key: keyOf(path), source, message: `invalid name: ${inner}` });
      continue;
    }
    const hasInput = 'input' in iss;
    const p: Problem =
      hasInput && iss.input !== undefined
        ? { key: keyOf(path), source, value: iss.input, message: iss.message }
        : { key: keyOf(path), source, message: hasInput ? `missing; ${iss.message}` : iss.message };
    out.push(p);
  }
  return out;
}

/**
 * Longest key, source and message a problem line prints; longer ones are cut in the middle with a
 * visible marker (the end of a message often says what is wrong: V8's "Invalid regular expression:
 * /…/: Unterminated group" quotes the whole pattern first). Values are cut at MAX_VALUE_CHARS.
 */
export const MAX_KEY_CHARS = 200;
export const MAX_SOURCE_CHARS = 200;
export const MAX_MESSAGE_CHARS = 600;
export const MAX_VALUE_CHARS = 80;
/** Problem lines stop once they would pass this many characters (at least one is always written). */
export const MAX_REPORT_CHARS = 8000;

/** `s` when at most `max` characters; otherwise its head and tail around `…[N characters cut]…`. */
export function shorten(s: string, max: number): string {
  if (s.length <= max) return s;
  const keep = Math.max(0, max - 30);
  const head = Math.ceil((keep * 2) / 3);
  const tail = keep - head;
  // Never split a surrogate pair: the line stays valid UTF-16 (and UTF-8 once written).
  let h = head;
  if (h > 0 && /[\uD800-\uDBFF]/.test(s[h - 1]!)) h--;
  let t = s.length - tail;
  if (t < s.length && /[\uDC00-\uDFFF]/.test(s[t]!)) t++;
  return `${s.slice(0, h)}…[${t - h} characters cut]…${s.slice(t)}`;
}

export function showValue(v: unknown): string {
  let s: string;
  try {
    // JSON has no NaN or Infinity: JSON.stringify wrote `.nan`, `.inf` and 1e309 as `null`.
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    s = typeof v === 'string' ? JSON.stringify(v.length > 4 * MAX_VALUE_CHARS ? v.slice(0, 4 * MAX_VALUE_CHARS) : v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS - 3)}...` : s;
}

/** One line, bounded whatever the problem holds: key, value, source and message are each shortened. */
export function formatProblem(p: Problem): string {
  const value = 'value' in p ? ` = ${showValue(p.value)}` : '';
  // The key, the value and the source (a file path) are the configuration's own text, which may be
  // someone else's rule file: JSON.stringify leaves C1 controls, bidi overrides and line separators
  // raw, and a key or path is not quoted at all (a newline in a YAML key forged a problem line).
  return terminalText(`- ${shorten(String(p.key), MAX_KEY_CHARS)}${value} (${shorten(String(p.source), MAX_SOURCE_CHARS)}): ${shorten(String(p.message), MAX_MESSAGE_CHARS)}`);
}

/**
 * The first MAX_PROBLEMS_SHOWN problems formatted (fewer when their lines would pass
 * MAX_REPORT_CHARS), then `… and N more` when there are more.
 */
export function formatProblems(problems: readonly Problem[], limit: number = MAX_PROBLEMS_SHOWN): string[] {
  const lines: string[] = [];
  let chars = 0;
  for (const p of problems.slice(0, limit)) {
    const line = formatProblem(p);
    if (lines.length > 0 && chars + line.length > MAX_REPORT_CHARS) break;
    lines.push(line);
    chars += line.length + 1;
  }
  const more = problems.length - lines.length;
  if (more > 0) lines.push(`… and ${more} more (fix these first; all are in the error's data.problems)`);
  return lines;
}

/** One BH_ERR_CONFIG for every problem: the message lists at most MAX_PROBLEMS_SHOWN, data.problems holds all. */
export function configError(problems: readonly Problem[]): BanhammerError {
  const n = problems.length;
  return new BanhammerError('BH_ERR_CONFIG', `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${formatProblems(problems).join('\n')}`, {
    hint: 'fix the keys listed; `banhammer check-config` validates without starting, and README lists every BANHAMMER_* variable',
    data: { problems },
  });
}
