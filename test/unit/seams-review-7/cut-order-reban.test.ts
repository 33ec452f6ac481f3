/**
 * Review H33, seam replay vs agent at the cut (host mode, the book full): the cut takes "the oldest
 * detected ban of the container holding the most" (README, the ban cap). An address banned again
 * after its ban ended is that container's newest. The agent's tick removes an ended ban within a
 * second, so the new ban is a new entry in the container's order. Replay's book (log time) sweeps
 * ended bans only once it is half full: below that the new ban took the ended one's place under the
 * same key, and with it the old ban's place in the order, so replay cut the attacker banned last
 * (a fresh ban) where the agent cut the one banned first.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const S = (c: string) => c.repeat(64);
const M = 60_000;

/** The same events in the agent's book (swept every second) and in replay's (log time). */
function run(logTime: boolean, tickBeforeReban = true): { cut: string[]; held: string[] } {
  const rules = { ...PRESETS, 'exploit-probes': { ...PRESETS['exploit-probes']!, bantime: M } };
  const b = new BanBook(rules, new Allowlist([]), undefined, { maxBans: 12, logTime });
  const at = (t: number) => {
    if (!logTime) b.expire(t); // the agent's tick
  };
  const offense = (ip: string, scope: string, t: number, tick = true) => {
    if (tick) at(t);
    return b.consider({ ip, family: 4, rule: 'exploit-probes', at: t, failures: 1, scope }, t);
  };
  // Container A: a1 banned, then a2; a1's ban (a minute) ends and a1 is banned again: A's newest.
  expect(offense('198.18.0.1', S('a'), T0)).not.toBeNull();
  expect(offense('198.18.0.2', S('a'), T0 + 50_000)).not.toBeNull();
  // (tickBeforeReban false: the agent's request came in the second between the ban's end and the tick.)
  expect(offense('198.18.0.1', S('a'), tickBeforeReban ? T0 + 70_000 : T0 + 60_500, tickBeforeReban)).not.toBeNull();
  // And a3: A holds three (its quarter): a2 (+50 s), a1 (+70 s) and a3 (+80 s).
  expect(offense('198.18.0.3', S('a'), T0 + 80_000)).not.toBeNull();
  // The rest of the book: two bans of B, C and D each, and three host-wide (manual) bans: 12, full.
  let t = T0 + 81_000;
  for (const c of ['b', 'c', 'd']) for (let i = 1; i <= 2; i++) expect(offense(`198.18.1.${c.charCodeAt(0) * 2 + i}`, S(c), (t += 100))).not.toBeNull();
  for (let i = 1; i <= 3; i++) b.banManually(`198.18.2.${i}`, { durationMs: 3600_000, now: (t += 100) });
  // E's first ban: A holds the most (3, more than the share of 12 / 5 = 2): its oldest ban is cut.
  at((t += 100));
  expect(offense('198.18.3.1', S('e'), t)).not.toBeNull();
  const cut = b.takeCut().map((x) => x.ip);
  const held = b.active(t).filter((x) => x.scope === S('a')).map((x) => x.ip).sort();
  return { cut, held };
}

describe('the cut takes the oldest ban of the container holding the most, in replay as in the agent', () => {
  it('the agent cuts a2 (banned at +50 s), not a1 (banned again at +70 s)', () => {
    expect(run(false).cut).toEqual(['198.18.0.2']);
  });

  it('replay cuts the same ban', () => {
    expect(run(true)).toEqual(run(false));
  });

  it('the agent too when the address offended again in the second between the end of its ban and the tick (a client timing its request cannot make itself the oldest ban of its container, the first cut)', () => {
    expect(run(false, false).cut).toEqual(['198.18.0.2']);
  });
});
