import { describe, expect, it } from 'vitest';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';

const H = 3600_000;
const X = 'a'.repeat(64);
const Y = 'b'.repeat(64);
const offense = (ip: string, at: number, scope?: string) => ({ ip, family: 4 as const, rule: 'forbidden', at, failures: 5, scope });
const book = () => new BanBook({ ...PRESETS }, new Allowlist([]));

describe('BanBook scopes (host mode)', () => {
  it('a ban for container X is not a ban for Y nor host-wide, and each scope bans on its own', () => {
    const b = book();
    const bx = b.consider(offense('198.19.150.7', 0, X), 0, 'web-x')!;
    expect(bx).toMatchObject({ ip: '198.19.150.7', scope: X, scopeName: 'web-x', until: H, nth: 1 });
    expect(b.isBanned('198.19.150.7', 'forbidden', 1, X)).toBe(true);
    expect(b.isBanned('198.19.150.7', 'forbidden', 1, Y)).toBe(false);
    expect(b.isBanned('198.19.150.7', 'forbidden', 1)).toBe(false);
    expect(b.consider(offense('198.19.150.7', 10, X))).toBeNull();
    const by = b.consider(offense('198.19.150.7', 10, Y))!;
    expect(by).toMatchObject({ scope: Y, scopeName: Y.slice(0, 12), nth: 1 });
    expect(b.effectiveUntil('198.19.150.7', 20, X)).toBe(H);
    expect(b.effectiveUntil('198.19.150.7', 20, Y)).toBe(H + 10);
    expect(b.effectiveUntil('198.19.150.7', 20)).toBeUndefined();
    expect(b.active(20)).toHaveLength(2);
  });

  it('unban lifts every scope, one scope, or host-wide only (null)', () => {
    const b = book();
    b.consider(offense('198.19.150.8', 0, X));
    b.consider(offense('198.19.150.8', 0, Y));
    b.consider(offense('198.19.150.8', 0));
    expect(b.unban('198.19.150.8', undefined, Y).map((x) => x.scope)).toEqual([Y]);
    expect(b.unban('198.19.150.8', undefined, null).map((x) => x.scope)).toEqual([undefined]);
    expect(b.unban('198.19.150.8').map((x) => x.scope)).toEqual([X]);
    expect(b.active()).toEqual([]);
  });

  it('manual bans may be scoped; history (incremental bantime) is per scope', () => {
    const b = new BanBook({ forbidden: { ...PRESETS.forbidden!, increment: { factor: 2, maxtime: 10 * H } } }, new Allowlist([]));
    b.consider(offense('198.19.150.9', 0, X));
    b.expire(H);
    expect(b.consider(offense('198.19.150.9', H + 1, X))).toMatchObject({ nth: 2 });
    expect(b.consider(offense('198.19.150.9', H + 1, Y))).toMatchObject({ nth: 1 });
    const m = new BanBook({ ...PRESETS }, new Allowlist([])).banManually('198.19.150.10', { durationMs: null, now: 5, scope: X, scopeName: 'web-x' });
    expect(m).toMatchObject({ rule: 'manual', scope: X, scopeName: 'web-x', until: null, manual: true });
  });

  it('snapshot/restore keeps scopes; state without a scope (older files) is host-wide; a bad scope is dropped, never host-wide', () => {
    const a = book();
    a.consider(offense('198.19.150.11', 0, X), 0, 'web-x');
    a.consider(offense('198.19.150.12', 0));
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = book();
    expect(b.restore(snap, 1)).toEqual({ restored: 2, dropped: 0 });
    expect(b.isBanned('198.19.150.11', 'forbidden', 1, X)).toBe(true);
    expect(b.active().find((x) => x.ip === '198.19.150.11')).toMatchObject({ scopeName: 'web-x' });
    expect(b.isBanned('198.19.150.12', 'forbidden', 1)).toBe(true);
    const old = { bans: [{ ip: '198.19.150.13', family: 4, rule: 'forbidden', at: 0, until: H, failures: 5, nth: 1, manual: false }], history: [] };
    const c = book();
    c.restore(old as never, 1);
    expect(c.isBanned('198.19.150.13', 'forbidden', 1)).toBe(true);
    // A ban meant for one container whose scope cannot be read is not a ban for every container
    // (ban-book-restore-scope.test.ts): it used to be restored host-wide.
    const weird = { bans: [{ ...old.bans[0], ip: '198.19.150.14', scope: 42 }], history: [] };
    expect(c.restore(weird as never, 1)).toEqual({ restored: 0, dropped: 1 });
    expect(c.isBanned('198.19.150.14', 'forbidden', 1)).toBe(false);
    expect(c.active().find((x) => x.ip === '198.19.150.14')).toBeUndefined();
  });
});
