/**
 * How often the share stage repeats a warning of one kind: at most once per `everyMs`, with the
 * number held back since the last one it let through. A condition that lasts (an ACL without a
 * command the agent needs, a Redis refusing writes) is therefore seen in the log for as long as it
 * lasts, once a minute, instead of once per process; and no text a Redis server answers can use the
 * limiter up (kinds come from the code: the error text is not part of the key; at most `maxKinds`
 * kinds are remembered, the oldest forgotten first).
 */
import type { Clock } from '../clock.js';
import { BoundedMap } from '../bounded-map.js';

export class WarnLimiter {
  private readonly last: BoundedMap<string, { at: number; held: number }>;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly everyMs = 60_000,
    maxKinds = 64,
  ) {
    this.last = new BoundedMap(maxKinds);
  }

  /** null: not now (counted as held back); otherwise log it, saying how many were held back since the last. */
  admit(kind: string): { held: number } | null {
    const now = this.clock.now();
    const e = this.last.get(kind);
    // A clock set back counts as time gone by: the next warning is never held for longer than everyMs.
    if (e !== undefined && now >= e.at && now - e.at < this.everyMs) {
      e.held++;
      return null;
    }
    this.last.set(kind, { at: now, held: 0 });
    return { held: e?.held ?? 0 };
  }
}
