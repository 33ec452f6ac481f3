/**
 * Issue 10 audit, round 2: a reload that allowlists an address lifts its bans and forgets the
 * failures of the lifted bans, but keeps the failures it had not been banned for yet. While it is
 * allowlisted, `why` lists it as failing and `status` counts it in "Currently failed" (an address that
 * can never be banned); once the allowlist entry is removed again, a single failure bans it, counted
 * with failures made before it was allowlisted (while failures made during the allowlisting never
 * count: the outcome depends on when the operator edited ignoreip). Counted afresh, as after a lifted ban.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup } from '../seams-variants/harness.js';

afterEach(cleanup);

describe('pending failures of an address that becomes allowlisted on reload', () => {
  it('are not shown as failing while it is allowlisted', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.43.1', 4);
    expect(d.daemon.status('forbidden').rules[0]!.currentlyFailed).toBe(1);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.43.0/24' });
    const why = d.daemon.why('198.18.43.1');
    expect(why.allowlisted).toBe(true);
    expect(why.failing).toEqual([]);
    expect(d.daemon.status('forbidden').rules[0]!.currentlyFailed).toBe(0);
    await d.daemon.stop();
  });

  it('do not count once the allowlist entry is removed again', async () => {
    const d = agent();
    await d.daemon.start();
    await d.feed('198.18.43.2', 4);
    await d.reloadWith({ BANHAMMER_IGNOREIP: '198.18.43.2' });
    await d.reloadWith({});
    await d.feed('198.18.43.2', 1);
    expect(d.banned()).toEqual([]);
    await d.feed('198.18.43.2', 4);
    expect(d.banned()).toEqual(['forbidden 198.18.43.2']);
    await d.daemon.stop();
  });
});
