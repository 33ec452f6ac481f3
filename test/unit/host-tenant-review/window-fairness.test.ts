/**
 * Host mode, hostile tenants (review H22): detection windows are bounded per rule (max_tracked), and
 * in host mode one tenant writes whatever lines it likes. A tenant that fills the table with forged
 * addresses must not evict the windows another container's clients are building up (its attacker
 * would never reach maxretry there): at the cap, a window of a scope holding less than its share of
 * the table is spared, and one of the scope holding the most goes.
 */
import { describe, expect, it } from 'vitest';
import { SlidingWindows } from '../../../src/detect/sliding-window.js';
import { DistinctWindows } from '../../../src/detect/distinct-window.js';
import { scopedKey } from '../../../src/decide/scoped-key.js';

const A = 'a1'.repeat(32); // the flooding tenant's container
const B = '3f'.repeat(32); // the victim's container
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

describe("a tenant's flood of forged addresses and another container's windows", () => {
  it("does not evict another container's windows from a full table (failure windows)", () => {
    const w = new SlidingWindows(600_000, 1000);
    const attacker = scopedKey('198.18.7.7', B);
    for (let i = 0; i < 4; i++) expect(w.record(attacker, T0 + i, T0 + i)).toBe(i + 1);
    // A writes 20,000 lines, each with an address of its choosing.
    for (let i = 0; i < 20_000; i++) w.record(scopedKey(`2001:db8::${i.toString(16)}`, A), T0 + 10, T0 + 10);
    expect(w.evictions).toBeGreaterThan(0);
    // B's attacker's 5th failure still makes the count B's rule bans at.
    expect(w.record(attacker, T0 + 20, T0 + 20)).toBe(5);
  });

  it('nor host-wide windows, nor through distinct-path windows', () => {
    const w = new SlidingWindows(600_000, 500);
    w.record('198.18.7.8', T0, T0);
    w.record('198.18.7.8', T0 + 1, T0 + 1);
    for (let i = 0; i < 5000; i++) w.record(scopedKey(`2001:db8::${i.toString(16)}`, A), T0 + 10, T0 + 10);
    expect(w.record('198.18.7.8', T0 + 20, T0 + 20)).toBe(3);

    const d = new DistinctWindows(600_000, 500, 100);
    const key = scopedKey('198.18.7.9', B);
    d.record(key, T0, 1, T0);
    d.record(key, T0 + 1, 2, T0 + 1);
    for (let i = 0; i < 5000; i++) d.record(scopedKey(`2001:db8::${i.toString(16)}`, A), T0 + 10, 1, T0 + 10);
    expect(d.record(key, T0 + 20, 3, T0 + 20)).toBe(3);
  });

  it('the flooding scope still evicts its own least recent windows, and one scope alone is plain LRU', () => {
    const w = new SlidingWindows(600_000, 100);
    for (let i = 0; i < 300; i++) w.record(scopedKey(`198.18.8.${i % 250}`, A) + (i >= 250 ? 'x' : ''), T0 + i, T0 + i);
    expect(w.evictions).toBe(200);
    // The 100 most recent are kept.
    expect(w.record(scopedKey('198.18.8.249', A), T0 + 400, T0 + 400)).toBe(2);
    expect(w.record(scopedKey('198.18.8.10', A), T0 + 401, T0 + 401)).toBe(1);
  });
});
