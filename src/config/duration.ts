/**
 * Durations as users write them (fail2ban style) and as the code holds them (ms numbers).
 *
 * parseDuration accepts a bare number of seconds (`600`, `1.5`), or unit components `60s`, `10m`,
 * `1h`, `30d`, `1w`, `250ms` (long names such as `min`, `hours`, `days` too), combined in any order
 * (`1h30m`, `1d 12h`), each unit at most once. The result is whole milliseconds. Negative, empty and
 * unknown forms throw BH_ERR_CONFIG naming the value, as does anything longer than MAX_DURATION_MS
 * (3650 days, about ten years; `now + duration` must stay inside Date's range, and `99999999d` did
 * not). Schemas cap findtime tighter (MAX_FINDTIME_MS). Permanence (`-1`, `permanent`) is not a duration;
 * the schema handles it for bantime only and represents it as PERMANENT (Infinity).
 *
 * formatDuration is the inverse for display: the shortest combination of units, `w` only for whole
 * weeks, `permanent` for PERMANENT; parseDuration(formatDuration(ms)) === ms for every whole ms ≥ 0.
 */
import { BanhammerError } from '../errors.js';

/** A permanent ban: bantimeFor() keeps it Infinity, and expiry code maps it to `until: null`. */
export const PERMANENT = Number.POSITIVE_INFINITY;

export function isPermanent(ms: number): boolean {
  return ms === PERMANENT;
}

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const W = 7 * D;

/** The longest duration anywhere (bantime, maxtime, `ban --for`): 3650 days, about ten years. */
export const MAX_DURATION_MS = 3650 * D;
/** The longest findtime: 365 days (addresses are tracked that long). */
export const MAX_FINDTIME_MS = 365 * D;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: S, sec: S, secs: S, second: S, seconds: S,
  m: M, min: M, mins: M, minute: M, minutes: M,
  h: H, hour: H, hours: H,
  d: D, day: D, days: D,
  w: W, week: W, weeks: W,
};

const BARE_SECONDS = /^\d+(?:\.\d+)?$/;
const COMPONENT = /(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*/y;

function bad(s: string, why: string): BanhammerError {
  return new BanhammerError('BH_ERR_CONFIG', `invalid duration ${JSON.stringify(s)}: ${why}`, {
    hint: 'write a number of seconds (600) or units s, m, h, d, w combined like 1h30m',
    data: { value: s },
  });
}

export function parseDuration(s: string, max: number = MAX_DURATION_MS): number {
  const written = s.trim();
  const text = written.toLowerCase();
  if (text === '') throw bad(s, 'empty');
  let ms: number;
  if (BARE_SECONDS.test(text)) {
    ms = Number(text) * S;
  } else {
    ms = 0;
    const seen = new Set<number>();
    COMPONENT.lastIndex = 0;
    while (COMPONENT.lastIndex < text.length) {
      const at = COMPONENT.lastIndex;
      const m = COMPONENT.exec(written);
      if (m === null) throw bad(s, `cannot read ${JSON.stringify(written.slice(at))}`);
      // Units are read in any case (2H, 1D), but a capital M is a month in ISO 8601, Java and PHP:
      // `bantime: 1M` meant as a month was a one-minute ban.
      if (m[2] === 'M') throw bad(s, 'unit "M" could mean months or minutes: write m for minutes (there is no month unit; use 30d)');
      const unit = UNITS[m[2]!.toLowerCase()];
      if (unit === undefined) throw bad(s, `unknown unit ${JSON.stringify(m[2]!.toLowerCase())}`);
      if (seen.has(unit)) throw bad(s, `unit ${JSON.stringify(m[2]!.toLowerCase())} given twice`);
      seen.add(unit);
      ms += Number(m[1]) * unit;
    }
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms) || ms > max) throw bad(s, `too large: at most ${formatDuration(max)}${max === MAX_DURATION_MS ? ' (about 10 years)' : ''}`);
  return ms;
}

/**
 * A ban's duration as `banhammer ban --for` takes it: `-1`/`permanent` is null (permanent), anything
 * else a duration above 0 and at most MAX_DURATION_MS.
 */
export function parseBanDuration(s: string): number | null {
  const t = s.trim().toLowerCase();
  if (t === '-1' || t === 'permanent') return null;
  const ms = parseDuration(s);
  if (ms <= 0) throw bad(s, 'must be longer than 0 (or -1/permanent)');
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms === PERMANENT) return 'permanent';
  if (Number.isNaN(ms)) return 'NaN';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  const parts: string[] = [];
  const units: [number, string][] = rest % W === 0 ? [[W, 'w']] : [[D, 'd'], [H, 'h'], [M, 'm'], [S, 's'], [1, 'ms']];
  for (const [size, name] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n}${name}`);
      rest -= n * size;
    }
  }
  return parts.join('');
}
