/**
 * Issue 11, round 5: the group's one clock (Redis TIME). GroupClock with fake clocks: a fake Redis
 * time, a fake wall clock for this host, and a fake monotonic clock.
 */
import { describe, expect, it } from 'vitest';
import { CONFIRMATIONS, GroupClock, HYSTERESIS_MS, MAX_OFFSET_MS, MAX_RTT_MS, parseRedisTime, type ClockSample } from '../../../src/share/group-clock.js';
import { MAX_TIME_MS } from '../../../src/share/messages.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 5, 11, 0, 0);

/**
 * A world: Redis's clock runs at `redis` (real time + redisSkew), this host's wall clock at real
 * time + wallSkew, its monotonic clock at real time - T0. `rtt` is the round trip of one TIME.
 */
class World {
  real = T0;
  constructor(
    public wallSkew: number,
    public redisSkew = 0,
  ) {}
  sample(rtt = 2, redisOverride?: number): ClockSample {
    // The server reads its clock in the middle of the round trip; the host reads its clocks at both ends.
    return { redisMs: redisOverride ?? this.real + this.redisSkew, wallMs: this.real + this.wallSkew, monoMs: this.real - T0, rttMs: rtt };
  }
  advance(ms: number): void {
    this.real += ms;
  }
}

describe('parseRedisTime', () => {
  it('reads TIME\'s two decimal strings as ms', () => {
    expect(parseRedisTime(['1796468872', '735123'])).toBe(1_796_468_872_735);
    expect(parseRedisTime(['0', '0'])).toBe(0);
    expect(parseRedisTime([Buffer.from('1796468872'), Buffer.from('999999')])).toBe(1_796_468_872_999);
  });
  it('refuses what is no time', () => {
    for (const bad of [
      null,
      'OK',
      ['1796468872'],
      ['1796468872', '1', '2'],
      ['-1', '0'],
      ['1e9', '0'],
      ['1796468872', '1000000'],
      ['1796468872.5', '0'],
      ['', '0'],
      [' 1796468872', '0'],
      ['NaN', '0'],
      [String(Math.floor(MAX_TIME_MS / 1000) + 1), '0'],
      ['99999999999999999', '0'],
      [{}, '0'],
      [-5, 0],
    ]) {
      expect(parseRedisTime(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});

describe('GroupClock', () => {
  it('is this host\'s clock (offset 0) until a measurement is taken', () => {
    const c = new GroupClock();
    expect(c.known).toBe(false);
    expect(c.toGroup(T0)).toBe(T0);
    expect(c.toLocal(T0)).toBe(T0);
  });

  it('a host 10 minutes behind (and one 10 minutes ahead) writes and reads the group\'s time', () => {
    for (const skew of [-10 * MIN, 10 * MIN]) {
      const w = new World(skew);
      const c = new GroupClock();
      const v = c.take([w.sample()]);
      expect(v).toMatchObject({ kind: 'set', changed: true });
      expect(c.offset).toBe(-skew);
      // A ban made "now" by this host's clock is stamped with the group's now, and read back the same.
      expect(c.toGroup(w.real + skew)).toBe(w.real);
      expect(c.toLocal(w.real)).toBe(w.real + skew);
    }
  });

  it('two hosts 20 minutes apart agree on a group time (one converts to the other\'s clock exactly)', () => {
    const behind = new World(-10 * MIN);
    const ahead = new World(10 * MIN);
    const a = new GroupClock();
    const b = new GroupClock();
    a.take([behind.sample()]);
    b.take([ahead.sample()]);
    // A 10-minute ban made at the host behind, read at the host ahead: it ends 10 minutes from now there.
    const at = behind.real - 10 * MIN;
    const until = at + 10 * MIN;
    expect(b.toLocal(a.toGroup(until)) - (ahead.real + 10 * MIN)).toBe(10 * MIN);
  });

  it('takes the sample with the smallest round trip, and none slower than MAX_RTT_MS', () => {
    const w = new World(-10 * MIN);
    const c = new GroupClock();
    // A slow sample whose server time was read late in its round trip, and a fast exact one.
    const slow = { ...w.sample(900), redisMs: w.real + 440 };
    const fast = w.sample(1);
    expect(c.take([slow, fast, { ...w.sample(50), redisMs: w.real + 20 }])).toMatchObject({ kind: 'set' });
    expect(c.offset).toBe(10 * MIN);
    const d = new GroupClock();
    expect(d.take([w.sample(MAX_RTT_MS + 1)])).toEqual({ kind: 'none' });
    expect(d.known).toBe(false);
    expect(d.take([])).toEqual({ kind: 'none' });
    expect(d.take([{ ...w.sample(), redisMs: NaN }])).toEqual({ kind: 'none' });
  });

  it('refuses an offset of more than a day either way, keeping the last one', () => {
    const w = new World(0);
    const c = new GroupClock();
    c.take([w.sample()]);
    w.advance(MIN);
    const v = c.take([w.sample(2, w.real + MAX_OFFSET_MS + 1000)]);
    expect(v.kind).toBe('far');
    expect(c.offset).toBe(0);
    expect(new GroupClock().take([w.sample(2, w.real - MAX_OFFSET_MS - 1000)]).kind).toBe('far');
  });

  it('keeps the offset through small differences (HYSTERESIS_MS), follows larger ones', () => {
    const w = new World(-10 * MIN);
    const c = new GroupClock();
    c.take([w.sample()]);
    w.advance(MIN);
    expect(c.take([w.sample(2, w.real + HYSTERESIS_MS - 50)])).toMatchObject({ kind: 'set', changed: false });
    expect(c.offset).toBe(10 * MIN);
  });

  it('a step of this host\'s own clock (NTP, a VM resumed) is followed at the next measurement', () => {
    const w = new World(-10 * MIN);
    const c = new GroupClock();
    c.take([w.sample()]);
    w.advance(MIN);
    w.wallSkew = 0; // NTP set the host's clock right
    expect(c.take([w.sample()])).toMatchObject({ kind: 'set', changed: true, offset: 0 });
  });

  it('one answer going backwards (or forwards) against the monotonic clock moves nothing; a lasting move is taken after CONFIRMATIONS', () => {
    const w = new World(-10 * MIN);
    const c = new GroupClock();
    c.take([w.sample()]);
    w.advance(MIN);
    // Redis answers an hour back, once.
    expect(c.take([w.sample(2, w.real - 60 * MIN)])).toMatchObject({ kind: 'jump', seen: 1 });
    expect(c.offset).toBe(10 * MIN);
    w.advance(3_000);
    // Back to normal: taken, and the odd answer forgotten.
    expect(c.take([w.sample()])).toMatchObject({ kind: 'set', changed: false });
    expect(c.confirming).toBe(false);
    // Two odd answers that disagree with each other never confirm.
    w.advance(3_000);
    expect(c.take([w.sample(2, w.real + 5 * MIN)])).toMatchObject({ kind: 'jump', seen: 1 });
    w.advance(3_000);
    expect(c.take([w.sample(2, w.real - 5 * MIN)])).toMatchObject({ kind: 'jump', seen: 1 });
    expect(c.offset).toBe(10 * MIN);
    // A failover to a server whose clock is 2 minutes ahead: after CONFIRMATIONS measurements in a row.
    w.redisSkew = 2 * MIN;
    for (let i = 1; i < CONFIRMATIONS; i++) {
      w.advance(3_000);
      expect(c.take([w.sample()]).kind).toBe('jump');
      expect(c.offset).toBe(10 * MIN);
    }
    w.advance(3_000);
    expect(c.take([w.sample()])).toMatchObject({ kind: 'set', changed: true });
    expect(c.offset).toBe(12 * MIN);
  });

  it('drift of a few ms between measurements is no jump', () => {
    const w = new World(5_000);
    const c = new GroupClock();
    c.take([w.sample()]);
    for (let i = 0; i < 10; i++) {
      w.advance(MIN);
      w.redisSkew += 3; // 50 ppm
      expect(c.take([w.sample()]).kind).toBe('set');
    }
    expect(c.offset).toBe(-5_000);
  });
});
