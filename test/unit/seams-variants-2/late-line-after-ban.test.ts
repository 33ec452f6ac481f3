/**
 * Issue 10 audit, round 2: replay and the live agent disagree on lines a few seconds out of order
 * around a ban. Apache stamps a request when it starts and logs it when it ends, so a slow request
 * stamped a second before the ban is written after the line that made it. The live agent (clock at
 * each line's time, or never going back) does not count such a line: the address is banned. Replay
 * (log time, "a ban covers only the lines from its own time on") counts it: five such lines make a
 * second, overlapping ban of the same rule (nth 2, a longer ban with increments, Total banned 2),
 * and fewer stay in the window and make a ban after expiry that the agent never makes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';
import { agent, settle } from '../seams-variants/harness.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { cleanupTmp, writeLog, writeYaml } from './gen.js';

afterAll(cleanupTmp);
const T = Date.UTC(2026, 10, 23, 10, 0, 0);
const IP = '198.18.50.1';
const at = (s: number) => `${IP} - - [${clf(T + s * 1000)}] "GET /p HTTP/1.1" 403 1 "-" "curl/8"`;
type B = { ip: string; rule: string; at: number; until: number | null; failures: number };
const show = (b: B) => `${b.rule} ${b.ip} at+${(b.at - T) / 1000}s until+${b.until === null ? 'never' : (b.until - T) / 1000}s failures ${b.failures}`;

function live(config: ReturnType<typeof loadConfig>, lines: readonly string[], clock: 'line' | 'monotonic'): string[] {
  const out: string[] = [];
  const p = new Pipeline({ config, mode: 'live', onBan: (b) => out.push(show(b)) });
  let now = 0;
  for (const l of lines) {
    const ev = p.parse(l)!;
    now = clock === 'line' ? ev.time : Math.max(now, ev.time);
    p.observe(ev, now, undefined, undefined, l);
  }
  return out;
}

describe('a line a few seconds late, after the ban it belongs with', () => {
  it('five 403s logged 1-3 s late after the ban: replay makes no second overlapping ban (live makes one ban)', async () => {
    const yaml = writeYaml('rules:\n  forbidden:\n    bantime: 1h\n    increment: { factor: 4, maxtime: 1d }\n');
    const config = loadConfig({ env: { BANHAMMER_CONFIG: yaml }, hostname: 'h4' });
    const lines = [0, 1, 2, 3, 4, 1, 2, 3, 3, 3].map(at);
    const want = live(config, lines, 'line');
    expect(want).toEqual([`forbidden ${IP} at+4s until+3604s failures 5`]);
    expect(live(config, lines, 'monotonic')).toEqual(want);
    const rep = await replayFile(writeLog(lines), config, { threads: 1 });
    expect(rep.bans.map((b) => show(b))).toEqual(want);
  });

  it('a line 1 s late after the ban stays out of the window: no ban after expiry that the agent never makes', async () => {
    const config = loadConfig({ env: { BANHAMMER_FINDTIME: '10m', BANHAMMER_BANTIME: '20s', BANHAMMER_MAXRETRY: '4' }, hostname: 'h4' });
    const lines = [0, 1, 2, 4, 3, 30, 31, 32].map(at);
    const want = live(config, lines, 'line');
    expect(want).toEqual([`forbidden ${IP} at+4s until+24s failures 4`]);
    const rep = await replayFile(writeLog(lines), config, { threads: 1 });
    expect(rep.bans.map((b) => show(b))).toEqual(want);
  });

  it('the real daemon (manual clock at each line) agrees with the live pipeline', async () => {
    const lines = [0, 1, 2, 3, 4, 1, 2, 3, 3, 3].map(at);
    const d = agent({ env: {}, clock: new ManualClock(T) });
    await d.daemon.start();
    for (const [i, l] of lines.entries()) {
      const t = T + [0, 1, 2, 3, 4, 1, 2, 3, 3, 3][i]! * 1000;
      if (t > d.clock.now()) d.clock.advance(t - d.clock.now());
      d.emit(l);
      await settle();
    }
    expect(d.infos.filter((x) => x.msg === 'ban').map((x) => `${x.obj.ip} ${x.obj.nth}`)).toEqual([`${IP} 1`]);
    expect(d.daemon.status('forbidden').rules[0]!.totalBanned).toBe(1);
    await d.daemon.stop();
  });
});
