/**
 * Evidence gating (393f042): a rule with a high maxretry keeps a failure's line only once the window
 * count is above maxretry − linesPerBan(maxretry), claiming the ban's evidence is exactly what keeping
 * every line gives. The reference here keeps every line: the same pipeline in live mode with a
 * replica-group hook (gating is off then), fed with now = the line's own time (logTime, as replay), so
 * that it counts and bans exactly as replay does. Randomized streams with late and out-of-order lines, window expiry
 * between failures, several addresses and both kinds of counting must give the same bans with the
 * same evidence and the same number of omitted lines.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { rng } from '../../support/random.js';
import { clf } from '../../support/clf.js';

const line = (ip: string, t: number, status: number, path: string) => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl"`;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const SEC = 1000;


interface Seen {
  ip: string;
  rule: string;
  at: number;
  failures: number;
  evidence: { line: string; at: number }[];
  omitted: number;
}
const seen = (b: Ban): Seen => ({
  ip: b.ip,
  rule: b.rule,
  at: b.at,
  failures: b.failures,
  evidence: (b.evidence ?? []).map((l) => ({ line: l.line, at: l.at })),
  omitted: b.evidenceOmitted ?? 0,
});

/** The gated pipeline (replay, evidence on) and the reference that keeps every line. */
function pair(env: Record<string, string>) {
  const config = loadConfig({ env, hostname: 'unit' });
  const gated: Seen[] = [];
  const every: Seen[] = [];
  const g = new Pipeline({ config, mode: 'replay', evidence: true, onBan: (b) => gated.push(seen(b)) });
  const e = new Pipeline({ config, mode: 'live', hostAddresses: [], logTime: true, onFailure: () => {}, onBan: (b) => every.push(seen(b)) });
  const feed = (l: string): void => {
    const a = g.parse(l, '/log');
    const b = e.parse(l, '/log');
    if (a !== null) g.observe(a, a.time, undefined, undefined, l, '/log');
    if (b !== null) e.observe(b, b.time, undefined, undefined, l, '/log');
  };
  return { feed, gated, every };
}

/** A hostile stream for a few addresses: bursts, late lines (inside and outside the window), gaps. */
function stream(seed: number, findtime: number, n: number, distinct: boolean, paths = 40, late = 0.15): string[] {
  const r = rng(seed);
  const ips = ['198.18.0.1', '198.18.0.2', '2001:db8::3'];
  let clock = T0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.5) clock += Math.floor(r() * 2) * SEC;
    else if (x < 0.53) clock += findtime; // the window empties between failures
    else if (x < 0.56) clock += Math.floor(findtime / 2);
    let t = clock;
    const y = r();
    if (y < late) t = clock - Math.floor(r() * (findtime / SEC + 2)) * SEC; // late, sometimes expired
    else if (y < late + 0.02) t = clock - findtime; // exactly at the window's edge
    const ip = ips[Math.floor(r() * r() * ips.length)]!;
    const status = r() < 0.9 ? 403 : 200;
    const path = distinct ? `/p${Math.floor(r() * paths)}` : `/x${Math.floor(r() * 3)}`;
    out.push(line(ip, t, status, path));
  }
  return out;
}

describe('evidence gating gives the evidence that keeping every line gives', () => {
  it('count: failures (maxretry 21..45), random late and out-of-order streams', () => {
    let bans = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const maxretry = 21 + (seed % 25);
      const findtime = [10, 30, 60][seed % 3]! * SEC;
      const { feed, gated, every } = pair({ BANHAMMER_RULES: 'forbidden', BANHAMMER_RULE_FORBIDDEN_MAXRETRY: String(maxretry), BANHAMMER_RULE_FORBIDDEN_FINDTIME: `${findtime / SEC}s` });
      for (const l of stream(seed, findtime, 1500, false)) feed(l);
      expect(gated, `seed ${seed} maxretry ${maxretry}`).toEqual(every);
      bans += every.length;
    }
    expect(bans).toBeGreaterThan(50); // the streams do ban
  });

  it('count: failures with evictions (maxTracked 1–2) and two rules counting the same lines', () => {
    let bans = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const { feed, gated, every } = pair({
        BANHAMMER_RULES: 'forbidden,request-flood',
        BANHAMMER_MAX_TRACKED: String(1 + (seed % 2)),
        BANHAMMER_RULE_FORBIDDEN_MAXRETRY: String(21 + (seed % 7)),
        BANHAMMER_RULE_FORBIDDEN_FINDTIME: '30s',
        BANHAMMER_RULE_REQUEST_FLOOD_MAXRETRY: String(30 + (seed % 5)),
        BANHAMMER_RULE_REQUEST_FLOOD_FINDTIME: '20s',
      });
      for (const l of stream(300 + seed, 30 * SEC, 1500, false)) feed(l);
      expect(gated, `seed ${seed}`).toEqual(every);
      bans += every.length;
    }
    expect(bans).toBeGreaterThan(10);
  });

  it('the first failures of a long window are not kept, and the ban still has its last lines', () => {
    const { feed, gated, every } = pair({ BANHAMMER_RULES: 'forbidden', BANHAMMER_RULE_FORBIDDEN_MAXRETRY: '100', BANHAMMER_RULE_FORBIDDEN_FINDTIME: '60s' });
    for (let i = 0; i < 100; i++) feed(line('198.18.0.9', T0 + Math.floor(i / 4) * SEC, 403, `/x${i}`));
    expect(gated).toHaveLength(1);
    expect(gated).toEqual(every);
    expect(gated[0]!.evidence.map((l) => l.line)).toEqual(Array.from({ length: 23 }, (_, k) => line('198.18.0.9', T0 + Math.floor((77 + k) / 4) * SEC, 403, `/x${77 + k}`)));
    expect(gated[0]!.omitted).toBe(77);
  });

  // Found in review (fixed: a ring is now the last lines recorded whatever their times, and only
  // take() and pending() look at the window): with count: distinct-paths the claim did not hold. A refreshed path keeps its window entry alive while its evidence line (the first request of
  // the path) ages, and with late lines the ring of an address that also kept its low-count first
  // line holds that line longer. Input (crawl-non-static, maxretry 24, findtime 60 s, one address):
  //   p1 @100 s, p2 @60 s (late), p2 again @100 s (refresh, no line), p3 @125 s, then p4..p24 @110 s.
  // Keeping every line, the ban (24 distinct paths, at 110 s) has 23 lines: p2's line (@60 s, inside
  // (50 s, 110 s]) and p3..p24, omitted 1. Gated: p1's line (count 1 ≤ 24 − 23) is not kept, so the
  // ring's front is p2's line, which the record of p3 (@125 s: lines ≤ 65 s go) drops; the ban has 22
  // lines, omitted 2. Expected: the same evidence; got: one line short.
  it('count: distinct-paths, a late refreshed path: the same evidence as keeping every line', () => {
    const { feed, gated, every } = pair({
      BANHAMMER_RULES: 'crawl-non-static',
      BANHAMMER_RULE_CRAWL_NON_STATIC_MAXRETRY: '24',
      BANHAMMER_RULE_CRAWL_NON_STATIC_FINDTIME: '60s',
    });
    const ip = '198.18.0.4';
    feed(line(ip, T0 + 100 * SEC, 200, '/p1'));
    feed(line(ip, T0 + 60 * SEC, 200, '/p2'));
    feed(line(ip, T0 + 100 * SEC, 200, '/p2'));
    feed(line(ip, T0 + 125 * SEC, 200, '/p3'));
    for (let i = 4; i <= 24; i++) feed(line(ip, T0 + 110 * SEC, 200, `/p${i}`));
    expect(every).toHaveLength(1);
    expect(every[0]!.evidence).toHaveLength(23);
    expect(gated).toEqual(every);
  });

  it('count: distinct-paths with late, out-of-order and expired lines, paths refreshed often (maxretry 21..28), random', () => {
    let bans = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const maxretry = 21 + (seed % 8);
      const { feed, gated, every } = pair({
        BANHAMMER_RULES: 'crawl-non-static',
        BANHAMMER_MAX_TRACKED: String(1 + (seed % 3)),
        BANHAMMER_RULE_CRAWL_NON_STATIC_MAXRETRY: String(maxretry),
        BANHAMMER_RULE_CRAWL_NON_STATIC_FINDTIME: `${[10, 30, 60][seed % 3]}s`,
        BANHAMMER_RULE_CRAWL_NON_STATIC_BANTIME: '1s', // banned addresses count again at once
      });
      for (const l of stream(700 + seed, [10, 30, 60][seed % 3]! * SEC, 2000, true, maxretry + 4, 0.3)) feed(l);
      expect(gated, `seed ${seed}`).toEqual(every);
      bans += every.length;
    }
    expect(bans).toBeGreaterThan(10);
  });

  it('count: distinct-paths without late lines (maxretry 21..40)', () => {
    let bans = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const maxretry = 21 + (seed % 20);
      const { feed, gated, every } = pair({
        BANHAMMER_RULES: 'crawl-non-static',
        BANHAMMER_RULE_CRAWL_NON_STATIC_MAXRETRY: String(maxretry),
        BANHAMMER_RULE_CRAWL_NON_STATIC_FINDTIME: '30s',
      });
      const r = rng(500 + seed);
      let clock = T0;
      for (let i = 0; i < 1500; i++) {
        if (r() < 0.4) clock += SEC;
        if (r() < 0.01) clock += 30 * SEC;
        feed(line(r() < 0.7 ? '198.18.0.1' : '198.18.0.2', clock, 200, `/p${Math.floor(r() * 60)}`));
      }
      expect(gated, `seed ${seed}`).toEqual(every);
      bans += every.length;
    }
    expect(bans).toBeGreaterThan(10);
  });
});
