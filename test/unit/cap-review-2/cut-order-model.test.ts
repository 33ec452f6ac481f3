/**
 * Review H31: which ban a cut at the cap takes (host mode), against a model. README: "the oldest
 * detected ban of the container holding the most ends early". The model remembers when each key of a
 * container became held (made, or made again after it ended) and checks, at every cut, that the ban
 * cut is the oldest non-manual ban its container held. Operations: detected bans (the agent's tick
 * sweeps ended bans first, as live), manual bans (some under a rule), adoption (replacing a held ban
 * or not), unbans (one scope, every scope), expiry, and the cap changed by a reload. The pool of
 * addresses is small so that keys are banned, unbanned and banned again often.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { rng } from '../../support/random.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const SCOPES = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64), 'd'.repeat(64), 'e'.repeat(64)] as const;
const RULES = ['forbidden', 'exploit-probes'] as const;
const IPS = Array.from({ length: 10 }, (_, i) => `198.18.0.${i + 1}`);
const keyOf = (b: { rule: string; ip: string; scope?: string | undefined }): string => `${b.rule} ${b.ip} ${b.scope ?? '-'}`;

let cuts = 0;

function run(seed: number, steps: number): void {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const book = new BanBook({ ...PRESETS }, new Allowlist([]), 50, { maxBans: 8 + Math.floor(r() * 8), endedBans: 10 });
  /** When each scoped key held became held (a counter), by key. */
  const madeAt = new Map<string, number>();
  let clock = 0;
  let now = T0;
  const log: string[] = [];
  const sync = (): void => {
    const held = new Map(book.snapshot().bans.filter((b) => b.scope !== undefined).map((b) => [keyOf(b), b]));
    for (const k of [...madeAt.keys()]) if (!held.has(k)) madeAt.delete(k);
    for (const k of held.keys()) if (!madeAt.has(k)) madeAt.set(k, ++clock);
  };
  for (let step = 0; step < steps; step++) {
    now += Math.floor(r() * 30 * 60_000);
    const op = Math.floor(r() * 9);
    const ip = pick(IPS);
    const scope = pick(SCOPES);
    const rule = pick(RULES);
    log.push(`${op} ${ip} ${scope[0]} ${rule} @${now - T0}`);
    const where = () => `seed ${seed} step ${step}:\n${log.slice(-15).join('\n')}`;
    switch (op) {
      case 0:
      case 1:
      case 2:
      case 3: {
        book.expire(now); // the agent's tick
        sync();
        const before = book.snapshot().bans;
        book.consider({ ip, family: 4, rule, at: now, failures: 3, scope }, now);
        const cut = book.takeCut();
        cuts += cut.length;
        for (const c of cut) {
          // Of the container holding the most (before the ban was made).
          const count = new Map<string, number>();
          for (const b of before) if (b.scope !== undefined) count.set(b.scope, (count.get(b.scope) ?? 0) + 1);
          expect(count.get(c.scope!), where()).toBe(Math.max(...count.values()));
          const mine = before.filter((b) => b.scope === c.scope && !b.manual);
          const oldest = mine.reduce((o, b) => (madeAt.get(keyOf(b))! < madeAt.get(keyOf(o))! ? b : o));
          expect(keyOf(c), where()).toBe(keyOf(oldest));
        }
        break;
      }
      case 4:
        book.banManually(ip, { durationMs: r() < 0.5 ? null : 30 * 60_000, now, scope, ...(r() < 0.5 ? { rule } : {}) });
        break;
      case 5:
        book.adopt({ ip, rule, at: now, until: now + (1 + Math.floor(r() * 3)) * 3600_000, origin: 'replica-2', scope, nth: 2 }, now);
        break;
      case 6:
        book.unban(ip, undefined, r() < 0.5 ? scope : undefined, { at: now, by: 'control' });
        break;
      case 7:
        book.expire(now);
        break;
      case 8:
        if (r() < 0.2) book.setMaxBans(6 + Math.floor(r() * 10));
        break;
    }
    sync();
  }
}

describe('a cut at the cap takes the oldest detected ban of its container (model-based)', () => {
  it('over random operation sequences (300 seeds × 400 steps)', () => {
    const t = Date.now();
    for (let seed = 1; seed <= 300; seed++) run(seed, 400);
    expect(cuts).toBeGreaterThan(50);
    expect(Date.now() - t).toBeLessThan(60_000);
  });
});
