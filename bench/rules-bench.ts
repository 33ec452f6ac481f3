/**
 * The cost of many rules (issue 13), measured in the same `npm run bench` run as the replay figures:
 *
 * - "replay, every preset on": the built CLI (`bin/banhammer.js replay FILE --all-rules --json`, what a
 *   user runs) over the bench log, best of N child-process runs; target ≥ 1,000,000 lines/s.
 * - "per-line cost": the live pipeline in-process (parse, then detect and decide in live mode, as the
 *   agent does per line), with the default rules and with every preset on, alternated and each the
 *   best of several rounds over the same lines; target: every preset on costs at most 1.5× the default.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { measure } from './measure.js';
import { loadConfig } from '../src/config/load.js';
import { PRESET_NAMES } from '../src/detect/presets.js';
import { Pipeline } from '../src/pipeline/pipeline.js';

export const RULES_TARGETS = { allPresetsLinesPerSecond: 1_000_000, perLineRatio: 1.5 } as const;

export interface AllRulesReplay {
  readonly seconds: number;
  readonly runSeconds: readonly number[];
  readonly maxRssBytes: number;
  readonly linesPerSecond: number;
  readonly bans: number;
}

/** Best of `runs` replays of `file` with every rule on. */
export async function replayAllRules(root: string, file: string, lines: number, runs: number): Promise<AllRulesReplay> {
  const times: number[] = [];
  let rss = 0;
  let bans = 0;
  for (let i = 0; i < runs; i++) {
    const m = await measure(process.execPath, [join(root, 'bin', 'banhammer.js'), 'replay', file, '--all-rules', '--json'], { cwd: root });
    if (m.exitCode !== 0) throw new Error(`banhammer replay --all-rules exited with ${m.exitCode}: ${m.stderr.slice(-500)}`);
    times.push(m.seconds);
    rss = Math.max(rss, m.maxRssBytes);
    bans = (JSON.parse(m.stdout) as { bans: unknown[] }).bans.length;
  }
  const seconds = Math.min(...times);
  return { seconds, runSeconds: times, maxRssBytes: rss, linesPerSecond: lines / seconds, bans };
}

export interface PerLineCost {
  readonly lines: number;
  /** ns per line, best round: the seed's default (`forbidden` alone), today's baseline */
  readonly seedNs: number;
  /** ns per line, best round: the current default rules */
  readonly defaultNs: number;
  readonly allPresetsNs: number;
  readonly ratio: number;
}

/** The live pipeline's cost per line over the first `maxLines` lines of `file`: default rules vs every preset. */
export function perLineCost(file: string, maxLines = 200_000, rounds = 5): PerLineCost {
  const text = readFileSync(file, 'latin1');
  const lines: string[] = [];
  for (let start = 0; lines.length < maxLines; ) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    lines.push(text.slice(start, nl));
    start = nl + 1;
  }
  // "Today's" cost, which the target is against, is the seed's default: `forbidden` alone. The
  // current default (forbidden + exploit-probes) is shown beside it.
  const configs = {
    seed: loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'bench' }),
    default: loadConfig({ env: {}, hostname: 'bench' }),
    all: loadConfig({ env: { BANHAMMER_RULES: PRESET_NAMES.join(',') }, hostname: 'bench' }),
  };
  const round = (which: keyof typeof configs): number => {
    const p = new Pipeline({ config: configs[which], mode: 'live' });
    const t0 = process.hrtime.bigint();
    for (const line of lines) {
      const ev = p.parse(line);
      // The clock at the line's own time: nothing is skewed or too old, as for an agent keeping up;
      // the line itself is passed, as the agent does, so evidence keeping is part of the cost.
      if (ev !== null) p.observe(ev, ev.time, undefined, undefined, line);
    }
    return Number(process.hrtime.bigint() - t0) / lines.length;
  };
  let s = Infinity;
  let d = Infinity;
  let a = Infinity;
  round('seed');
  round('default');
  round('all');
  for (let i = 0; i < rounds; i++) {
    s = Math.min(s, round('seed'));
    d = Math.min(d, round('default'));
    a = Math.min(a, round('all'));
  }
  return { lines: lines.length, seedNs: s, defaultNs: d, allPresetsNs: a, ratio: a / s };
}
