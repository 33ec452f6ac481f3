/**
 * One rule set's live cost per line, in a process of its own: parse, then detect and decide in live
 * mode with evidence kept, as the agent does per line, over the first N lines of a file held in
 * memory; the best of R rounds. bench/rules-bench.ts runs it once per rule set, alternating, so that
 * no rule set's code paths shape another's compiled code (measured in one process, the seed's own
 * loop got slower after the every-preset rounds had run, which made the ratio look better than it is).
 *
 * `node bench/dist/bench/per-line-cost.js RULES FILE [LINES] [ROUNDS]` (RULES: comma-separated rule
 * names) prints `{"lines":N,"ns":best}` on stdout.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { Pipeline } from '../src/pipeline/pipeline.js';

export interface OneRuleSetCost {
  readonly lines: number;
  /** ns per line, best round */
  readonly ns: number;
}

/** The first `maxLines` lines of `file`, each its own string (as the agent's reader hands them). */
export function firstLines(file: string, maxLines: number): string[] {
  const text = readFileSync(file, 'latin1');
  const lines: string[] = [];
  for (let start = 0; lines.length < maxLines; ) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    lines.push(text.slice(start, nl));
    start = nl + 1;
  }
  return lines;
}

export function ruleSetCost(rules: string, lines: readonly string[], rounds: number): OneRuleSetCost {
  const config = loadConfig({ env: { BANHAMMER_RULES: rules }, hostname: 'bench' });
  let best = Infinity;
  // One warm-up round, then the best of `rounds`.
  for (let r = 0; r <= rounds; r++) {
    const p = new Pipeline({ config, mode: 'live' });
    const t0 = process.hrtime.bigint();
    for (const line of lines) {
      const ev = p.parse(line);
      // The clock at the line's own time: nothing is skewed or too old, as for an agent keeping up;
      // the line itself is passed, as the agent does, so evidence keeping is part of the cost.
      if (ev !== null) p.observe(ev, ev.time, undefined, undefined, line);
    }
    const ns = Number(process.hrtime.bigint() - t0) / lines.length;
    if (r > 0) best = Math.min(best, ns);
  }
  return { lines: lines.length, ns: best };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [rules, file, maxLines = '200000', rounds = '5'] = process.argv.slice(2);
  if (rules === undefined || file === undefined) {
    process.stderr.write('usage: node bench/dist/bench/per-line-cost.js RULES FILE [LINES] [ROUNDS]\n');
    process.exitCode = 2;
  } else {
    const r = ruleSetCost(rules, firstLines(file, Number(maxLines)), Number(rounds));
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
