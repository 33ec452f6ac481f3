/**
 * Lines the live agent reads too old for any rule to count: stamped at or before the agent's clock
 * minus the longest findtime of the rules it runs. The detector skips such a line for each rule
 * (a backlog read after a restart must not make bans), which is right for a backlog, and wrong
 * without a word when every line is that old: a log writer whose clock (or time zone, for a format
 * without an offset) is behind the agent's by more than the findtimes makes the agent count nothing,
 * and nothing said so (review H55's note).
 *
 * So such lines are counted (`health.staleLines`, `banhammer_stale_lines_total`), and a run of them
 * that lasts (at least BEHIND_RUN_LINES lines, the first read BEHIND_RUN_MS or more before, no line
 * young enough to count since) means the log is behind: `status` says so while it lasts, and the log
 * gets one warning per BEHIND_REPORT_EVERY_MS. A backlog read after a restart is a short run (it is
 * read at hundreds of thousands of lines a second); one lasting over a minute is reported too, and
 * the warning says it may be one.
 */

/** Stale lines in a row, at least, before the log counts as behind. */
export const BEHIND_RUN_LINES = 10;
/** How long (agent's clock, ms) a run of stale lines must have lasted before the log counts as behind. */
export const BEHIND_RUN_MS = 60_000;
/** At most one warning this often (ms) while the log stays behind. */
export const BEHIND_REPORT_EVERY_MS = 10 * 60_000;

/** What a warning says: the run of stale lines so far. */
export interface BehindReport {
  /** Stale lines in the run. */
  readonly lines: number;
  /** The newest time stamped on one of them (ms). */
  readonly newestLine: number;
  /** How far that is behind the agent's clock (ms). */
  readonly behindMs: number;
}

export class StaleLines {
  /** Stale lines read since start. */
  total = 0;
  private runLines = 0;
  private runSince = 0;
  private newest = Number.NEGATIVE_INFINITY;
  private lastReport = Number.NEGATIVE_INFINITY;

  /** `longestFindtime`: the longest findtime of the rules run (ms); Infinity when none runs. */
  constructor(private longestFindtime: number) {}

  /** The rules changed (a reload). */
  setLongestFindtime(ms: number): void {
    this.longestFindtime = ms;
  }

  /**
   * Notes one line read live (its time, the agent's clock); returns what to warn about when a warning
   * is due, else null.
   */
  note(time: number, now: number): BehindReport | null {
    if (!(time <= now - this.longestFindtime)) {
      this.runLines = 0;
      return null;
    }
    this.total++;
    if (this.runLines++ === 0) {
      this.runSince = now;
      this.newest = time;
    } else if (time > this.newest) {
      this.newest = time;
    }
    if (!this.isBehind(now)) return null;
    // (A clock set back since the last warning counts as time gone by.)
    if (now - this.lastReport < BEHIND_REPORT_EVERY_MS && now >= this.lastReport) return null;
    this.lastReport = now;
    return { lines: this.runLines, newestLine: this.newest, behindMs: now - this.newest };
  }

  /** While the log is behind (see the top of this file): the run so far, else undefined. */
  behind(now: number): BehindReport | undefined {
    return this.isBehind(now) ? { lines: this.runLines, newestLine: this.newest, behindMs: now - this.newest } : undefined;
  }

  private isBehind(now: number): boolean {
    return this.runLines >= BEHIND_RUN_LINES && now - this.runSince >= BEHIND_RUN_MS;
  }
}

/** The longest findtime (ms) of `rules`; Infinity when there are none (no line is too old for nothing). */
export function longestFindtime(rules: readonly { readonly settings: { readonly findtime: number } }[]): number {
  let longest = Number.NEGATIVE_INFINITY;
  for (const r of rules) if (r.settings.findtime > longest) longest = r.settings.findtime;
  return rules.length === 0 ? Number.POSITIVE_INFINITY : longest;
}
