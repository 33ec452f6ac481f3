/**
 * Configuration problems: what is wrong, at which key, from which source, with which value.
 *
 * Every layer (file, environment, flags) reports Problems instead of throwing, so the user sees all
 * of them at once; the loader turns the list into one BanhammerError whose message has one line per
 * problem: `- <key> = <value> (<source>): <what is allowed>`. Keys are the YAML (snake_case) paths,
 * e.g. `rules.forbidden.maxretry`, `ports[1]`.
 */
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

export function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** The candidate closest to `name` by edit distance, when close enough to be a likely typo. */
export function closest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Zod issues → Problems. `base` prefixes the issue paths (e.g. ['ports'] when one env value was
 * validated alone). Unknown keys become one Problem each, with a "did you mean" when one is close.
 */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], source: string, base: readonly PropertyKey[] = []): Problem[] {
  const out: Problem[] = [];
  for (const iss of issues) {
    const path = [...base, ...iss.path];
    if (iss.code === 'unrecognized_keys') {
      const allowed = /allowed keys here: (.*)$/.exec(iss.message)?.[1]?.split(', ') ?? [];
      for (const k of iss.keys) {
        const guess = closest(k, allowed);
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

export function showValue(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function formatProblem(p: Problem): string {
  const value = 'value' in p ? ` = ${showValue(p.value)}` : '';
  return `- ${p.key}${value} (${p.source}): ${p.message}`;
}

/** At most this many problems are written out; a 34,000-entry list of bad addresses printed 34,000 lines. */
export const MAX_PROBLEMS_SHOWN = 20;

/** The first MAX_PROBLEMS_SHOWN problems formatted, then `… and N more` when there are more. */
export function formatProblems(problems: readonly Problem[], limit: number = MAX_PROBLEMS_SHOWN): string[] {
  const lines = problems.slice(0, limit).map(formatProblem);
  if (problems.length > limit) lines.push(`… and ${problems.length - limit} more (fix these first; all are in the error's data.problems)`);
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
