/**
 * A reload the pipeline refuses (selectRules throws: a rule it was told to run is gone) changes
 * nothing, the host's addresses included. It stored them before refusing, so the next read of the
 * same addresses (refreshHostAddresses) found nothing new and never allowlisted them: the agent could
 * ban its own host.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';

const T0 = Date.parse('2026-12-07T08:00:00Z');

describe('Pipeline.reconfigure, refused', () => {
  it('keeps the host addresses it had, so that the next refresh with new ones allowlists them', () => {
    const config = loadConfig({ env: {}, hostname: 'unit' });
    const p = new Pipeline({ config, mode: 'live', hostAddresses: ['198.18.7.1'], only: ['forbidden'] });
    expect(p.isAllowlisted('198.18.7.1')).toBe(true);
    expect(p.isAllowlisted('198.18.7.2')).toBe(false);

    // A configuration without the rule the pipeline runs: refused, with the host's new addresses.
    const without = { ...config, rules: Object.fromEntries(Object.entries(config.rules).filter(([n]) => n !== 'forbidden')) };
    expect(() => p.reconfigure(without, T0, ['198.18.7.2'])).toThrow(/unknown rule/);
    expect(p.isAllowlisted('198.18.7.1')).toBe(true);
    expect(p.isAllowlisted('198.18.7.2')).toBe(false);

    // The host's addresses read again: they are new to the pipeline, and allowlisted now.
    p.refreshHostAddresses(['198.18.7.2'], T0);
    expect(p.isAllowlisted('198.18.7.2')).toBe(true);
    expect(p.isAllowlisted('198.18.7.1')).toBe(false);
  });

  it('an accepted reload takes the host addresses it is given', () => {
    const config = loadConfig({ env: {}, hostname: 'unit' });
    const p = new Pipeline({ config, mode: 'live', hostAddresses: ['198.18.7.1'] });
    p.reconfigure(config, T0, ['198.18.7.3']);
    expect(p.isAllowlisted('198.18.7.3')).toBe(true);
    expect(p.isAllowlisted('198.18.7.1')).toBe(false);
  });
});
