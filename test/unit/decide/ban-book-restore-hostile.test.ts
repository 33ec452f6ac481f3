/**
 * Hostile review: texts a state file gives a ban (container name, origin, the replica it came from,
 * the scope) reach `banhammer status`, `why` and notifications; restore escapes their control
 * characters so an ANSI escape in the file never reaches the operator's terminal.
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const H = 3_600_000;

describe('restore of a hostile state file', () => {
  it('escapes control characters in scopeName, origin and from; a ban whose scope holds one is dropped, never host-wide', () => {
    const esc = '\x1b[2J\x1b]0;owned\x07\u009b31m';
    const base = { family: 4, rule: 'forbidden', at: 0, until: H, failures: 5, nth: 1, manual: false };
    const snap = {
      bans: [
        { ...base, ip: '198.18.0.21', scope: 'c0ffee', scopeName: `web${esc}`, origin: `socket${esc}`, from: `replica${esc}` },
        { ...base, ip: '198.18.0.22', scope: `c0ffee${esc}` },
      ],
      ended: [{ ...base, ip: '198.18.0.23', scope: 'c0ffee', scopeName: `old${esc}`, from: `r${esc}`, ended: { reason: 'expired', at: H } }],
      history: [],
    };
    const b = new BanBook({ ...PRESETS }, new Allowlist([]));
    expect(b.restore(snap as never, 1)).toEqual({ restored: 1, dropped: 1 });
    const first = b.active().find((x) => x.ip === '198.18.0.21')!;
    for (const v of [first.scopeName, first.origin, first.from]) {
      expect(v).toBeDefined();
      expect(v).not.toMatch(CONTROL);
    }
    expect(first.scopeName).toBe('web\\x1b[2J\\x1b]0;owned\\x07\\x9b31m');
    // Meant for one container: not widened to every container (it used to be restored host-wide).
    expect(b.active().find((x) => x.ip === '198.18.0.22')).toBeUndefined();
    const ended = b.about({ ip: '198.18.0.23', family: 4, prefix: 32 } as never, 2).ended[0]!;
    expect(ended.scopeName).not.toMatch(CONTROL);
    expect(ended.from).not.toMatch(CONTROL);
  });

  it('a ban made live holds its origin (a syslog tag, text from a log line) as a restored one does', () => {
    const origin = 'app\x1b[2J\u202eevil\u2028x';
    const live = new BanBook({ ...PRESETS }, new Allowlist([]));
    const ban = live.consider({ ip: '198.18.0.31', family: 4, rule: 'forbidden', at: 1000, failures: 5, origin }, 1000)!;
    expect(ban.origin).not.toMatch(/[\x1b\u202e\u2028]/);
    const restored = new BanBook({ ...PRESETS }, new Allowlist([]));
    restored.restore({ ...live.snapshot(), history: [] } as never, 1000);
    const back = restored.active().find((x) => x.ip === '198.18.0.31')!;
    expect(back.origin).toBe(ban.origin);
    // A restored ban restored again is unchanged (escaping is done once).
    const again = new BanBook({ ...PRESETS }, new Allowlist([]));
    again.restore({ ...restored.snapshot(), history: [] } as never, 1000);
    expect(again.active().find((x) => x.ip === '198.18.0.31')!.origin).toBe(ban.origin);
  });
});
