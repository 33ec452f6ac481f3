/** A seeded PRNG for tests (bench/prng.ts's mulberry32), so a failure names the seed that reproduces it. */
import { Prng } from '../../bench/prng.js';

/** Uniform in [0, 1), the same sequence for the same seed on every machine. */
export function rng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

/** Uniform integers in [0, n), from rng(seed). */
export function intRng(seed: number): (n: number) => number {
  const r = rng(seed);
  return (n) => Math.floor(r() * n);
}
