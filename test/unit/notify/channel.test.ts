/**
 * The delivery line of one target, with a manual clock and a scripted sender: bounded queue, back-off
 * schedule, drop after the last attempt, digest in a storm, outage logged once, bounded shutdown.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../fakes/manual-clock.js';
import { backoffMs, Channel, DIGEST_MAX_ADDRESSES, DIGEST_MAX_HASHED, type SendResult } from '../../../src/notify/channel.js';
import { textOf } from '../../../src/notify/event.js';
import type { BanNotice, DigestNotice, Notice } from '../../../src/notify/event.js';
import type { Ban } from '../../../src/decide/ban-book.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function ban(ip: string, rule = 'forbidden'): BanNotice {
  const b: Ban = { ip, family: 4, rule, at: 0, until: 3_600_000, failures: 5, nth: 1, manual: false };
  return { kind: 'ban', ban: b, time: 0 };
}

interface Call {
  notice: Notice;
  at: number;
  signal: AbortSignal;
  resolve: (r: SendResult) => void;
}

function setup(over: Partial<ConstructorParameters<typeof Channel>[0]> = {}) {
  const clock = new ManualClock(1_000_000);
  const calls: Call[] = [];
  const logs: { level: string; obj: object; msg?: string }[] = [];
  const counts = { sent: 0, failed: 0, dropped: 0, queued: [] as number[] };
  const ch = new Channel({
    name: 'ops',
    clock,
    send: (notice, signal) => new Promise<SendResult>((resolve) => calls.push({ notice, at: clock.now(), signal, resolve })),
    log: { info: (obj, msg) => logs.push({ level: 'info', obj, msg }), warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }) },
    metrics: { sent: () => counts.sent++, failed: () => counts.failed++, dropped: (_t, n) => (counts.dropped += n), queued: (_t, n) => counts.queued.push(n) },
    queueSize: 3,
    attempts: 4,
    backoffMs: 1000,
    maxBackoffMs: 5000,
    timeoutMs: 10_000,
    digestThreshold: 5,
    digestIntervalMs: 60_000,
    ...over,
  });
  return { clock, calls, logs, counts, ch };
}

describe('backoffMs', () => {
  it('doubles from the base and stops at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 40].map((n) => backoffMs(n, 1000, 60_000))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000]);
  });
});

describe('Channel', () => {
  it('sends one at a time, in order, and counts what was delivered', async () => {
    const { ch, calls, counts } = setup();
    ch.offer(ban('198.18.0.1'));
    ch.offer(ban('198.18.0.2'));
    expect(calls).toHaveLength(1); // the second waits for the first
    expect(ch.queued).toBe(2);
    calls[0]!.resolve({ ok: true });
    await tick();
    expect(calls).toHaveLength(2);
    expect((calls[1]!.notice as BanNotice).ban.ip).toBe('198.18.0.2');
    calls[1]!.resolve({ ok: true });
    await tick();
    expect(counts.sent).toBe(2);
    expect(ch.queued).toBe(0);
    expect(counts.queued.at(-1)).toBe(0);
  });

  it('retries on the back-off schedule (1 s, 2 s, 4 s), then drops and counts; the outage is logged once, the recovery once', async () => {
    const { ch, calls, counts, clock, logs } = setup();
    const t0 = clock.now();
    ch.offer(ban('198.18.0.1'));
    for (let i = 0; i < 4; i++) {
      expect(calls).toHaveLength(i + 1);
      calls[i]!.resolve({ ok: false, retry: true, reason: 'HTTP 500' });
      await tick();
      clock.advance(10_000);
    }
    expect(calls.map((c) => c.at - t0)).toEqual([0, 1000, 12_000, 24_000]); // failures at 0, 10 s, 20 s: back-offs 1, 2, 4 s
    expect(counts.failed).toBe(4);
    expect(counts.dropped).toBe(1);
    expect(ch.queued).toBe(0);
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    // The next message goes out and succeeds: one recovery line with the outage's figures.
    ch.offer(ban('198.18.0.2'));
    calls[4]!.resolve({ ok: true });
    await tick();
    const info = logs.filter((l) => l.level === 'info');
    expect(info).toHaveLength(1);
    expect(info[0]!.obj).toMatchObject({ target: 'ops', failedAttempts: 4, dropped: 1 });
  });

  it('waits exactly the back-off between attempts', async () => {
    const { ch, calls, clock } = setup();
    const t0 = clock.now();
    ch.offer(ban('198.18.0.1'));
    calls[0]!.resolve({ ok: false, retry: true, reason: 'x' });
    await tick();
    clock.advance(999);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(calls).toHaveLength(2);
    calls[1]!.resolve({ ok: false, retry: true, reason: 'x' });
    await tick();
    clock.advance(1999);
    expect(calls).toHaveLength(2);
    clock.advance(1);
    expect(calls.map((c) => c.at - t0)).toEqual([0, 1000, 3000]);
  });

  it('a Retry-After within the bound wins over the back-off; beyond it, the bound holds', async () => {
    const { ch, calls, clock } = setup();
    const t0 = clock.now();
    ch.offer(ban('198.18.0.1'));
    calls[0]!.resolve({ ok: false, retry: true, reason: 'HTTP 429', retryAfterMs: 3000 });
    await tick();
    clock.advance(3000);
    calls[1]!.resolve({ ok: false, retry: true, reason: 'HTTP 429', retryAfterMs: 3_600_000 });
    await tick();
    clock.advance(5000);
    expect(calls.map((c) => c.at - t0)).toEqual([0, 3000, 8000]);
  });

  it('does not retry what will not change (HTTP 400): dropped at once', async () => {
    const { ch, calls, counts, clock } = setup();
    ch.offer(ban('198.18.0.1'));
    calls[0]!.resolve({ ok: false, retry: false, reason: 'HTTP 400' });
    await tick();
    clock.advance(60_000);
    expect(calls).toHaveLength(1);
    expect(counts).toMatchObject({ failed: 1, dropped: 1 });
  });

  it('holds at most queueSize messages; more are dropped and counted, never queued', async () => {
    const { ch, calls, counts } = setup({ queueSize: 3, digestThreshold: 1000 });
    for (let i = 1; i <= 10; i++) ch.offer(ban(`198.18.0.${i}`));
    expect(ch.queued).toBe(3);
    expect(counts.dropped).toBe(7);
    expect(calls).toHaveLength(1);
    expect(Math.max(...counts.queued)).toBe(3);
  });

  it('an attempt that gets no answer is aborted after timeoutMs and retried', async () => {
    const { ch, calls, clock, counts } = setup({ timeoutMs: 10_000 });
    ch.offer(ban('198.18.0.1'));
    const c = calls[0]!;
    c.signal.addEventListener('abort', () => c.resolve({ ok: false, retry: true, reason: 'aborted' }));
    clock.advance(10_000);
    expect(c.signal.aborted).toBe(true);
    await tick();
    expect(counts.failed).toBe(1);
    clock.advance(1000);
    expect(calls).toHaveLength(2);
  });

  it('a storm: the first `threshold` events go out alone, the rest in one digest per interval, and the storm keeps digest mode', async () => {
    const { ch, calls, clock } = setup({ digestThreshold: 5, queueSize: 100 });
    const done = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        const open = calls.filter((c) => !(c as { done?: boolean }).done);
        if (open.length === 0) break;
        for (const c of open) {
          (c as { done?: boolean }).done = true;
          c.resolve({ ok: true });
        }
        await tick();
      }
    };
    const t0 = clock.now();
    for (let i = 0; i < 1200; i++) ch.offer(ban(`198.18.${i >> 8}.${i & 255}`, i % 3 === 0 ? 'wp-login' : 'forbidden'));
    await done();
    expect(calls).toHaveLength(5);
    clock.advance(60_000);
    await done();
    expect(calls).toHaveLength(6);
    const d = calls[5]!.notice as DigestNotice;
    expect(d).toMatchObject({ kind: 'digest', from: t0, to: t0 + 60_000, bans: 1195, unbans: 0, distinctAddresses: 1195 });
    expect(d.topRules).toEqual([
      { rule: 'forbidden', count: 797 },
      { rule: 'wp-login', count: 398 },
    ]);
    expect(d.topAddresses).toHaveLength(10);
    // The storm goes on: every event of the next interval lands in its digest, none alone.
    for (let i = 0; i < 300; i++) ch.offer(ban(`198.19.${i >> 8}.${i & 255}`));
    await done();
    expect(calls).toHaveLength(6);
    clock.advance(60_000);
    await done();
    expect(calls).toHaveLength(7);
    expect(calls[6]!.notice).toMatchObject({ kind: 'digest', bans: 300, from: t0 + 60_000, to: t0 + 120_000 });
    // A quiet interval ends digest mode: the next event goes out alone again.
    clock.advance(60_000);
    await done();
    expect(calls).toHaveLength(7);
    clock.advance(60_000);
    ch.offer(ban('198.18.200.1'));
    await done();
    expect(calls).toHaveLength(8);
    expect(calls[7]!.notice.kind).toBe('ban');
  });

  it('threshold 0 sends only digests', async () => {
    const { ch, calls, clock } = setup({ digestThreshold: 0 });
    ch.offer(ban('198.18.0.1'));
    expect(calls).toHaveLength(0);
    clock.advance(60_000);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.notice).toMatchObject({ kind: 'digest', bans: 1 });
  });

  it('a digest tallies at most DIGEST_MAX_ADDRESSES distinct addresses and counts the rest', async () => {
    const { ch, calls, clock } = setup({ digestThreshold: 0, queueSize: 10 });
    const n = DIGEST_MAX_ADDRESSES + 500;
    for (let i = 0; i < n; i++) ch.offer(ban(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    clock.advance(60_000);
    expect(calls[0]!.notice).toMatchObject({ kind: 'digest', bans: n, distinctAddresses: n });
    expect(calls[0]!.notice).not.toHaveProperty('distinctAtLeast');
  });

  it('past the named addresses, an address banned again is not counted again; past the hashed ones the count is a lower bound', async () => {
    const { ch, calls, clock } = setup({ digestThreshold: 0, queueSize: 10 });
    const v4 = (i: number): string => `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
    const agent = { instance: 'unit', host: 'unit', version: '0' };
    // 10,500 distinct addresses, each banned three times (a ban, an unban, a ban again).
    const n = DIGEST_MAX_ADDRESSES + 500;
    for (let r = 0; r < 3; r++) for (let i = 0; i < n; i++) ch.offer(ban(v4(i)));
    clock.advance(60_000);
    expect(calls[0]!.notice).toMatchObject({ kind: 'digest', bans: 3 * n, distinctAddresses: n });
    expect(calls[0]!.notice).not.toHaveProperty('distinctAtLeast');
    expect(textOf(calls[0]!.notice, agent)).toContain(`: ${(3 * n).toLocaleString('en-US')} bans, 0 unbans, ${n.toLocaleString('en-US')} distinct addresses`);
    // More than both bounds: a lower bound, said as one.
    const more = DIGEST_MAX_ADDRESSES + DIGEST_MAX_HASHED + 10;
    for (let i = 0; i < more; i++) ch.offer(ban(`2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`));
    clock.advance(60_000);
    const d = calls[calls.length - 1]!.notice as DigestNotice;
    expect(d.distinctAtLeast).toBe(true);
    expect(d.distinctAddresses).toBeLessThanOrEqual(DIGEST_MAX_ADDRESSES + DIGEST_MAX_HASHED);
    expect(d.distinctAddresses).toBeGreaterThan(DIGEST_MAX_ADDRESSES + DIGEST_MAX_HASHED - 10);
    expect(textOf(d, agent)).toContain(': 110,010 bans, 0 unbans, at least ');
  });

  it('close(): sends the open digest, waits for the queue until the deadline, then drops the rest and logs once', async () => {
    const { ch, calls, clock, counts, logs } = setup({ digestThreshold: 1, queueSize: 10 });
    ch.offer(ban('198.18.0.1'));
    ch.offer(ban('198.18.0.2')); // into the digest
    const closing = ch.close(clock.now() + 3000);
    let closed = false;
    void closing.then(() => (closed = true));
    // The first is being sent; the digest is queued behind it.
    expect(calls).toHaveLength(1);
    calls[0]!.resolve({ ok: true });
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.notice.kind).toBe('digest');
    // The receiver hangs: at the deadline the attempt is aborted and the message dropped.
    clock.advance(3000);
    await tick();
    expect(closed).toBe(true);
    expect(calls[1]!.signal.aborted).toBe(true);
    expect(counts.dropped).toBe(1);
    expect(logs.some((l) => l.msg?.includes('not delivered before shutdown'))).toBe(true);
    // Nothing is accepted after close.
    ch.offer(ban('198.18.0.3'));
    expect(ch.queued).toBe(0);
  });

  it('close() resolves at once when nothing is queued, and does not wait out a back-off', async () => {
    const a = setup();
    await a.ch.close(a.clock.now() + 3000);
    const b = setup();
    b.ch.offer(ban('198.18.0.1'));
    b.calls[0]!.resolve({ ok: false, retry: true, reason: 'down' });
    await tick();
    const closing = b.ch.close(b.clock.now() + 500); // the 1 s back-off ends after the deadline
    // It is tried once more at once; failing again, it is dropped (no back-off past the deadline).
    expect(b.calls).toHaveLength(2);
    b.calls[1]!.resolve({ ok: false, retry: true, reason: 'down' });
    await tick();
    await closing;
    expect(b.counts.dropped).toBe(1);
  });
});
