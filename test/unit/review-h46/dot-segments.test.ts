/**
 * withoutDotSegments (rule.ts) resolves `.` and `..` in one scan that keeps the segments as runs of
 * the path: the same text as the split-and-join form it replaced (kept here as the reference), on
 * seeded random paths; and its cost per character stays near that of a path with one dot segment,
 * however many segments a client writes (review H46: an 8 KiB target of `/.;/x;` ending in `/.`
 * cost ~0.2 ms in split and join, a path of letters ~1 µs).
 */
import { describe, expect, it } from 'vitest';
import { withoutDotSegments } from '../../../src/detect/rule.js';
import { rng } from '../../support/random.js';
import { cpuNow } from '../../support/cpu-time.js';

/** The form it replaced (RFC 3986 remove_dot_segments, never above the root). */
function byJoin(p: string): string {
  const segs = p.split('/');
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 0; i <= last; i++) {
    const seg = segs[i]!;
    if (seg === '.' || seg === '..') {
      if (seg === '..' && out.length > 0 && !(out.length === 1 && out[0] === '')) out.pop();
      if (i === last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return out.join('/');
}

const fill = (unit: string, n: number): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

describe('withoutDotSegments', () => {
  it('gives the text split and join gave, on random paths', () => {
    const parts = ['/', '/', '.', '..', 'a', 'bc', ';', '%2e', '\u2215', '\ud800', '//', '/./', '/../', '.a', 'a.'];
    for (let seed = 1; seed <= 4000; seed++) {
      const r = rng(seed);
      let p = r() < 0.5 ? '/' : '';
      const n = Math.floor(r() * 24);
      for (let i = 0; i < n; i++) p += parts[Math.floor(r() * parts.length)]!;
      // Over 64 characters the answer is also remembered (RecentAnswers): both lengths are asked.
      for (const q of [p, `${'x'.repeat(70)}/${p}`]) expect(withoutDotSegments(q), JSON.stringify(q)).toBe(byJoin(q));
    }
  });

  it('costs about the same per character whatever the segments (interleaved, best of 3)', () => {
    const n = 8192;
    const hostile = ['/.;/x;', '/./', '/../', 'a/./b/', '/.'].map((u) => Array.from({ length: 8 }, (_, i) => `/z${i}${fill(u, n)}/.`));
    const plain = Array.from({ length: 8 }, (_, i) => `/z${i}${fill('abcdefgh', n)}/.`);
    const time = (paths: string[]): number => {
      // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
      const t0 = cpuNow();
      for (let rep = 0; rep < 20; rep++) for (const p of paths) withoutDotSegments(`${p}${rep}/.`);
      return cpuNow() - t0;
    };
    for (const h of hostile) {
      let best = Infinity;
      let base = Infinity;
      for (let round = 0; round < 3; round++) {
        base = Math.min(base, time(plain));
        best = Math.min(best, time(h));
      }
      // Split and join: 20–150 times the cost of a path of letters; one scan: a few times.
      expect(best, `${JSON.stringify(h[0]!.slice(0, 12))}: ${best.toFixed(1)} ms against ${base.toFixed(1)} ms`).toBeLessThan(12 * base + 2);
    }
  });
});
