/**
 * Hostile review: a sender that ignores its abort signal (a library that cannot be stopped, a receiver
 * that never lets go) must not hold a target's delivery line forever.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../fakes/manual-clock.js';
import { ABORT_GRACE_MS, Channel, type SendResult } from '../../../src/notify/channel.js';
import type { BanNotice, Notice } from '../../../src/notify/event.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const ban = (ip: string): BanNotice => ({ kind: 'ban', ban: { ip, family: 4, rule: 'forbidden', at: 0, until: 3_600_000, failures: 5, nth: 1, manual: false }, time: 0 });

describe('Channel with a sender that never settles', () => {
  it('counts the attempt as timed out ABORT_GRACE_MS after aborting it, retries, and later messages still go out', async () => {
    const clock = new ManualClock(1_000_000);
    const calls: { notice: Notice; signal: AbortSignal; resolve: (r: SendResult) => void }[] = [];
    let hang = true;
    const warns: string[] = [];
    const ch = new Channel({
      name: 'ops',
      clock,
      // While `hang`, an attempt never settles, whatever the signal says.
      send: (notice, signal) => new Promise<SendResult>((resolve) => {
        calls.push({ notice, signal, resolve });
        if (!hang) resolve({ ok: true });
      }),
      log: { info: () => {}, warn: (_o, m) => warns.push(m ?? '') },
      queueSize: 10,
      attempts: 3,
      backoffMs: 1000,
      maxBackoffMs: 5000,
      timeoutMs: 10_000,
      digestThreshold: 5,
      digestIntervalMs: 60_000,
    });
    ch.offer(ban('198.18.0.1'));
    ch.offer(ban('198.18.0.2'));
    expect(calls).toHaveLength(1);
    clock.advance(10_000);
    expect(calls[0]!.signal.aborted).toBe(true);
    await tick();
    expect(calls).toHaveLength(1); // still within the grace
    clock.advance(ABORT_GRACE_MS);
    await tick();
    expect(ch.totals.failed).toBe(1);
    expect(warns[0]).toContain(`no answer within 10000 ms`);
    hang = false;
    clock.advance(1000); // back-off
    for (let i = 0; i < 5; i++) await tick();
    expect(calls).toHaveLength(3);
    expect(calls[1]!.notice).toMatchObject({ ban: { ip: '198.18.0.1' } }); // the retry
    expect(calls[2]!.notice).toMatchObject({ ban: { ip: '198.18.0.2' } });
    expect(ch.totals.sent).toBe(2);
    // The first attempt's late answer changes nothing.
    calls[0]!.resolve({ ok: true });
    await tick();
    expect(ch.totals.sent).toBe(2);
    expect(ch.queued).toBe(0);
  });
});
