/**
 * The cost of many rules (issue 13), measured in the same `npm run bench` run as the replay figures:
 *
 * - "replay, every preset on": the built CLI (`bin/banhammer.js replay FILE --all-rules --json`, what a
 *   user runs) over the bench log, best of N child-process runs; target ≥ 1,000,000 lines/s.
 * - "per-line cost": the live pipeline (parse, then detect and decide in live mode, as the agent does
 *   per line) with `forbidden` alone (the seed's default), the default rules, every preset, and every
 *   preset but the two that count every line; each rule set in a process of its own
 *   (bench/per-line-cost.ts), alternated, the best of several rounds over the same lines; target:
 *   every preset on costs at most 1.5× forbidden alone.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure } from './measure.js';
import { PRESET_NAMES, PRESETS } from '../src/detect/presets.js';
import { isFiltered } from '../src/detect/prefilter.js';

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
  /** ns per line, best round: every preset but the two that count every line (request-flood, crawl-non-static) */
  readonly filteredPresetsNs: number;
  /** ns per line, best round: only the reads and counts every preset needs, no rule machinery (bench/preset-floor.ts) */
  readonly floorNs: number;
  readonly ratio: number;
}

/** Presets that count every line (or every non-static one) by design: no prefilter can keep a line from them. */
export const EVERY_LINE_PRESETS: readonly string[] = PRESET_NAMES.filter((n) => !isFiltered(PRESETS[n]!.match));

/**
 * The live pipeline's cost per line over the first `maxLines` lines of `file`, per rule set: each
 * measured in a process of its own (bench/per-line-cost.ts), the sets alternated `passes` times, the
 * best round of each kept.
 */
export async function perLineCost(file: string, maxLines = 200_000, rounds = 4, passes = 3): Promise<PerLineCost> {
  const script = fileURLToPath(new URL('./per-line-cost.js', import.meta.url));
  // "Today's" cost, which the target is against, is the seed's default: `forbidden` alone. The
  // current default (forbidden + exploit-probes) is shown beside it.
  const sets = {
    seed: 'forbidden',
    default: Object.entries(PRESETS).filter(([, r]) => r.enabled).map(([n]) => n).join(','),
    all: PRESET_NAMES.join(','),
    filtered: PRESET_NAMES.filter((n) => !EVERY_LINE_PRESETS.includes(n)).join(','),
  };
  const floorScript = fileURLToPath(new URL('./preset-floor.js', import.meta.url));
  const best: Record<keyof typeof sets | 'floor', number> = { seed: Infinity, default: Infinity, all: Infinity, filtered: Infinity, floor: Infinity };
  let lines = 0;
  for (let p = 0; p < passes; p++) {
    for (const which of [...(Object.keys(sets) as (keyof typeof sets)[]), 'floor' as const]) {
      const args = which === 'floor' ? [floorScript, file, String(maxLines), String(rounds)] : [script, sets[which], file, String(maxLines), String(rounds)];
      const m = await measure(process.execPath, args);
      if (m.exitCode !== 0) throw new Error(`per-line cost (${which}) exited with ${m.exitCode}: ${m.stderr.slice(-500)}`);
      const r = JSON.parse(m.stdout) as { lines: number; ns: number };
      lines = r.lines;
      best[which] = Math.min(best[which], r.ns);
    }
  }
  return { lines, seedNs: best.seed, defaultNs: best.default, allPresetsNs: best.all, filteredPresetsNs: best.filtered, floorNs: best.floor, ratio: best.all / best.seed };
}
