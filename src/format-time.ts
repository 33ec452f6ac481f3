/**
 * Times for humans and JSON that never throw: `new Date(x).toISOString()` throws a RangeError for NaN,
 * ±Infinity and anything past ±8.64e15 ms (Date's range), and one hostile or corrupt value (a saved
 * ban, a log line, a reply) must not take `status`, `replay` or a log line down with it.
 */

/** The largest |ms| a Date can hold (±100,000,000 days around 1970). */
export const MAX_DATE_MS = 8.64e15;

/** ISO 8601 for a time in Date's range, otherwise null. */
export function isoTime(ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : null;
}

/** ISO 8601, or `invalid time (<value>)` for a value outside Date's range. */
export function formatTime(ms: number): string {
  return isoTime(ms) ?? `invalid time (${String(ms)})`;
}

/** The end of a ban: `permanent` for null or Infinity, otherwise formatTime. */
export function formatUntil(until: number | null): string {
  return until === null || until === Number.POSITIVE_INFINITY ? 'permanent' : formatTime(until);
}
