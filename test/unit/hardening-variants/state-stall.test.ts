/**
 * Audit of issue 9, "state disk full or read-only": saving state is best effort. A state disk that
 * stalls (an NFS hard mount, a dying disk, a frozen FUSE: save() neither resolves nor rejects) must not
 * stop enforcement either. Found by the audit: the enforcement queue awaited afterApply → Daemon.save()
 * → StateKeeper.save() → store.save() with no bound, so every later ban waited for ever.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

class StallingStore {
  stall = false;
  async load(): Promise<DaemonState | null> {
    return null;
  }
  save(_d: DaemonState): Promise<void> {
    return this.stall ? new Promise<void>(() => {}) : Promise.resolve();
  }
}

describe('a stalled state disk', () => {
  it('does not keep later bans from the firewall', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
    const enforcer = new RecordingEnforcer();
    const store = new StallingStore();
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'u' }), clock, logger: silent, enforcer, store, createSource, hostAddresses: [] });
    await daemon.start();
    store.stall = true;
    for (let i = 0; i < 5; i++) source.onLine(line('198.18.0.60', clock.now()), '/var/log/access.log');
    for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r));
    expect(enforcer.held.has('198.18.0.60')).toBe(true);
    // A second offender, a few seconds later (timers get every chance to run).
    for (let s = 0; s < 30; s++) {
      clock.advance(1000);
      for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 5; i++) source.onLine(line('198.18.0.61', clock.now()), '/var/log/access.log');
    for (let s = 0; s < 30; s++) {
      clock.advance(1000);
      for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    }
    // Give real timers (if the fix uses one) up to 3 s.
    const deadline = Date.now() + 3000;
    while (!enforcer.held.has('198.18.0.61') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(enforcer.held.has('198.18.0.61')).toBe(true);
    // A manual ban answers, too.
    const reply = await Promise.race([daemon.ban('198.18.0.62', { forMs: 60_000 }).then(() => 'answered'), new Promise((r) => setTimeout(() => r('no answer'), 1000))]);
    expect(reply).toBe('answered');
  }, 15_000);
});
