/**
 * Reload (issue 10, round 4): a change to what a ban does (bantime, increment) or says (description)
 * keeps the rule's windows and counters; only a change to what it counts (match, maxretry, findtime,
 * count) starts it afresh. Before, lengthening a bantime handed every address a fresh budget of
 * failures, an attacker four 403s into a five-403 rule included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup } from '../seams-variants/harness.js';

afterEach(() => cleanup());
const rule = (d: ReturnType<typeof agent>, name: string) => d.daemon.status().rules.find((r) => r.name === name)!;

describe('reload: what a ban does is not what a rule counts', () => {
  for (const [what, env] of [
    ['bantime', { BANHAMMER_BANTIME: '1d' }],
    ['bantime (made permanent, per rule)', { BANHAMMER_RULE_FORBIDDEN_BANTIME: '-1' }],
  ] as const) {
    it(`a changed ${what} keeps the half-full window: the fifth 403 bans, Total failed kept`, async () => {
      const d = agent();
      await d.daemon.start();
      await d.feed('198.18.31.1', 4);
      expect(rule(d, 'forbidden').totalFailed).toBe(4);
      await d.reloadWith(env);
      expect(rule(d, 'forbidden').totalFailed).toBe(4);
      await d.feed('198.18.31.1', 1);
      expect(d.banned()).toEqual(['forbidden 198.18.31.1']);
      await d.daemon.stop();
    });
  }
  it('a changed maxretry still starts afresh (control)', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.31.2', 4);
    await d.reloadWith({ BANHAMMER_MAXRETRY: '6' });
    await d.feed('198.18.31.2', 2);
    expect(d.banned()).toEqual([]);
    await d.daemon.stop();
  });
});
