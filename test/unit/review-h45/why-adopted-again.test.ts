/**
 * Hostile review H45 of 3b79846's why-report change: the ended "replaced by group:" entry identical
 * to a ban in force is hidden only for an own ban. A ban adopted from the group, replaced by a longer
 * adopted one, and adopted again once the group lifted that one (the group still stores it: another
 * replica's ban, or one for another container, h44) was listed both in force and as ended "replaced".
 * And what must stay: a ban that really ended, and an ended ban of another maker with the same times.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { buildWhyReport } from '../../../src/control/why-report.js';
import { canonicalTarget } from '../../../src/parse/ip.js';

const T = 1_800_000_000_000;
const H = 3_600_000;
const IP = '198.18.82.1';
const why = (b: BanBook, now: number) => buildWhyReport({ instance: 'unit', now, target: canonicalTarget(IP)!, book: b, pending: [], allowlisted: false, historySize: 1000 });
const book = (): BanBook => new BanBook({ ...PRESETS }, new Allowlist([]));
const ended = (w: ReturnType<typeof why>): string[] => w.ended.map((e) => `${e.from ?? 'own'} ${e.ended!.reason} ${e.ended!.by}`);

describe('why of an adopted ban in force again', () => {
  it('c\'s ban, replaced by the host\'s longer one, adopted again once that one is lifted: shown once, in force', () => {
    const b = book();
    const cBan = { ip: IP, rule: 'manual', at: T, until: T + 1.5 * H, origin: 'c' };
    b.adopt(cBan, T + 1_000);
    b.adopt({ ip: IP, rule: 'manual', at: T + 2_000, until: T + 3 * H, origin: 'host' }, T + 3_000);
    b.liftAdopted(IP, undefined, T + 2_000, T + 4_000, { at: T + 4_000, by: 'group:host' });
    expect(b.adopt(cBan, T + 5_000)).not.toBeNull();
    const w = why(b, T + 6_000);
    expect(w.active.map((x) => x.from)).toEqual(['c']);
    expect(ended(w)).toEqual(['host unbanned group:host']);
  });

  it('a ban that ended for good is still listed, and so is another maker\'s replaced ban with the same times', () => {
    const b = book();
    b.adopt({ ip: IP, rule: 'manual', at: T, until: T + H, origin: 'c' }, T + 1_000);
    b.adopt({ ip: IP, rule: 'manual', at: T + 2_000, until: T + 3 * H, origin: 'host' }, T + 3_000);
    b.liftAdopted(IP, undefined, T + 2_000, T + 4_000, { at: T + 4_000, by: 'group:host' });
    // d's ban: c's times, another maker.
    b.adopt({ ip: IP, rule: 'manual', at: T, until: T + H, origin: 'd' }, T + 5_000);
    const w = why(b, T + 6_000);
    expect(w.active.map((x) => x.from)).toEqual(['d']);
    expect(ended(w).sort()).toEqual(['c replaced group:host', 'host unbanned group:host']);
  });
});
