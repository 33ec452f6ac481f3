/**
 * Durations are read in any case (`2H`, `1D`), so `1M` was one minute; but M is a month in ISO 8601
 * (P1M), Java and PHP, and an operator writing `bantime: 1M` or `ban --for 1M` for a month got a
 * ban 43,200 times shorter. A capital M alone is now refused with what to write; `m`, `min`, `MIN`
 * and `Minutes` keep meaning minutes.
 */
import { describe, expect, it } from 'vitest';
import { parseBanDuration, parseDuration } from '../../../src/config/duration.js';
import { resolveConfig } from '../../../src/config/load.js';
import { main, type CliIo } from '../../../src/cli.js';

describe('a capital M in a duration', () => {
  it.each(['1M', '6M', '1d12M', ' 3 M '])('%j is refused, naming the ambiguity', (v) => {
    expect(() => parseDuration(v)).toThrow(/"M" could mean months or minutes/);
    expect(() => parseBanDuration(v)).toThrow(/months or minutes/);
  });
  it('in BANHAMMER_BANTIME and the YAML file alike', () => {
    expect(() => resolveConfig({ env: { BANHAMMER_BANTIME: '1M' }, hostname: 'unit' })).toThrow(/bantime.*months or minutes/s);
    const readFile = (): string => 'rules:\n  forbidden:\n    findtime: 10M\n';
    expect(() => resolveConfig({ env: { BANHAMMER_CONFIG: '/etc/b.yml' }, hostname: 'unit', readFile })).toThrow(/findtime.*months or minutes/s);
  });
  it('ban --for 1M is a usage error before anything is sent', async () => {
    let err = '';
    const io: CliIo = { stdout: () => {}, stderr: (s) => void (err += s), env: { BANHAMMER_SOCKET: '/nonexistent/bh.sock' }, hostname: 'unit' };
    expect(await main(['ban', '198.18.0.7', '--for', '1M'], io)).toBe(2);
    expect(err).toMatch(/--for: .*months or minutes/);
  });
  it.each([['1m', 60_000], ['10min', 600_000], ['2MIN', 120_000], ['1Minute', 60_000], ['2H', 7_200_000], ['1D', 86_400_000], ['5ms', 5], ['1h30m', 5_400_000]])('%j stays %d ms', (v, ms) => {
    expect(parseDuration(v)).toBe(ms);
  });
});
