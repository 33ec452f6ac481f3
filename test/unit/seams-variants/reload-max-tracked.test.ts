/**
 * Issue 10, defect 3 variant: "Reload is a diff: windows, counters and bans carry over;
 * rules that changed start fresh". A reload whose only change is the live setting
 * BANHAMMER_MAX_TRACKED (no rule changed) restarts every rule: all failure windows and every rule's
 * `Total failed` are lost. Cause: Detector.reconfigure (src/detect/detector.ts:133-142) keeps a rule's
 * state only when `sameCap` (maxTracked unchanged).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup } from './harness.js';

afterEach(cleanup);

describe('reload changing only BANHAMMER_MAX_TRACKED', () => {
  it('keeps Total failed and the failure windows of unchanged rules', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.3.12', 5); // banned
    await d.feed('198.18.3.13', 3); // 3 of 5 in the window
    await d.reloadWith({ BANHAMMER_MAX_TRACKED: '50000' });
    const f = d.daemon.status('forbidden').rules[0]!;
    expect({ totalBanned: f.totalBanned, totalFailed: f.totalFailed }).toEqual({ totalBanned: 1, totalFailed: 8 });
    await d.feed('198.18.3.13', 2); // 3 + 2 = maxretry 5
    expect(d.banned()).toEqual(['forbidden 198.18.3.12', 'forbidden 198.18.3.13']);
    await d.daemon.stop();
  });
});
