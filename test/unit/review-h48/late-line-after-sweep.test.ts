/**
 * Helper H48: a late line (Apache logs a slow request when it ends, stamped when it began) counts
 * with the failures of its own window, live as in replay, whenever the agent's periodic sweep of stale
 * windows happened to run. The sweep dropped a window once its newest failure was a findtime older
 * than the clock, but the agent still counts a line stamped up to a findtime before the clock, and that
 * line's window reaches a findtime further back: two failures 15 s apart under a 20 s findtime were a
 * ban in replay and live before the sweep, and no ban live after it (and the ban's lines lost theirs).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { replayFile } from '../../../src/replay/replay.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { agent, cleanup, line, NOW, settle } from '../seams-variants/harness.js';
import { tmp, cleanup as cleanupTmp } from './harness.js';

afterEach(() => {
  cleanup();
  cleanupTmp();
});

const ENV = { BANHAMMER_MAXRETRY: '2', BANHAMMER_FINDTIME: '20s', BANHAMMER_BANTIME: '10m' };

/** One 403 at NOW read at once, a second one stamped `lateAt` read when the clock shows `readAt`: the bans, and the lines of each. */
async function live(rule: 'forbidden' | 'walker', lateAt: number, readAt: number): Promise<{ bans: string[]; evidence: number[] }> {
  const env = rule === 'forbidden' ? ENV : { ...ENV, BANHAMMER_RULES: 'walker', BANHAMMER_CONFIG: walkerYaml() };
  const a = agent({ env, clock: new ManualClock(NOW) });
  await a.daemon.start();
  a.emit(line('198.18.0.7', NOW, rule === 'walker' ? '/w/1' : '/private', rule === 'walker' ? 404 : 403));
  a.clock.advance(readAt - NOW);
  await settle(); // (the periodic tasks due run)
  a.emit(line('198.18.0.7', lateAt, rule === 'walker' ? '/w/2' : '/private', rule === 'walker' ? 404 : 403));
  a.clock.advance(1000);
  await settle();
  const w = a.daemon.why('198.18.0.7');
  const out = { bans: a.banned(), evidence: w.active.map((b) => b.evidence?.length ?? 0) };
  await a.daemon.stop();
  return out;
}

function walkerYaml(): string {
  const f = join(tmp(), 'walker.yaml');
  writeFileSync(f, "rules:\n  walker: { match: { status: [404], paths: ['^/w/'] }, count: distinct-paths, maxretry: 2, findtime: 20s, bantime: 10m }\n");
  return f;
}

describe('review H48: a late line after the live sweep of stale windows', () => {
  it('replay bans two failures 15 s apart under a 20 s findtime', async () => {
    const f = join(tmp(), 'access.log');
    writeFileSync(f, `${line('198.18.0.7', NOW)}\n${line('198.18.0.7', NOW + 15_000)}\n`);
    const { loadConfig } = await import('../../../src/config/load.js');
    const rep = await replayFile(f, loadConfig({ env: ENV, hostname: 'unit' }), { threads: 1 });
    expect(rep.bans.map((b) => `${b.rule} ${b.ip}`)).toEqual(['forbidden 198.18.0.7']);
  });

  for (const rule of ['forbidden', 'walker'] as const) {
    it(`${rule}: the live agent bans too, the late line read before or after the sweep at +30 s`, async () => {
      const got: string[] = [];
      // Stamped +15 s, read from +16 s (not late) to +34 s (19 s late: still inside the 20 s findtime).
      for (let readAt = NOW + 16_000; readAt <= NOW + 34_000; readAt += 3_000) {
        const r = await live(rule, NOW + 15_000, readAt);
        got.push(`read at +${(readAt - NOW) / 1000}s: ${r.bans.join(',')} evidence ${r.evidence.join(',')}`);
      }
      expect(got).toEqual(got.map((g) => g.replace(/: .*$/, `: ${rule} 198.18.0.7 evidence 2`)));
    });
  }
});
