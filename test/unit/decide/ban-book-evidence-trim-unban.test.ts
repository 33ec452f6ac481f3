/**
 * Over the evidence budget, the oldest bans lose their lines: the ban is then held as another object
 * (without evidence). Every index of the book must follow, or an unban would leave the address
 * banned in the kernel (the enforcer never told) and a permanent ban could never be lifted.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';

const lines = (ip: string, n: number, at: number) => Array.from({ length: n }, (_, i) => ({ line: `${ip} - - "GET /x${i} HTTP/1.1" 403 ${'x'.repeat(200)}`, at: at + i }));

describe('a ban whose evidence was trimmed', () => {
  for (const permanent of [false, true]) {
    it(`is lifted by unban, in the book and for the enforcer (${permanent ? 'permanent' : 'timed'} ban, other rules of the address too)`, () => {
      const rules = { ...PRESETS, forbidden: { ...PRESETS.forbidden!, bantime: permanent ? Number.POSITIVE_INFINITY : 3_600_000 } };
      const b = new BanBook(rules, new Allowlist([]), 100_000, { evidenceBytes: 4_000 });
      const first = '198.18.5.1';
      b.consider({ ip: first, family: 4, rule: 'forbidden', at: 1000, failures: 5 }, 1000, undefined, { lines: lines(first, 5, 1000) });
      b.consider({ ip: first, family: 4, rule: 'not-found', at: 1000, failures: 5 }, 1000, undefined, { lines: lines(first, 5, 1000) });
      // Later bans push the first ones' lines out of the budget.
      for (let i = 2; i < 12; i++) b.consider({ ip: `198.18.5.${i}`, family: 4, rule: 'forbidden', at: 2000, failures: 5 }, 2000, undefined, { lines: lines(`198.18.5.${i}`, 5, 2000) });
      expect(b.active(3000).find((x) => x.ip === first && x.rule === 'forbidden')!.evidence ?? []).toEqual([]);
      expect(b.changes(3000).ban.map((x) => x.ip)).toContain(first);

      expect(b.unban(first, 'forbidden', null).map((x) => x.rule)).toEqual(['forbidden']);
      expect(b.isBanned(first, 'forbidden', 3000)).toBe(false);
      expect(b.isBanned(first, 'not-found', 3000)).toBe(true);
      b.unban(first, undefined, null);
      expect(b.isBanned(first, 'not-found', 3000)).toBe(false);
      expect(b.effectiveUntil(first, 3000)).toBeUndefined();
      expect(b.changes(3000).unban.map((x) => x.ip)).toEqual([first]);
    });
  }
});
