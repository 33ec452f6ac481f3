import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, RefusedEntry } from '../../src/enforce/enforcer.js';

/**
 * An Enforcer that remembers what it holds and every batch; it can be told to fail, to refuse
 * addresses (like a kernel refusing an element: the rest of the batch still applies), or to lose its
 * state. `held` is keyed by address, or `address container-id` for a scoped (host-mode) ban.
 * check(expected) records every expected() it was given (in `expectedSeen`) and returns `repairs`.
 */
export class RecordingEnforcer implements Enforcer {
  readonly name = 'recording';
  /** Holds network bans too (set false to act like docker-user or a map enforcer). */
  cidr = true;
  readonly held = new Map<string, EnforcerBan>();
  readonly batches: EnforcerBatch[] = [];
  failNext = 0;
  /** Addresses this enforcer refuses (reason: "refused by the recording enforcer"). */
  readonly refuse = new Set<string>();
  repairs: string[] = [];
  /** What expected() returned at each check. */
  readonly expectedSeen: (readonly EnforcerBan[])[] = [];
  initCalls = 0;
  shutdownCalls = 0;

  async init(): Promise<void> {
    this.initCalls++;
  }

  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('simulated enforcement failure');
    }
    this.batches.push(batch);
    const refused: RefusedEntry[] = [];
    for (const u of batch.unban) this.held.delete(u.scope === undefined ? u.ip : `${u.ip} ${u.scope}`);
    for (const b of batch.ban) {
      if (this.refuse.has(b.ip)) {
        refused.push({ ip: b.ip, family: b.family, ...(b.scope !== undefined ? { scope: b.scope } : {}), reason: 'refused by the recording enforcer' });
        continue;
      }
      this.held.set(b.scope === undefined ? b.ip : `${b.ip} ${b.scope}`, b);
    }
    return { refused };
  }

  async check(expected: () => readonly EnforcerBan[] = () => []): Promise<string[]> {
    this.expectedSeen.push(expected());
    const r = this.repairs;
    this.repairs = [];
    return r;
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
    this.held.clear();
  }
}
