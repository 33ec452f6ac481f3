/**
 * Helper H56: nginx-map spaces its reloads (`nginx -s reload`, at most one a second) by the time of
 * the last one, which it read on the wall clock. Set back a day right after a reload, the next reload
 * waited that day, and apply() (which awaits it) with it: the enforcement queue stood still, no ban
 * or unban reached nginx for a day.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';
import { SteppingClock } from '../review-h55/stepping-clock.js';

const T = Date.UTC(2026, 10, 23, 10, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'bh-h56-nginx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Settles `p` while moving the clock (its timers) up to `ms` on, a second at a time; whether it settled. */
async function settlesWithin(clock: SteppingClock, p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => undefined,
  );
  // (Real time for the file writes between the clock's moves: up to 3 s per step, done when settled.)
  for (let t = 0; t <= ms && !done; t += 1000) {
    for (let i = 0; i < 300 && !done; i++) await new Promise((r) => setTimeout(r, 10));
    if (!done) clock.advance(1000);
  }
  return done;
}

describe('review H56: nginx-map reloads keep their pace whichever way the wall clock is stepped', () => {
  for (const step of [-86_400_000, -3_600_000, -10_000, 3_600_000]) {
    it(`stepped ${step / 1000} s after a reload: the next ban reaches nginx within 2 s`, async () => {
      const clock = new SteppingClock(T);
      const runner = new RecordingRunner().on('nginx', { code: 0 });
      const e = new NginxMapEnforcer({ path: join(dir, `m-${step}`), clock, runner });
      await e.init();
      expect(await settlesWithin(clock, e.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] }), 2000)).toBe(true);
      expect(e.reloads).toBe(1);
      clock.step(step);
      expect(await settlesWithin(clock, e.apply({ ban: [{ ip: '198.18.0.2', family: 4, until: null }], unban: [] }), 2000)).toBe(true);
      expect(e.reloads).toBe(2);
    });
  }
});
