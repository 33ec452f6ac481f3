/**
 * Issue 10, defect 3 variant: a reload that allowlists an address whose ban has been
 * made but not yet reported (its batch is queued, or being applied by the enforcer). The kernel ends
 * right (not held), but the agent's log says `unban` (reason allowlisted) first and `ban` after it,
 * so the log, metrics and notifications claim the address is banned. Cause: Daemon.lift
 * (src/daemon.ts:318-322) logs the unban at once, while Daemon.afterApply (src/daemon.ts:303-311)
 * logs/counts/notifies the ban only when its batch completes, without checking it was lifted meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EnforcerBatch } from '../../../src/enforce/enforcer.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { agent, cleanup, line, settle } from './harness.js';

afterEach(cleanup);

const events = (d: ReturnType<typeof agent>, ip: string) => d.infos.filter((r) => (r.msg === 'ban' || r.msg === 'unban') && r.obj.ip === ip).map((r) => r.msg);

describe('reload allowlisting a ban that is not reported yet', () => {
  it('ban queued (not flushed): the last log event for the address is not "ban"', async () => {
    const d = agent();
    await d.daemon.start();
    for (let i = 0; i < 5; i++) d.emit(line('198.18.3.14', d.clock.now()));
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.14' }); // before the scheduled flush ran
    expect(d.held()).toEqual([]);
    expect(events(d, '198.18.3.14').at(-1)).toBe('unban');
    await d.daemon.stop();
  });

  it('ban batch being applied: the log says ban, then unban', async () => {
    let release!: () => void;
    class Slow extends RecordingEnforcer {
      gate: Promise<void> | null = null;
      override async apply(b: EnforcerBatch) {
        if (this.gate) await this.gate;
        return super.apply(b);
      }
    }
    const enforcer = new Slow();
    const d = agent({ enforcer });
    await d.daemon.start();
    enforcer.gate = new Promise((r) => (release = r));
    for (let i = 0; i < 5; i++) d.emit(line('198.18.3.20', d.clock.now()));
    await settle(); // the batch is taken from the book and waits in apply()
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.3.20' });
    enforcer.gate = null;
    release();
    await settle();
    expect(d.held()).toEqual([]);
    expect(events(d, '198.18.3.20')).toEqual(['ban', 'unban']);
    await d.daemon.stop();
  });
});
