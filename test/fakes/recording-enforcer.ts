import type { Enforcer, EnforcerBan, EnforcerBatch } from '../../src/enforce/enforcer.js';

/**
 * An Enforcer that remembers what it holds and every batch; it can be told to fail or to lose its state.
 * `held` is keyed by address, or `address container-id` for a scoped (host-mode) ban.
 */
export class RecordingEnforcer implements Enforcer {
  readonly name = 'recording';
  readonly held = new Map<string, EnforcerBan>();
  readonly batches: EnforcerBatch[] = [];
  failNext = 0;
  repairs: string[] = [];
  initCalls = 0;
  shutdownCalls = 0;

  async init(): Promise<void> {
    this.initCalls++;
  }

  async apply(batch: EnforcerBatch): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('simulated enforcement failure');
    }
    this.batches.push(batch);
    for (const u of batch.unban) this.held.delete(u.scope === undefined ? u.ip : `${u.ip} ${u.scope}`);
    for (const b of batch.ban) this.held.set(b.scope === undefined ? b.ip : `${b.ip} ${b.scope}`, b);
  }

  async check(): Promise<string[]> {
    const r = this.repairs;
    this.repairs = [];
    return r;
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
    this.held.clear();
  }
}
