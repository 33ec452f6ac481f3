/** Detector.forgetExempt (used by the proposed pipeline patch for allowlisted addresses' pending failures). */
import { describe, expect, it } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import { compileRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';

const T = Date.UTC(2026, 10, 23, 10, 0, 0);
const ev = (ip: string, path: string, t = T): AccessEvent => ({ ip, family: ip.includes(':') ? 6 : 4, time: t, method: 'GET', path, status: 403, vhost: undefined, origin: undefined }) as AccessEvent;

describe('Detector.forgetExempt', () => {
  it('drops the windows of covered addresses under every rule (both window kinds, every scope), keeps the others', () => {
    const rules = [compileRule('forbidden', PRESETS.forbidden!, true), compileRule('admin-probes', { ...PRESETS['admin-probes']!, enabled: true }, true)];
    const d = new Detector(rules, { maxTracked: 100 });
    const offenses: string[] = [];
    const emit = (o: { ip: string; rule: string; scope?: string }) => offenses.push(`${o.rule} ${o.ip} ${o.scope ?? ''}`);
    for (const ip of ['198.18.44.1', '198.18.44.2', '2001:db8:44::1']) {
      d.observe(ev(ip, '/pma/'), emit);
      d.observe(ev(ip, '/x'), emit, undefined, 'c'.repeat(64));
    }
    expect(d.currentlyFailed('admin-probes', T)).toBe(3);
    const gone = d.forgetExempt((ip) => ip === '198.18.44.1' || ip.startsWith('2001:db8:44:'));
    expect(gone.map((g) => `${g.ip} ${g.scope ?? '-'}`).sort()).toEqual(['198.18.44.1 -', `198.18.44.1 ${'c'.repeat(64)}`, '2001:db8:44::1 -', `2001:db8:44::1 ${'c'.repeat(64)}`]);
    expect(d.currentlyFailed('forbidden', T)).toBe(2);
    expect(d.currentlyFailed('admin-probes', T)).toBe(1);
    // counted afresh: one more distinct path is not an offense for a forgotten address, it is for a kept one
    d.observe(ev('198.18.44.1', '/db/'), emit);
    d.observe(ev('198.18.44.2', '/db/'), emit);
    expect(offenses).toEqual(['admin-probes 198.18.44.2 ']);
    expect(d.counters('forbidden')!.failures).toBe(8);
  });
});
