/**
 * Issue 11, round 5: the group's clock when Redis's TIME answer is broken or hostile (non-numeric,
 * days off, going backwards), and when this host's own clock steps. A real redis-server (private
 * port, own temp dir, stopped by pid); TIME answers are replaced by the test through a wrapper
 * around node-redis's client (every other command goes to the server). This host's clock is a fake
 * whose timers (the share stage's watchdog, which measures again every 60 s) run when the test says.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Clock, TimerHandle } from '../../../src/clock.js';
import { createRedisShare } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../share/redis-server.js';
import { eventsOf, sleep, waitFor, type Replica } from '../share/replica.js';

const hooks = vi.hoisted(() => ({ time: null as null | ((real: () => Promise<unknown>) => Promise<unknown>), asked: 0 }));

vi.mock('redis', async (importOriginal) => {
  const real = await importOriginal<typeof import('redis')>();
  const createClient = ((opts: Parameters<typeof real.createClient>[0]) => {
    const c = real.createClient(opts);
    const send = c.sendCommand.bind(c) as (...a: unknown[]) => Promise<unknown>;
    (c as unknown as { sendCommand: (...a: unknown[]) => Promise<unknown> }).sendCommand = (...a: unknown[]) => {
      const args = a[0];
      if (Array.isArray(args) && args[0] === 'TIME') {
        hooks.asked++;
        if (hooks.time !== null) return hooks.time(() => send(...a));
      }
      return send(...a);
    };
    return c;
  }) as typeof real.createClient;
  return { ...real, createClient, default: { ...real, createClient } };
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SLACK = 1_000;

/**
 * This host's clocks, faked: wall = real time + elapsed + skew, monotonic = performance.now() +
 * elapsed; `elapsed` grows only on advance(), which also runs the timers due (the share stage's
 * watchdog). fakeTime() is a Redis TIME answer for real time + elapsed + redisSkew.
 */
class SteppedClock implements Clock {
  private timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  elapsed = 0;
  redisSkew = 0;
  constructor(public skew: number) {}
  now(): number {
    return Date.now() + this.elapsed + this.skew;
  }
  mono = (): number => performance.now() + this.elapsed;
  fakeTime(): [string, string] {
    const t = Date.now() + this.elapsed + this.redisSkew;
    return [String(Math.floor(t / 1000)), String((t % 1000) * 1000)];
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.elapsed + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id as number);
  }
  /** Lets `ms` pass (for this host's clocks and the fake Redis time) in steps, letting replies arrive. */
  async advance(ms: number, step = 3_000): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.elapsed += Math.min(step, ms - done);
      for (const [id, t] of [...this.timers]) {
        if (t.at <= this.elapsed) {
          this.timers.delete(id);
          t.fn();
        }
      }
      await sleep(30);
    }
  }
}

describe.skipIf(!hasRedisServer)('share: a broken or hostile TIME answer moves the group clock by nothing', () => {
  let redis: RedisServer;
  const replicas: Replica[] = [];
  const dirs: string[] = [];

  const mk = async (name: string, group: string, clock: Clock, mono?: () => number): Promise<Replica> => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-h11-'));
    dirs.push(dir);
    const logs: Replica['logs'] = [];
    const log = (level: string) => (obj: object, msg?: string) => void logs.push({ level, msg: msg ?? '', obj });
    const stage = createRedisShare({ url: redis.url(), group, replicaId: name, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock, log: { info: log('info'), warn: log('warn'), error: log('error') }, ...(mono !== undefined ? { mono } : {}) });
    const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags: [], outboxPath: join(dir, 'outbox.json') };
    await stage.start(eventsOf(r));
    replicas.push(r);
    return r;
  };
  const got = (r: Replica, ip: string) => r.bans.find((b) => b.ban.ip === ip)?.ban;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterEach(() => {
    hooks.time = null;
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    await redis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('an answer that is no time, or one days off, is refused: the replica keeps its own clock and still shares', async () => {
    for (const [group, answer] of [
      ['ht1', ['soon', '0']],
      ['ht2', ['1796468872', '1000000']],
      ['ht3', 'OK'],
      ['ht4', null],
    ] as const) {
      hooks.time = async () => answer;
      const a = await mk(`a-${group}`, group, new SteppedClock(0));
      expect(a.stage.stats().groupClock).toBe(false);
      expect(a.stage.stats().clockOffsetMs).toBe(0);
      expect(a.stage.stats().invalid.clock).toBeGreaterThan(0);
      const b = await mk(`b-${group}`, group, new SteppedClock(0));
      const at = Date.now();
      a.stage.publishBan({ ip: '198.18.60.1', family: 4, rule: 'http-403', at, until: at + 10 * MIN, origin: a.name });
      await waitFor('delivered', () => got(b, '198.18.60.1') !== undefined, 3000);
      expect(got(b, '198.18.60.1')!.until).toBe(at + 10 * MIN);
    }
    // Two days ahead, and two days behind.
    for (const [group, off] of [
      ['ht5', 2 * DAY],
      ['ht6', -2 * DAY],
    ] as const) {
      hooks.time = async () => {
        const t = Date.now() + off;
        return [String(Math.floor(t / 1000)), String((t % 1000) * 1000)];
      };
      const a = await mk(`a-${group}`, group, new SteppedClock(0));
      expect(a.stage.stats().groupClock).toBe(false);
      expect(a.stage.stats().clockOffsetMs).toBe(0);
      expect(a.logs.some((l) => /more than a day from this host's/.test(l.msg))).toBe(true);
    }
  });

  it('measured again every 60 s: one answer an hour back moves nothing, a lasting move needs 3 in a row, a step of the host\'s own clock is followed', async () => {
    const clock = new SteppedClock(-10 * MIN);
    let odd = 0;
    hooks.time = async () => {
      if (odd > 0) {
        odd--;
        const t = Date.now() + clock.elapsed - HOUR;
        return [String(Math.floor(t / 1000)), String((t % 1000) * 1000)];
      }
      return clock.fakeTime();
    };
    const a = await mk('a7', 'ht7', clock, clock.mono);
    const off = () => a.stage.stats().clockOffsetMs;
    expect(Math.abs(off() - 10 * MIN)).toBeLessThan(SLACK);
    const before = off();
    /** Lets time pass, a watchdog round at a time, until `pred` (at most `maxMs` of it). */
    const passUntil = async (what: string, pred: () => boolean, maxMs: number): Promise<void> => {
      for (let t = 0; !pred(); t += 3_400) {
        if (t > maxMs) throw new Error(`not within ${maxMs} ms: ${what}`);
        await clock.advance(3_400, 3_400);
        await sleep(50);
      }
    };
    // One measurement (3 TIME round trips) answered an hour back: held, then the real time again.
    odd = 3;
    let asked = hooks.asked;
    await passUntil('measured twice', () => hooks.asked >= asked + 6, 70_000);
    expect(off()).toBe(before);
    expect(a.logs.some((l) => /moved against this process's steady clock/.test(l.msg))).toBe(true);
    // Redis's clock really moves (a failover to a host 2 minutes ahead): taken after 3 measurements in a row.
    clock.redisSkew = 2 * MIN;
    asked = hooks.asked;
    await passUntil('measured', () => hooks.asked >= asked + 3, 70_000);
    expect(off()).toBe(before);
    await passUntil('measured again', () => hooks.asked >= asked + 6, 10_000);
    expect(off()).toBe(before);
    await passUntil('taken', () => Math.abs(off() - 12 * MIN) < SLACK, 10_000);
    expect(hooks.asked - asked).toBe(9);
    // NTP sets the host's clock right (10 minutes forward): followed at the next measurement, at once.
    clock.skew = 0;
    asked = hooks.asked;
    await passUntil('offset followed the step', () => Math.abs(off() - 2 * MIN) < SLACK, 70_000);
    expect(hooks.asked - asked).toBe(3);
  }, 30_000);
});
