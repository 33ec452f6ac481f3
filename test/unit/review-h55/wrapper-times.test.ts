/**
 * Helper H55: the times a wrapper writes (syslog RFC 3164 without a year, RFC 5424, Docker's
 * json-file `time` in nanoseconds) never decide when a line counts: the access line's own time does,
 * so `Dec 31 23:59:59` read on Jan 1, `Jan 1` read on Dec 31 by a clock behind, or a `Feb 29` header,
 * change nothing. And after the agent's clock was set back a day, lines a server on another clock
 * still stamps a day ahead are counted as happening now (skewed), not dropped: no day of escape.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { agent, cleanup, line, NOW } from '../seams-variants/harness.js';
import { clf } from '../../support/clf.js';
import { SteppingClock } from './stepping-clock.js';

afterEach(cleanup);

const access = (t: number): string => `198.18.0.9 - - [${clf(t)}] "GET /x HTTP/1.1" 403 10 "-" "curl/8"`;

describe('review H55: wrapper times', () => {
  const newYear = Date.UTC(2027, 0, 1, 0, 0, 5);
  for (const [label, wrap] of [
    ['RFC 3164, Dec 31 (no year)', (l: string) => `<30>Dec 31 23:59:59 web[812]: ${l}`],
    ['RFC 3164, Jan  1 (no year)', (l: string) => `<30>Jan  1 00:00:01 host web[812]: ${l}`],
    ['a syslogd file, Feb 29 in a year without one', (l: string) => `Feb 29 09:35:48 host web[812]: ${l}`],
    ['RFC 5424, a year off', (l: string) => `<30>1 2025-06-01T00:00:00.123Z host web 812 web - ${l}`],
    ['Docker json-file, time in nanoseconds a day off', (l: string) => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-12-31T00:00:00.123456789Z' })],
  ] as const) {
    it(`${label}: the event's time is the access line's`, () => {
      const parse = createLineParser('auto', { trustedProxies: [] });
      const ev = parse(wrap(access(newYear)), '/var/log/x') as { time: number; ip: string };
      expect(ev.ip).toBe('198.18.0.9');
      expect(ev.time).toBe(newYear);
    });
  }

  it('clock set back a day: lines still stamped by the right clock count as happening now and ban', async () => {
    const clock = new SteppingClock(NOW);
    const a = agent({ env: { BANHAMMER_MAXRETRY: '3', BANHAMMER_FINDTIME: '10m' }, clock });
    await a.daemon.start();
    clock.step(-86_400_000);
    for (let i = 0; i < 3; i++) a.emit(line('198.18.0.9', NOW + i * 1000));
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    for (let i = 0; i < 12; i++) await new Promise((r) => setImmediate(r));
    expect(a.held()).toEqual(['198.18.0.9']);
    expect(a.daemon.stats.skewed).toBe(3);
    await a.daemon.stop();
  });
});
