import { describe, expect, it } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import { compileRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import type { AccessEvent } from '../../../src/parse/access-event.js';
import type { Offense } from '../../../src/detect/offense.js';

const ev = (ip: string, t: number): AccessEvent => ({ ip, family: 4, time: t, status: 403, path: '/', method: 'GET' });

describe('Detector scopes', () => {
  it('counts an address separately per scope, and offenses carry the scope', () => {
    const banned = new Set<string>();
    const d = new Detector([compileRule('forbidden', PRESETS.forbidden!)], {
      maxTracked: 100,
      isBanned: (ip, rule, _t, scope) => banned.has(`${rule} ${ip} ${scope ?? 'host'}`),
    });
    const out: Offense[] = [];
    const emit = (o: Offense) => out.push(o);
    // 4 failures at X and 4 at Y: no offense (unscoped, these 8 would have been one).
    for (let i = 0; i < 4; i++) {
      d.observe(ev('198.19.150.1', i * 1000), emit, undefined, 'X');
      d.observe(ev('198.19.150.1', i * 1000), emit, undefined, 'Y');
    }
    expect(out).toEqual([]);
    d.observe(ev('198.19.150.1', 5000), emit, undefined, 'X');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ ip: '198.19.150.1', scope: 'X', failures: 5 });
    banned.add('forbidden 198.19.150.1 X');
    d.observe(ev('198.19.150.1', 6000), emit, undefined, 'X');
    expect(d.counters('forbidden')!.failures).toBe(9);
    // reset of one scope leaves the other's window alone
    d.reset('198.19.150.1', undefined, 'X');
    d.observe(ev('198.19.150.1', 7000), emit, undefined, 'Y');
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({ scope: 'Y', failures: 5 });
    // unscoped events keep their own window and no scope
    for (let i = 0; i < 5; i++) d.observe(ev('198.19.150.2', i), emit);
    expect(out[2]).toMatchObject({ ip: '198.19.150.2', scope: undefined });
  });
});
