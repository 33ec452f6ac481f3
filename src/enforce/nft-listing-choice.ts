/**
 * Which of two nft listings gives our table's structure (no set elements) at the least cost, learned
 * from what each one cost when it ran.
 *
 * - `table` (`nft -j -t list table inet NAME`): our table alone, but nft 1.0.6 still loads every
 *   element of the table's sets to print it (terse or not): about 0.6 to 0.9 s beside 100,000 bans,
 *   at every check (2 s). nft 1.1.3 (the images') does not (4 ms): there it stays the cheap one.
 * - `ruleset` (`nft -j -t list ruleset inet`): every inet table, without any set's elements (terse
 *   skips them for a ruleset): a few ms whatever our sets hold, but it grows with other programs'
 *   inet rules (30,000 rules: about 1.7 s and 9 MB of JSON).
 *
 * Neither is cheap in every host, so the cheaper one as measured is used. While the one in use costs
 * at most CHEAP_MS nothing else is tried. Above that, the other one is tried when it has never been
 * measured, or when its last measurement is older than REPROBE_MS or 50 times what it cost (a re-try
 * of a listing that was dearer then costs at most about 2 % of the time). A ruleset listing that
 * fails (another program's table can crash an older nft) or outlasts twice the table listing's cost
 * counts as very dear, and the table is read alone at once.
 */
export type TableListing = 'table' | 'ruleset';

/** A listing at most this dear (ms) is kept without trying the other one. */
export const CHEAP_MS = 20;
/** The least time (ms of the agent's clock) before a listing found dearer is measured again. */
export const REPROBE_MS = 60_000;
/** What a failed listing counts as costing (ms): tried again 50 minutes later at the soonest. */
export const FAILED_MS = 60_000;
/** The least time (ms) a ruleset listing is given before it is killed (see rulesetBudgetMs). */
export const MIN_RULESET_BUDGET_MS = 100;

export class TableListingChoice {
  private readonly cost: Record<TableListing, number | undefined> = { table: undefined, ruleset: undefined };
  private readonly measuredAt: Record<TableListing, number> = { table: Number.NEGATIVE_INFINITY, ruleset: Number.NEGATIVE_INFINITY };

  /** The listing to use for the listing about to run at `now` (clock ms). */
  choose(now: number): TableListing {
    const best = this.best();
    const bestCost = this.cost[best];
    if (bestCost === undefined || bestCost <= CHEAP_MS) return best;
    const other: TableListing = best === 'table' ? 'ruleset' : 'table';
    const otherCost = this.cost[other];
    if (otherCost === undefined) return other;
    return now - this.measuredAt[other] >= Math.max(REPROBE_MS, 50 * otherCost) ? other : best;
  }

  /** What a listing of this kind cost (ms of wall time) when it ran at `now` (clock ms). */
  note(kind: TableListing, costMs: number, now: number): void {
    if (!Number.isFinite(costMs) || costMs < 0) return;
    this.cost[kind] = costMs;
    this.measuredAt[kind] = now;
  }

  /**
   * How long (ms) a ruleset listing may run before it is killed and counted as failed: twice what the
   * table listing last cost (at least MIN_RULESET_BUDGET_MS), since a ruleset listing any slower could
   * never be the cheaper one. Other programs' tables are in it: without this bound a huge inet
   * ruleset could hold one check, and every apply queued behind it, for the whole command timeout.
   * Undefined (the command's own timeout) while the table listing has never been measured.
   */
  rulesetBudgetMs(): number | undefined {
    const t = this.cost.table;
    return t === undefined ? undefined : Math.max(MIN_RULESET_BUDGET_MS, Math.ceil(2 * t));
  }

  /**
   * A listing failed (nft crashed, timed out or printed what we cannot read, as another program's
   * table can make the ruleset listing do): it counts as costing FAILED_MS, so it is tried again
   * only after 50 times that.
   */
  failed(kind: TableListing, now: number): void {
    this.note(kind, FAILED_MS, now);
  }

  /**
   * The listing with the lower known cost; `table` (our table alone) until the ruleset has been
   * measured cheaper.
   */
  best(): TableListing {
    const r = this.cost.ruleset;
    const t = this.cost.table;
    return r !== undefined && (t === undefined || r < t) ? 'ruleset' : 'table';
  }
}
