/**
 * Issue 9 / 13 (round 4 audit, helper H3): the per-line cost of adversarial lines with every preset
 * on. Targets of 8 KiB (Apache and nginx refuse longer request lines) made of what the path
 * spellings work hardest on: `%25%25…`, `/%2e/%2e…` (decoded to dot segments), `/./././`, `////`,
 * `???`, `;;;`, `\x` escapes, and an 8 KiB User-Agent of escaped quotes. Each line is parsed and
 * matched with all rules on; the worst line must stay far below what would stall the agent. The
 * measured worst (ns/line and input) is printed for the audit report.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { compileRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { cpuMs } from '../../support/cpu-time.js';

const T = '05/Dec/2026:07:00:00 +0000';
const K = 8190;
const fill = (u: string): string => u.repeat(Math.ceil(K / u.length)).slice(0, K);

describe('adversarial lines: bounded cost per line with every preset on', () => {
  it('no 8 KiB target or header costs more than 25 ms a line (distinct lines, no memo help)', () => {
    const rules = Object.entries(PRESETS).map(([n, s]) => compileRule(n, s));
    const matcher = new RuleMatcher(rules);
    const parse = createLineParser('auto');
    const targets: Record<string, string> = {
      pct25: `/${fill('%25')}`,
      pct2e: fill('/%2e'),
      pct252e: fill('/%252e'),
      dotseg: fill('/.'),
      dotdot: fill('/..'),
      slashes: fill('/'),
      backslashes: fill('\\\\'),
      qmarks: `/?${fill('?')}`,
      semis: `/${fill(';')}`,
      plus: `/?${fill('+')}`,
      hashes: `/${fill('#')}`,
      escx: `/${fill('\\\\x')}`,
      mixed: fill('/%2e/./%25/;?'),
    };
    const uas: Record<string, string> = { short: 'curl/8', quotes: fill('\\"'), pct: fill('%25'), sql: fill('select ') };
    let worst = 0;
    let worstAt = '';
    let n = 0;
    for (const [tn, target] of Object.entries(targets)) {
      for (const [un, ua] of Object.entries(uas)) {
        for (const status of [403, 404, 400, 401, 200]) {
          let best = Infinity;
          for (let rep = 0; rep < 3; rep++) {
            // A distinct target each time: no memo (target-memo.ts) answers it.
            const line = `198.18.0.${1 + (n++ % 250)} - - [${T}] "GET ${target}${n} HTTP/1.1" ${status} 10 "${ua}" "${ua}"`;
            // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
            const ns = cpuMs(() => {
              const ev = parse(line);
              if (!isSkip(ev)) matcher.match(ev);
            }) * 1e6;
            if (ns < best) best = ns;
          }
          if (best > worst) {
            worst = best;
            worstAt = `target=${tn} ua=${un} status=${status}`;
          }
        }
      }
    }
    console.log(`worst ${worst} ns/line: ${worstAt}`);
    expect(worst, worstAt).toBeLessThan(25_000_000);
  }, 60_000);
});
