import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configToJson, describeConfig, describeConfigJson } from '../../../src/config/describe.js';
import { loadConfig, resolveConfig } from '../../../src/config/load.js';
import { PERMANENT } from '../../../src/config/duration.js';

const full = new URL('../../fixtures/config/valid/full.yaml', import.meta.url).pathname;
const files: Record<string, string> = {};
const readFile = (p: string): string => files[p] ?? readFileSync(p, 'utf8');

function roundTrip(env: Record<string, string>) {
  const first = resolveConfig({ env, hostname: 'h1', readFile });
  files['/described.yaml'] = describeConfig(first.config, { sources: first.sources });
  const again = loadConfig({ env: { BANHAMMER_CONFIG: '/described.yaml' }, hostname: 'other-host', readFile });
  return { first: first.config, again, text: files['/described.yaml']! };
}

describe('describeConfig', () => {
  it('is a config file that loads back to the same Config (defaults)', () => {
    const { first, again } = roundTrip({});
    expect(again).toEqual(first);
  });

  it('round-trips user rules, increments, permanent bans and every setting', () => {
    const { first, again, text } = roundTrip({
      BANHAMMER_CONFIG: full,
      BANHAMMER_BANTIME: '-1',
      BANHAMMER_RULE_WP_LOGIN_FINDTIME: '1h30m',
      BANHAMMER_METRICS_ADDR: '[2001:db8::1]:9100',
    });
    expect(first.rules.forbidden!.bantime).toBe(PERMANENT);
    expect(again).toEqual(first);
    expect(text).toContain('bantime: permanent');
    expect(text).toContain('findtime: 1h30m');
    expect(text).toContain('maxtime: 30d');
  });

  it('uses the file vocabulary and says where non-default values came from', () => {
    const r = resolveConfig({ env: { BANHAMMER_CONFIG: full, BANHAMMER_PORTS: '8081' }, hostname: 'h', readFile });
    const text = describeConfig(r.config, { sources: r.sources });
    expect(text).toMatch(/^# effective banhammer configuration; rules that run: exploit-probes, forbidden, not-found, wp-login$/m);
    expect(text).toMatch(/^ports: \[ 8081 \] # from env BANHAMMER_PORTS$/m);
    expect(text).toMatch(new RegExp(`^    maxretry: 3 # from file ${full}$`, 'm'));
    expect(text).toMatch(new RegExp(`^    increment: # from file ${full}\n      factor: 2$`, 'm'));
    expect(text).toMatch(/^max_tracked: 100000/m);
    expect(text).not.toContain('maxTracked');
    expect(describeConfig(r.config)).not.toContain('# from');
  });
});

describe('configToJson', () => {
  it('keeps the Config shape and writes a permanent duration as -1', () => {
    const c = loadConfig({ env: { BANHAMMER_BANTIME: 'permanent' }, hostname: 'h' });
    const j = JSON.parse(describeConfigJson(c)) as ReturnType<typeof JSON.parse>;
    expect(j.rules.forbidden.bantime).toBe(-1);
    expect(j.rules.xmlrpc.bantime).toBe(c.rules.xmlrpc!.bantime);
    expect(j.maxTracked).toBe(100_000);
    expect(j.log).toEqual({ paths: ['/var/log/apache2/access.log'], format: 'auto' });
    expect(configToJson(c)).toEqual(j);
  });
});
