import { describe, expect, it } from 'vitest';
import { compareBans } from '../../../bench/compare-bans.js';
import { parseReplayJson } from '../../../bench/banhammer-replay.js';
import { parseBenchArgs } from '../../../bench/run.js';

const b = (ip: string, at: number, failures = 5, rule = 'forbidden') => ({ ip, rule, at, failures });

describe('compareBans', () => {
  it('treats ban lists as multisets, ignoring order', () => {
    const d = compareBans([b('198.18.0.1', 1), b('198.18.0.2', 2)], [b('198.18.0.2', 2), b('198.18.0.1', 1)]);
    expect(d.identical).toBe(true);
  });
  it('reports missing and unexpected bans, including a differing time, count or rule', () => {
    const d = compareBans(
      [b('198.18.0.1', 1), b('198.18.0.1', 1), b('198.18.0.2', 2), b('198.18.0.3', 3), b('198.18.0.4', 4)],
      [b('198.18.0.1', 1), b('198.18.0.2', 3), b('198.18.0.3', 3, 6), b('198.18.0.4', 4, 5, 'other')],
    );
    expect(d.identical).toBe(false);
    expect(d.missing.map((x) => x.ip)).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.4']);
    expect(d.unexpected.map((x) => x.ip)).toEqual(['198.18.0.2', '198.18.0.3', '198.18.0.4']);
  });
});

describe('parseReplayJson', () => {
  it('reads the documented replay output and converts ISO times', () => {
    const out = parseReplayJson(
      '{"lines":3,"parsed":2,"skipped":1,"matches":{"forbidden":2},"bans":[{"ip":"198.18.0.1","rule":"forbidden","at":"2026-03-14T06:00:59.000Z","failures":5}]}',
    );
    expect(out.bans).toEqual([b('198.18.0.1', Date.parse('2026-03-14T06:00:59Z'))]);
    expect(out.matches).toEqual({ forbidden: 2 });
  });
  it.each([
    ['not JSON', 'oops'],
    ['"lines" is not a number', '{"parsed":1,"skipped":0,"matches":{},"bans":[]}'],
    ['bans[0]', '{"lines":1,"parsed":1,"skipped":0,"matches":{},"bans":[{"ip":"198.18.0.1","rule":"forbidden","at":"yesterday","failures":5}]}'],
  ])('rejects output with %s', (what, text) => {
    expect(() => parseReplayJson(text)).toThrow(what);
  });
});

describe('parseBenchArgs', () => {
  it('defaults to 1M lines, 3 runs, with fail2ban', () => {
    expect(parseBenchArgs([])).toEqual({ lines: 1_000_000, seed: 1, runs: 3, fail2ban: true, json: false });
  });
  it('--quick means 200k lines and no fail2ban; --lines overrides', () => {
    expect(parseBenchArgs(['--quick'])).toMatchObject({ lines: 200_000, fail2ban: false });
    expect(parseBenchArgs(['--quick', '--lines', '50_000', '--json'])).toMatchObject({ lines: 50_000, json: true });
  });
  it('rejects bad numbers and unknown flags', () => {
    expect(() => parseBenchArgs(['--lines', '1e3x'])).toThrow('--lines "1e3x"');
    expect(() => parseBenchArgs(['--runs', '0'])).toThrow('≥ 1');
    expect(() => parseBenchArgs(['--fast'])).toThrow();
  });
});
