/**
 * A state file holding the same ban more than once (the address in other spellings, a file written
 * by hand or by another tool: the agent writes each (rule, address, scope) once). Each copy was
 * restored over the one before: the last copy won, however short (a copy of one hour cut a permanent
 * ban to an hour), and each was counted as one more ban restored and in the rule's "Total banned"
 * ("Currently banned: 1, Total banned: 3"). Now one ban is held, the copy lasting longest, counted
 * once; the others end as replaced (review H51).
 */
import { describe, expect, it } from 'vitest';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { Daemon } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, RestartStore } from '../../fakes/agent-io.js';
import { intRng } from '../../support/random.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const H = 3_600_000;
const SPELLINGS = ['198.18.0.1', '::ffff:198.18.0.1', '::FFFF:c612:1', '0:0:0:0:0:ffff:198.18.0.1'];
const saved = (ip: string, until: number | null, manual = false) => ({ ip, family: 4, rule: 'forbidden', at: NOW - 1000, until, failures: 5, nth: 1, manual });

function shuffled<T>(xs: readonly T[], next: (n: number) => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = next(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('restoring the same ban saved more than once', () => {
  it('holds one ban, the copy lasting longest, counted once, whatever the order of the copies', () => {
    const next = intRng(51);
    for (let round = 0; round < 20; round++) {
      const untils: (number | null)[] = [NOW + H, NOW + 2 * H, NOW + 3 * H, ...(round % 2 === 0 ? [null] : [])];
      const copies = shuffled(untils.map((u, i) => saved(SPELLINGS[i % SPELLINGS.length]!, u)), next);
      const longest = untils.includes(null) ? null : NOW + 3 * H;
      const b = new BanBook({ ...PRESETS }, new Allowlist([]));
      const r = b.restore({ bans: copies, ended: [], history: [] } as never, NOW);
      expect(r).toEqual({ restored: 1, dropped: copies.length - 1 });
      expect(b.active(NOW).map((x) => `${x.ip} ${x.until}`)).toEqual([`198.18.0.1 ${longest}`]);
      expect(b.totalBanned('forbidden')).toBe(1);
      expect(b.changes(NOW).ban.map((x) => `${x.ip} ${x.until}`)).toEqual([`198.18.0.1 ${longest}`]);
      expect(b.endedBans().map((e) => e.ended.reason)).toEqual(Array(copies.length - 1).fill('replaced'));
    }
  });

  it('a real agent: status counts one ban, the enforcer holds the longest, a restart keeps it', async () => {
    const clock = new ManualClock(NOW);
    const store = new RestartStore();
    store.doc = { bans: [saved('198.18.0.1', null, true), saved('::ffff:198.18.0.1', NOW + H), saved('2001:db8::5', NOW + H), saved('2001:DB8::5', NOW + 2 * H)], history: [], ended: [], positions: [] } as never;
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const start = async (enforcer: RecordingEnforcer) => {
      const d = new Daemon({ config: loadConfig({ env: {}, hostname: 'unit' }), clock, logger: quiet, enforcer, store, createSource: (o) => new FakeSource(o.onLine), hostAddresses: [] });
      await d.start();
      return d;
    };
    let enforcer = new RecordingEnforcer();
    let d = await start(enforcer);
    const rule = d.status().rules.find((r) => r.name === 'forbidden')!;
    expect(rule.currentlyBanned).toBe(2);
    expect(rule.totalBanned).toBe(2);
    expect([...enforcer.held.values()].map((x) => `${x.ip} ${x.until}`).sort()).toEqual([`198.18.0.1 null`, `2001:db8::5 ${NOW + 2 * H}`]);
    await d.stop();
    enforcer = new RecordingEnforcer();
    d = await start(enforcer);
    expect([...enforcer.held.values()].map((x) => `${x.ip} ${x.until}`).sort()).toEqual([`198.18.0.1 null`, `2001:db8::5 ${NOW + 2 * H}`]);
    await d.stop();
  });
});
