/**
 * Review H31: the cost of a detected ban at the cap in host mode, with many containers (scopes).
 *
 * cutForShare went over every container holding bans to find the one holding the most, at each
 * detected ban refused at the cap or made by a cut. The live agent's containers are the host's; but
 * `banhammer replay` of a log off the host makes a scope of every syslog tag, and a hostile log (any
 * tenant writes its own lines) names as many tags as it likes: at the default cap of 500,000, with
 * 166,000 tags holding 3 bans each, every further offender's line went over 166,000 entries (about
 * 2 ms a line; a million lines took half an hour). The container holding the most is now kept as
 * bans are made and end.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { cpuMs } from '../../support/cpu-time.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const CAP = 100_000;
const v4 = (i: number): string => `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number): string => `2001:db8:${((i >> 16) + 1).toString(16)}::${((i & 0xffff) + 1).toString(16)}`;

/** 33,333 scopes holding 3 bans each, and `hostWide` host-wide (manual) bans: the book full. */
function full(hostWide: number): BanBook {
  const b = new BanBook({ ...PRESETS }, new Allowlist([]), undefined, { maxBans: CAP });
  const scopes = Math.floor((CAP - hostWide) / 3);
  let ip = 0;
  for (let s = 0; s < scopes; s++) for (let k = 0; k < 3; k++) b.consider({ ip: v4(ip++), family: 4, rule: 'exploit-probes', at: T0, failures: 1, scope: `tag:${s}` }, T0);
  while (b.active().length < CAP) b.banManually(v4(ip++), { durationMs: null, now: T0 });
  return b;
}

describe('a detected ban at the cap with 33,000 scopes holding bans', () => {
  it('refused (no container holds more than its share): 20,000 offenders of a new scope in bounded time', () => {
    const b = full(4); // a new scope's share is 3, as every scope holds: nothing to cut
    let made = 0;
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const ms = cpuMs(() => {
      for (let i = 0; i < 20_000; i++) if (b.consider({ ip: v6(i), family: 6, rule: 'exploit-probes', at: T0, failures: 1, scope: 'tag:new' }, T0) !== null) made++;
    });
    expect(made).toBe(0);
    expect(b.cutForShareTotal).toBe(0);
    expect(ms).toBeLessThan(2_000);
  }, 60_000);

  it('made by a cut (new scopes, each under its share): 20,000 in bounded time, each cutting a scope that held the most', () => {
    const b = full(1);
    let made = 0;
    const ms = cpuMs(() => {
      for (let i = 0; i < 20_000; i++) if (b.consider({ ip: v6(i), family: 6, rule: 'exploit-probes', at: T0, failures: 1, scope: `tag:new-${i}` }, T0) !== null) made++;
    });
    expect(made).toBe(20_000);
    expect(ms).toBeLessThan(2_000);
    expect(b.cutForShareTotal).toBe(20_000);
    for (const c of b.takeCut()) expect(c.scope!.startsWith('tag:new')).toBe(false);
  }, 60_000);
});
