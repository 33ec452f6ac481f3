/**
 * Review H53: `status` (the control socket's statusInSlices) learns the logs' sizes asynchronously
 * before it reports their lag (LineSource.lookAtSizes): current for a log that answers, and for one
 * on a mount that hangs (the look never finishes) it answers after a bounded wait with the last size
 * known, never blocked and never waiting for ever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { Store, NOW } from '../seams-variants/harness.js';

const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
});
const logger = { debug() {}, error() {}, info() {}, warn() {} };

/** A source whose size look is answered when the test says so (never, for a hung mount). */
function sourceWithLook(): { source: LineSource; looks: number; answer(size: number): void } {
  let lag = 100;
  let pending: (() => void) | null = null;
  const h = {
    looks: 0,
    answer(size: number) {
      lag = size;
      pending?.();
      pending = null;
    },
    source: {
      async start() {},
      async stop() {},
      positions: (): FilePosition[] => [],
      lagBytes: () => lag,
      progress: () => [{ path: '/var/log/a.log', lines: 0, unreadBytes: lag }],
      stats: () => ({ files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }),
      lookAtSizes: () => {
        h.looks++;
        return new Promise<void>((resolve) => (pending = resolve));
      },
    } satisfies LineSource,
  };
  return h;
}

describe('status and the lag of a log whose size cannot be learned', () => {
  it('answers after a bounded wait with the last size known when the look never finishes', async () => {
    const clock = new ManualClock(NOW);
    const h = sourceWithLook();
    const config = loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/a.log' }, hostname: 'unit' });
    const d = new Daemon({ config, clock, logger, enforcer: new RecordingEnforcer(), store: new Store(), createSource: () => h.source, hostAddresses: [] });
    daemons.push(d);
    await d.start();
    let answered = false;
    const report = d.statusInSlices().then((s) => ((answered = true), s));
    await new Promise((r) => setTimeout(r, 20));
    expect(h.looks).toBe(1);
    expect(answered).toBe(false); // waiting for the look, a while
    clock.advance(500);
    const s = await report;
    expect(s.files).toEqual([{ path: '/var/log/a.log', lagBytes: 100 }]);
  });

  it('shows the size the look learned when it answers', async () => {
    const clock = new ManualClock(NOW);
    const h = sourceWithLook();
    const config = loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/a.log' }, hostname: 'unit' });
    const d = new Daemon({ config, clock, logger, enforcer: new RecordingEnforcer(), store: new Store(), createSource: () => h.source, hostAddresses: [] });
    daemons.push(d);
    await d.start();
    const report = d.statusInSlices();
    await new Promise((r) => setTimeout(r, 20));
    h.answer(4242);
    const s = await report;
    expect(s.files).toEqual([{ path: '/var/log/a.log', lagBytes: 4242 }]);
  });
});
