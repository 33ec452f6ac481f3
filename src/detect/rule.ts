/**
 * A rule: which events count (match), how many within how long trigger a ban (maxretry, findtime),
 * and for how long (bantime, optionally growing for repeat offenders).
 *
 * RuleSettings is what config holds (durations already in ms); CompiledRule is the hot-path form.
 */
import type { AccessEvent } from '../parse/access-event.js';
import { compilePathPatterns, MAX_PATH_TESTED } from './path-pattern.js';

export interface RuleMatch {
  /** Status codes that count; null means any status. */
  readonly status: readonly number[] | null;
  /**
   * Regular expressions (JavaScript syntax, case-insensitive) tested against the first MAX_PATH_TESTED
   * characters of the request target in linear time (path-pattern.ts); empty means any.
   */
  readonly paths: readonly string[];
  /** Request methods that count (upper-case); empty means any. */
  readonly methods: readonly string[];
}

export interface BantimeIncrement {
  /** Each repeat ban lasts `factor` times the previous one… */
  readonly factor: number;
  /** …but never longer than this (ms). */
  readonly maxtime: number;
}

export interface RuleSettings {
  readonly enabled: boolean;
  readonly description: string;
  readonly match: RuleMatch;
  readonly maxretry: number;
  /** ms */
  readonly findtime: number;
  /** ms */
  readonly bantime: number;
  readonly increment: BantimeIncrement | null;
}

export interface CompiledRule {
  readonly name: string;
  readonly settings: RuleSettings;
  /** Hot path: does this event count against its address? */
  matches(ev: AccessEvent): boolean;
}

export function compileRule(name: string, settings: RuleSettings): CompiledRule {
  const { status, paths, methods } = settings.match;
  let statusTable: Uint8Array | null = null;
  if (status !== null) {
    statusTable = new Uint8Array(1000);
    for (const s of status) if (s >= 0 && s < 1000) statusTable[s] = 1;
  }
  const methodSet = methods.length > 0 ? new Set(methods.map((m) => m.toUpperCase())) : null;
  const pathTest = compilePathPatterns(paths);

  const pathMatches = (whole: string): boolean => {
    if (pathTest === null) return true;
    const target = whole.length > MAX_PATH_TESTED ? whole.slice(0, MAX_PATH_TESTED) : whole;
    if (pathTest(target)) return true;
    // Probes hide behind percent-encoding (/%2e%2e/, /.%65nv); test the decoded target too.
    if (target.includes('%')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(target);
      } catch {
        decoded = target.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      }
      return decoded !== target && pathTest(decoded);
    }
    return false;
  };

  return {
    name,
    settings,
    matches(ev) {
      if (statusTable !== null && statusTable[ev.status] !== 1) return false;
      if (methodSet !== null && !methodSet.has(ev.method)) return false;
      return pathMatches(ev.path);
    },
  };
}

/** Bantime of the nth ban (1-based) of one address under a rule. */
export function bantimeFor(settings: RuleSettings, nth: number): number {
  const inc = settings.increment;
  if (inc === null || nth <= 1) return settings.bantime;
  const t = settings.bantime * Math.pow(inc.factor, nth - 1);
  return Math.min(t, Math.max(inc.maxtime, settings.bantime));
}
