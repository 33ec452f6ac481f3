import { describe, expect, it } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import { compileRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import type { Offense } from '../../../src/detect/offense.js';

const S = 1000;
const ev = (ip: string, t: number, status = 403, path = '/', method = 'GET'): AccessEvent => ({
  ip, family: ip.includes(':') ? 6 : 4, time: t, status, path, method,
});

function run(events: AccessEvent[], opts: Partial<ConstructorParameters<typeof Detector>[1]> = {}, rules = ['forbidden']) {
  const d = new Detector(rules.map((r) => compileRule(r, PRESETS[r]!)), { maxTracked: 1000, ...opts });
  const out: Offense[] = [];
  for (const e of events) d.observe(e, (o) => out.push(o));
  return { d, out };
}

describe('Detector', () => {
  it('emits one offense on the 5th 403 within 60 s, then starts the window afresh', () => {
    const evs = [0, 10, 20, 30, 40, 41, 42, 43].map((s) => ev('198.18.0.1', s * S));
    const { out } = run(evs);
    expect(out).toEqual([{ ip: '198.18.0.1', family: 4, rule: 'forbidden', at: 40 * S, failures: 5, origin: undefined }]);
  });

  it('does not fire for 5 failures spread over more than findtime', () => {
    const { out } = run([0, 15, 30, 45, 60].map((s) => ev('198.18.0.1', s * S)));
    expect(out).toEqual([]);
  });

  it('ignores other statuses and counts matches', () => {
    const { d, out } = run([ev('198.18.0.1', 0, 200), ev('198.18.0.1', 1, 404), ev('198.18.0.1', 2, 403)]);
    expect(out).toEqual([]);
    expect(d.counters('forbidden')!.matches).toBe(1);
  });

  it('never counts exempt addresses', () => {
    const evs = Array.from({ length: 10 }, (_, i) => ev('127.0.0.1', i));
    const { d, out } = run(evs, { isExempt: (ip) => ip === '127.0.0.1' });
    expect(out).toEqual([]);
    expect(d.counters('forbidden')!.failures).toBe(0);
  });

  it('does not count an address against a rule that already bans it', () => {
    const banned = new Set(['198.18.0.9']);
    const evs = Array.from({ length: 10 }, (_, i) => ev('198.18.0.9', i));
    const { out } = run(evs, { isBanned: (ip) => banned.has(ip) });
    expect(out).toEqual([]);
  });

  it('applies path and method matches (sensitive-paths, xmlrpc), decoding percent-encoded probes', () => {
    const evs = [
      ev('198.18.0.2', 0, 404, '/.env'),
      ev('198.18.0.2', 1, 200, '/%2e%2e/%2e%2e/etc/passwd'),
      ev('198.18.0.3', 2, 200, '/xmlrpc.php', 'POST'),
      ev('198.18.0.3', 3, 200, '/xmlrpc.php', 'GET'),
      ev('198.18.0.4', 4, 200, '/environment', 'GET'),
    ];
    const { d, out } = run(evs, {}, ['sensitive-paths', 'xmlrpc']);
    expect(out.map((o) => [o.ip, o.rule])).toEqual([['198.18.0.2', 'sensitive-paths']]);
    expect(d.counters('xmlrpc')!.matches).toBe(1);
    expect(d.counters('sensitive-paths')!.matches).toBe(2);
  });

  it('keeps memory bounded under a flood of distinct addresses and counts evictions', () => {
    const evs = Array.from({ length: 20_000 }, (_, i) => ev(`198.18.${i >> 8}.${i & 255}`, i));
    const { d } = run(evs, { maxTracked: 500 });
    expect(d.counters('forbidden')!.evictions).toBe(19_500);
    expect(d.currentlyFailed('forbidden', 20_000)).toBe(500);
  });

  it('with a wall-clock now, events older than findtime never count (late lines after a restart)', () => {
    const d = new Detector([compileRule('forbidden', PRESETS.forbidden!)], { maxTracked: 10 });
    const out: Offense[] = [];
    const now = 3600 * S;
    for (let i = 0; i < 10; i++) d.observe(ev('198.18.0.1', i * S), (o) => out.push(o), now);
    expect(out).toEqual([]);
    for (let i = 0; i < 5; i++) d.observe(ev('198.18.0.1', now - 10 * S + i), (o) => out.push(o), now);
    expect(out.length).toBe(1);
  });
});
