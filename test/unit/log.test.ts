import { describe, expect, it } from 'vitest';
import type { Ban } from '../../src/decide/ban-book.js';
import { createLogger, logBan, logUnban } from '../../src/log.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info', base: Record<string, unknown> | null = null) {
  const lines: string[] = [];
  const logger = createLogger({ level, base, destination: { write: (s: string) => void lines.push(s) } });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

const ban: Ban = {
  ip: '198.18.0.7',
  family: 4,
  rule: 'forbidden',
  at: Date.UTC(2026, 0, 1, 12, 0, 0),
  until: Date.UTC(2026, 0, 1, 13, 0, 0),
  failures: 20,
  nth: 2,
  manual: false,
};

describe('logBan / logUnban', () => {
  it('writes exactly one JSON line per ban with the documented fields', () => {
    const { logger, lines, records } = capture();
    logBan(logger, ban);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const { time, ...rest } = records()[0]!;
    expect(rest).toEqual({
      level: 'info',
      ip: '198.18.0.7',
      rule: 'forbidden',
      failures: 20,
      until: '2026-01-01T13:00:00.000Z',
      nth: 2,
      msg: 'ban',
    });
    expect(new Date(String(time)).toISOString()).toBe(time);
  });

  it('writes one line per unban with the reason, and "permanent" for bans without expiry', () => {
    const { logger, lines, records } = capture();
    logUnban(logger, { ...ban, ip: '2001:db8::7', family: 6, until: null, manual: true, failures: 0, nth: 1, rule: 'manual' }, 'manual');
    expect(lines).toHaveLength(1);
    const { time: _t, ...rest } = records()[0]!;
    expect(rest).toEqual({
      level: 'info',
      ip: '2001:db8::7',
      rule: 'manual',
      failures: 0,
      until: 'permanent',
      nth: 1,
      reason: 'manual',
      msg: 'unban',
    });
  });

  it('is silent below its level', () => {
    const { logger, lines } = capture('warn');
    logBan(logger, ban);
    logUnban(logger, ban, 'expired');
    expect(lines).toEqual([]);
  });
});

describe('createLogger', () => {
  it('writes the level as a word and the given base fields', () => {
    const { logger, records } = capture('debug', { instance: 'web-1' });
    logger.debug({ n: 1 }, 'hello');
    expect(records()[0]).toMatchObject({ level: 'debug', instance: 'web-1', n: 1, msg: 'hello' });
  });

  it("keeps pino's pid and hostname when no base is given", () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    logger.info('up');
    expect(JSON.parse(lines[0]!)).toMatchObject({ pid: process.pid, hostname: expect.any(String), msg: 'up' });
  });
});
