/** Pure helpers of the shared-bans bench: percentiles and the figures as printed. */

/** Nearest-rank percentile of ascending `sorted` (p in [0, 100]); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0 || !Number.isFinite(p)) return NaN;
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** p50, p99 and max of the values (any order; the input is not changed). */
export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length > 0 ? s[s.length - 1]! : NaN };
}

/** The median of the values (the lower middle for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Milliseconds as printed: 2 decimals below 10 ms, 1 below 1 s, then whole ms; "n/a" when not finite. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (Math.abs(ms) < 10) return `${ms.toFixed(2)} ms`;
  if (Math.abs(ms) < 1000) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString('en-US')} ms`;
}

/** "1,234" (rounded); "n/a" when not finite. */
export function fmtCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

/** How many times `ref` is larger than `x` ("n/a" when either is not a positive finite number): "1,234×". */
export function timesFaster(x: number, ref: number): string {
  if (!(x > 0) || !(ref > 0) || !Number.isFinite(x) || !Number.isFinite(ref)) return 'n/a';
  const r = ref / x;
  return r >= 100 ? `${fmtCount(r)}×` : `${r.toFixed(1)}×`;
}

/** The IPv4 address of index n (0 ≤ n < 2^24) in 10.0.0.0/8: distinct addresses for the bench. */
export function benchAddress(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 1 << 24) throw new RangeError(`address index out of range: ${n}`);
  return `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`;
}
