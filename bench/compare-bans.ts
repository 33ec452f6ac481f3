/**
 * Compares two ban lists as multisets of (rule, ip, at, failures): the oracle's and banhammer's. The
 * order of bans is not part of the contract (two bans in one second may be reported either way).
 */
export interface BanRecord {
  readonly ip: string;
  readonly rule: string;
  /** ms since the epoch. */
  readonly at: number;
  readonly failures: number;
}

export interface BanDiff {
  readonly identical: boolean;
  readonly expected: number;
  readonly actual: number;
  /** Bans the oracle expects that banhammer did not report. */
  readonly missing: readonly BanRecord[];
  /** Bans banhammer reported that the oracle does not expect. */
  readonly unexpected: readonly BanRecord[];
}

const keyOf = (b: BanRecord): string => `${b.rule}\t${b.ip}\t${b.at}\t${b.failures}`;

export function compareBans(expected: readonly BanRecord[], actual: readonly BanRecord[]): BanDiff {
  const pending = new Map<string, BanRecord[]>();
  for (const b of expected) {
    const k = keyOf(b);
    const list = pending.get(k);
    if (list) list.push(b);
    else pending.set(k, [b]);
  }
  const unexpected: BanRecord[] = [];
  for (const b of actual) {
    const list = pending.get(keyOf(b));
    if (list && list.length > 0) list.pop();
    else unexpected.push(b);
  }
  const missing = [...pending.values()].flat();
  const byTime = (a: BanRecord, b: BanRecord): number => a.at - b.at || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
  missing.sort(byTime);
  unexpected.sort(byTime);
  return {
    identical: missing.length === 0 && unexpected.length === 0,
    expected: expected.length,
    actual: actual.length,
    missing,
    unexpected,
  };
}

/** One line per ban, for a diff report. */
export function formatBan(b: BanRecord): string {
  return `${new Date(b.at).toISOString()}  ${b.rule}  ${b.ip}  failures=${b.failures}`;
}
