/**
 * Durations past JavaScript's date range (issue 9): `BANHAMMER_BANTIME=99999999d` and
 * `ban --for 99999999d` crashed the agent (`now + bantime` is no Date). Every duration is capped at
 * validation (bantime, maxtime, --for: 3650d; findtime: 365d), and time formatters never throw.
 */
import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, MAX_FINDTIME_MS, parseBanDuration, parseDuration } from '../../../src/config/duration.js';
import { loadConfig } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import type { Problem } from '../../../src/config/problems.js';
import { formatTime, formatUntil, isoTime } from '../../../src/format-time.js';
import { main, replayJson, type CliIo } from '../../../src/cli.js';

const D = 86_400_000;

function problems(env: Record<string, string>, yaml?: string): Problem[] {
  try {
    loadConfig({ env: yaml === undefined ? env : { ...env, BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h', readFile: () => yaml ?? '' });
  } catch (e) {
    if (e instanceof BanhammerError && e.code === 'BH_ERR_CONFIG') return e.data.problems as Problem[];
    throw e;
  }
  throw new Error('expected BH_ERR_CONFIG');
}

describe('caps', () => {
  it('are ten years for bans and one year for findtime, and fit in a Date from any present time', () => {
    expect(MAX_DURATION_MS).toBe(3650 * D);
    expect(MAX_FINDTIME_MS).toBe(365 * D);
    expect(isoTime(Date.UTC(2200, 0, 1) + MAX_DURATION_MS)).not.toBeNull();
  });
  it('parseDuration refuses what is longer, naming the limit', () => {
    expect(parseDuration('3650d')).toBe(MAX_DURATION_MS);
    for (const s of ['3651d', '99999999d', '1000000w', `${MAX_DURATION_MS / 1000 + 1}`]) {
      expect(() => parseDuration(s), s).toThrow(/too large: at most 3650d/);
    }
  });
  it('BANHAMMER_BANTIME=99999999d is a configuration problem, not a crash', () => {
    const p = problems({ BANHAMMER_BANTIME: '99999999d' });
    expect(p.map((x) => x.key)).toEqual(['rules.forbidden.bantime']);
    expect(p[0]!.message).toMatch(/at most 3650d .*permanent/);
  });
  it('a YAML bantime, maxtime or findtime past its cap is refused, in seconds or units', () => {
    const yaml = 'rules:\n  forbidden:\n    bantime: 1e12\n    findtime: 366d\n    increment: { factor: 2, maxtime: 99999999d }\n';
    expect(problems({}, yaml).map((x) => x.key).sort()).toEqual(['rules.forbidden.bantime', 'rules.forbidden.findtime', 'rules.forbidden.increment.maxtime']);
  });
  it('BANHAMMER_RULE_<NAME>_FINDTIME past a year is refused', () => {
    expect(problems({ BANHAMMER_RULE_NOT_FOUND_FINDTIME: '400d' }).map((x) => x.key)).toEqual(['rules.not-found.findtime']);
  });
  it('the caps themselves and permanent still load', () => {
    const c = loadConfig({ env: { BANHAMMER_BANTIME: '3650d', BANHAMMER_FINDTIME: '365d', BANHAMMER_RULE_NOT_FOUND_BANTIME: 'permanent' }, hostname: 'h' });
    expect(c.rules.forbidden!.bantime).toBe(MAX_DURATION_MS);
    expect(c.rules.forbidden!.findtime).toBe(MAX_FINDTIME_MS);
    expect(c.rules['not-found']!.bantime).toBe(Infinity);
  });
});

describe('ban --for', () => {
  it('parseBanDuration: permanent is null, others capped and above 0', () => {
    expect(parseBanDuration('permanent')).toBeNull();
    expect(parseBanDuration(' -1 ')).toBeNull();
    expect(parseBanDuration('1h')).toBe(3_600_000);
    expect(() => parseBanDuration('0')).toThrow(/longer than 0/);
    expect(() => parseBanDuration('99999999d')).toThrow(/too large/);
  });

  function io(): CliIo & { out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    // The socket path does not exist: a request that got that far would fail differently.
    return { out, err, stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: { BANHAMMER_SOCKET: '/nonexistent/banhammer.sock' }, hostname: 'h' };
  }
  it('refuses 99999999d before contacting the agent (exit 2)', async () => {
    const x = io();
    expect(await main(['ban', '198.18.0.7', '--for', '99999999d'], x)).toBe(2);
    expect(x.err.join('')).toMatch(/--for: invalid duration "99999999d": too large/);
  });
  it('refuses --rule constructor (or any non-rule name) before contacting the agent', async () => {
    for (const r of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const x = io();
      expect(await main(['ban', '198.18.0.7', '--rule', r], x), r).toBe(2);
      expect(x.err.join(''), r).toMatch(/--rule .* names no rule/);
    }
  });
});

describe('time formatters never throw', () => {
  it.each([NaN, Infinity, -Infinity, 1e20, -1e20, 8.64e15 + 1])('%s', (v) => {
    expect(() => formatTime(v)).not.toThrow();
    expect(isoTime(v)).toBeNull();
    expect(formatTime(v)).toMatch(/^invalid time/);
  });
  it('format valid times and permanent ends', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatUntil(null)).toBe('permanent');
    expect(formatUntil(Infinity)).toBe('permanent');
  });
  it('replay --json survives a ban stamped outside Date’s range', () => {
    const j = replayJson({ lines: 1, parsed: 1, skipped: 0, matches: {}, bans: [{ ip: '198.18.0.7', rule: 'forbidden', at: 1e20, failures: 5, until: null }] } as never);
    expect(j.bans[0]!.at).toMatch(/^invalid time/);
  });
});
