/**
 * Helper H55: IPv6 network escalation's memory and the time of bans. An entry stamped far after the
 * ban being recorded (a ban made before the wall clock was set back, a restored one dated ahead)
 * stayed inside the window (at − within, at] of every later ban until its own time came; and with a
 * step of the wall clock the memory now moves with the bans (NetworkEscalation.shift).
 */
import { describe, expect, it } from 'vitest';
import { NetworkEscalation } from '../../../src/decide/network-escalation.js';

const T = Date.UTC(2026, 10, 23, 10, 0, 0);
const MIN = 60_000;
const D = 24 * 60 * MIN;
const settings = { after: 3, prefix: 64, within: 10 * MIN };

describe('review H55: escalation entries dated ahead of the ban being recorded', () => {
  for (const ahead of [D, 365 * D, 10 * 365 * D]) {
    it(`two bans dated ${ahead / D} day(s) ahead of a third do not count with it (nor with any ban until then)`, () => {
      for (const later of [0, 11 * MIN, 2 * D]) {
        const e = new NetworkEscalation(settings);
        e.record('2001:db8:1:1::a', T + ahead);
        e.record('2001:db8:1:1::b', T + ahead);
        expect(e.record('2001:db8:1:1::c', T + later)).toBeNull();
      }
    });
  }

  it('a late line in replay (stamped up to 5 minutes after the ban being recorded) keeps its own time', () => {
    const e = new NetworkEscalation(settings);
    e.record('2001:db8:1:1::a', T + 4 * MIN);
    e.record('2001:db8:1:1::b', T);
    expect(e.record('2001:db8:1:1::c', T + 9 * MIN)?.network).toBe('2001:db8:1:1::/64');
  });

  it('shift(): bans made before a step of the wall clock move with it; those dated after its last reading stay', () => {
    const e = new NetworkEscalation(settings);
    e.record('2001:db8:1:1::a', T);
    e.record('2001:db8:1:1::b', T + MIN);
    // Set back a day, one minute later: the next ban, made at T − 1 d + 2 min, counts both.
    e.shift(-D, T + MIN);
    expect(e.record('2001:db8:1:1::c', T - D + 2 * MIN)?.network).toBe('2001:db8:1:1::/64');
    const f = new NetworkEscalation(settings);
    f.record('2001:db8:1:1::a', T);
    f.record('2001:db8:1:1::b', T + MIN);
    f.shift(-D, T + MIN);
    // Eleven minutes of real time on, they have left the window.
    expect(f.record('2001:db8:1:1::c', T - D + 12 * MIN)).toBeNull();
  });
});
