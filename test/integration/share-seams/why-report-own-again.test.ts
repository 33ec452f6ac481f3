/**
 * H43: `why` of an own ban in force again after the group lifted the longer ban adopted over it
 * (BanBook.liftAdopted) listed that ban twice, in force and ended "replaced by group:b", and its log
 * lines only under the ended entry. Shown once, in force, with its lines; a ban replaced for good
 * (a new manual ban) stays in the history.
 */
import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { buildWhyReport } from '../../../src/control/why-report.js';
import { canonicalTarget } from '../../../src/parse/ip.js';

const T = 1_800_000_000_000;
const IP = '198.18.73.1';
const why = (b: BanBook, now: number) => buildWhyReport({ instance: 'unit', now, target: canonicalTarget(IP)!, book: b, pending: [], allowlisted: false, historySize: 1000 });

describe('why of an own ban in force again', () => {
  it('is shown once, in force, with its lines', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    const rule = Object.keys(PRESETS)[0]!;
    const own = b.consider({ ip: IP, family: 4, rule, at: T + 10_000, failures: 3 }, T + 10_000, undefined, { lines: [{ at: T + 9_000, line: `${IP} - - "GET /x" 403`, file: '/var/log/access.log' }] })!;
    expect(own.evidence).toHaveLength(1);
    b.adopt({ ip: IP, rule, at: T, until: null, origin: 'b' }, T + 11_000);
    const r = b.liftAdopted(IP, undefined, T + 5_000, T + 20_000, { at: T + 20_000, by: 'group:c' });
    expect(r.restored).toHaveLength(1);
    const w = why(b, T + 21_000);
    expect(w.active).toHaveLength(1);
    expect(w.active[0]).toMatchObject({ from: null, source: 'detected', ended: null });
    expect(w.active[0]!.evidence.map((l) => l.line)).toEqual([`${IP} - - "GET /x" 403`]);
    expect(w.ended.map((e) => `${e.from ?? 'own'} ${e.ended!.reason} ${e.ended!.by}`)).toEqual(['b unbanned group:c']);
  });

  it('a ban replaced by a new manual ban, still under its rule, stays in the history', () => {
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    b.banManually(IP, { durationMs: 3_600_000, now: T });
    b.banManually(IP, { durationMs: 7_200_000, now: T + 1_000 });
    const w = why(b, T + 2_000);
    expect(w.active).toHaveLength(1);
    expect(w.ended.map((e) => e.ended!.reason)).toEqual(['replaced']);
  });
});
