/**
 * Review H47: restoring saved network bans paused every 1,024 bans, as for addresses, but a network
 * costs several times an address (parsed for its width, what it covers, the allowlist and the index):
 * 1,024 IPv6 /64s were 30–180 ms between two pauses on a loaded machine; and before the first pause
 * every saved network was sorted by prefix in one piece (60–90 ms at 100,000). The networks are now
 * put in order in pausable steps (by prefix, one pass), and each counts for NETWORK_UNITS addresses.
 *
 * Counted: the networks indexed between two pauses of restoreSteps, and the bans read before the
 * first. The result is the same as restore()'s (the widest networks first: an overlapping narrower
 * one is refused).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { NetworkIndex } from '../../../src/decide/network-index.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { STEP_UNITS } from '../../../src/yielding.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 12_000;

afterEach(() => vi.restoreAllMocks());

function saved(): object[] {
  const bans: object[] = [];
  // Addresses first, then /64s, then a /48 holding one more /64 saved before it (the /48 wins: widest first).
  for (let i = 0; i < 2000; i++) bans.push({ ip: `198.18.${i >> 8}.${i & 255}`, family: 4, rule: 'forbidden', at: T0, until: T0 + 3600_000, failures: 5, nth: 1, manual: false });
  bans.push({ ip: '2001:db8:1:5::/64', family: 6, rule: 'forbidden', at: T0, until: T0 + 3600_000, failures: 5, nth: 1, manual: false });
  for (let i = 0; i < N; i++) bans.push({ ip: `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`, family: 6, rule: 'forbidden', at: T0, until: T0 + 3600_000, failures: 5, nth: 1, manual: false });
  bans.push({ ip: '2001:db8:1::/48', family: 6, rule: 'manual', at: T0, until: null, failures: 0, nth: 1, manual: true });
  return bans;
}

describe('saved network bans restored in short steps (review H47)', () => {
  it('a step indexes at most a quarter of STEP_UNITS networks, and none before every saved ban is put in order', () => {
    const book = new BanBook({ ...PRESETS }, new Allowlist([]), 100_000, { maxBans: 100_000 });
    const add = NetworkIndex.prototype.add;
    let indexed = 0;
    vi.spyOn(NetworkIndex.prototype, 'add').mockImplementation(function (this: NetworkIndex, ...a: Parameters<NetworkIndex['add']>) {
      indexed++;
      return add.apply(this, a);
    });
    const steps = book.restoreSteps({ bans: saved(), history: [] } as never, T0);
    const perStep: number[] = [];
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) {
      perStep.push(indexed);
      indexed = 0;
    }
    perStep.push(indexed);
    expect(Math.max(...perStep)).toBeLessThanOrEqual(STEP_UNITS / 4);
    expect(perStep[0]).toBe(0); // nothing indexed before the first pause: the bans are put in order first
    // The /48 came first: the /64 inside it refused, the rest restored.
    expect(r.value).toEqual({ restored: 2000 + N + 1, dropped: 1 });
    expect(book.active().some((b) => b.ip === '2001:db8:1::/48')).toBe(true);
    expect(book.endedBans().map((b) => [b.ip, b.ended.by])).toEqual([['2001:db8:1:5::/64', 'restore: overlaps 2001:db8:1::/48']]);
  });
});
