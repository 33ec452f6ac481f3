/**
 * Issue 9, round 2 audit: property tests over seeded mutations of real access-line layouts (Apache
 * combined/common/vhost, nginx main with a trailing X-Forwarded-For from a trusted proxy, Apache's
 * X-Forwarded-For list as first field; bare, Docker json-file or syslog-wrapped). Invariants:
 * - the parser never throws, and no line costs more than 50 ms;
 * - a line whose head (client … status) is intact counts against exactly its client, with its status,
 *   whatever was done to its tail (padding, quotes, raw bytes, cuts);
 * - no line ever counts against an address planted where a client writes (user, request, referer,
 *   User-Agent, spoofed X-Forwarded-For entries), head mutated or not;
 * - every line is either an event or exactly one counted skip reason.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, SKIP_REASONS } from '../../../src/parse/access-event.js';
import { canonicalIp } from '../../../src/parse/ip.js';
import { oneStepCost, timedCpu } from '../../support/cpu-time.js';
import { accessLine, clientOf, isVictim, mutate, prng, wrap, TRUSTED_PROXY } from './gen.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);

describe('line parser under seeded mutation', () => {
  it('tail mutations never change the verdict; nothing planted is ever the client; never throws or stalls', () => {
    const parse = createLineParser('auto', { trustedProxies: [TRUSTED_PROXY] });
    // A line's cost is CPU time (test/support/cpu-time.ts); a line a little over the bound is parsed
    // again by a parser of its own (oneStepCost): a real stall costs as much every time, a GC spike does not.
    const recheck = createLineParser('auto', { trustedProxies: [TRUSTED_PROXY] });
    const BOUND_MS = 50;
    const failures: string[] = [];
    let worst = 0;
    let worstLine = '';
    const N = Number(process.env.BH_FUZZ_N ?? 12_000);
    for (let seed = 1; seed <= N; seed++) {
      const r = prng(seed);
      const client = clientOf(r);
      const g = wrap(r, accessLine(r, client, T0 + seed * 1000));
      const tailOnly = r() < 0.5;
      const m = r() < 0.1 ? { line: g.line, headTouched: false } : mutate(r, g, tailOnly);
      let out: ReturnType<typeof parse>;
      let took: number;
      try {
        [out, took] = timedCpu(() => parse(m.line, `stream-${seed}`));
      } catch (e) {
        failures.push(`seed ${seed} ${g.layout}: threw ${String(e)}`);
        continue;
      }
      took = oneStepCost(took, BOUND_MS, () => recheck(m.line, `recheck-${seed}`));
      if (took > worst) { worst = took; worstLine = `seed ${seed} ${g.layout} (${m.line.length} chars)`; }
      if (isSkip(out)) {
        if (!SKIP_REASONS.includes(out)) failures.push(`seed ${seed}: unknown skip ${String(out)}`);
        if (!m.headTouched) failures.push(`seed ${seed} ${g.layout}: intact head skipped as ${out}: ${JSON.stringify(m.line.slice(0, 300))}`);
        continue;
      }
      if (canonicalIp(out.ip)?.ip !== out.ip) failures.push(`seed ${seed}: non-canonical ${out.ip}`);
      if (isVictim(out.ip)) failures.push(`seed ${seed} ${g.layout}: counted against planted ${out.ip}: ${JSON.stringify(m.line.slice(0, 300))}`);
      if (!m.headTouched && (out.ip !== g.client || out.status !== g.status)) {
        failures.push(`seed ${seed} ${g.layout}: intact head gave ${out.ip} ${out.status}, expected ${g.client} ${g.status}: ${JSON.stringify(m.line.slice(0, 300))}`);
      }
      if (!Number.isFinite(out.time)) failures.push(`seed ${seed}: time ${out.time}`);
    }
    expect(failures.slice(0, 15)).toEqual([]);
    expect(worst, worstLine).toBeLessThan(BOUND_MS);
  }, 60_000);
});
