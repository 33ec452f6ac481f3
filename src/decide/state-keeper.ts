/**
 * Saving the agent's state is best effort: a full or read-only disk must never stop enforcement.
 * save() never throws; the first failure of an outage is logged once (with the error), the return
 * once, and every failure is counted. `error` holds the current outage's error for status and
 * metrics; the caller retries simply by saving again (the agent does every second while positions
 * move, and after every batch).
 */
export interface StateSink<T> {
  save(doc: T): Promise<void>;
}

export interface StateKeeperLog {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export class StateKeeper<T> {
  /** The current outage's error (one line), or null while saves succeed. */
  error: string | null = null;
  failures = 0;

  constructor(
    private readonly sink: StateSink<T>,
    private readonly log: StateKeeperLog,
    private readonly onFailure: () => void = () => {},
  ) {}

  /** Saves; true when the document is durable. */
  async save(doc: T): Promise<boolean> {
    try {
      await this.sink.save(doc);
    } catch (err) {
      this.failures++;
      this.onFailure();
      const msg = err instanceof Error ? err.message : String(err);
      if (this.error === null) this.log.warn({ err: msg }, 'cannot save state (bans are still enforced; retrying)');
      this.error = msg.split('\n')[0]!.slice(0, 300);
      return false;
    }
    if (this.error !== null) this.log.info({ failures: this.failures }, 'state saved again');
    this.error = null;
    return true;
  }
}
