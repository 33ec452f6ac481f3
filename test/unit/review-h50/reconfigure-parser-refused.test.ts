/**
 * Review H50 (e6f48b0): Pipeline.reconfigure says nothing is stored until everything that can refuse
 * the configuration has run, but createLineParser (which refuses a log format it does not know) ran
 * after the host's addresses, the configuration and the allowlist were stored. A reload refused
 * there kept the new addresses without allowlisting them (as selectRules' refusal did before
 * e6f48b0), and the new allowlist with the old rules and parser. The daemon's configurations are
 * validated first, so only a programmatic caller reaches it.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';

const T0 = Date.parse('2026-12-07T08:00:00Z');

describe('Pipeline.reconfigure refused by the parser', () => {
  it('changes nothing: the next refresh of the new host addresses allowlists them', () => {
    const config = loadConfig({ env: {}, hostname: 'unit' });
    const p = new Pipeline({ config, mode: 'live', hostAddresses: ['198.18.7.1'] });
    const bad = { ...config, ignoreip: [...config.ignoreip, '198.18.9.0/24'], log: { ...config.log, format: 'no-such-format' } } as unknown as Config;
    expect(() => p.reconfigure(bad, T0, ['198.18.7.2'])).toThrow(/Unknown log format/);
    expect(p.isAllowlisted('198.18.7.1')).toBe(true);
    expect(p.isAllowlisted('198.18.7.2')).toBe(false);
    // Nor the refused configuration's allowlist.
    expect(p.isAllowlisted('198.18.9.5')).toBe(false);
    p.refreshHostAddresses(['198.18.7.2'], T0);
    expect(p.isAllowlisted('198.18.7.2')).toBe(true);
    expect(p.isAllowlisted('198.18.7.1')).toBe(false);
  });
});
