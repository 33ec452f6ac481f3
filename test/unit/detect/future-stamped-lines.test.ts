/**
 * A line stamped ahead of the others (a skewed or forged clock) inside the tolerances (live:
 * SKEW_TOLERANCE_MS = 60 s, replay: MAX_LATE_MS = 5 min) must not shield the address's current
 * failures, whatever the rule's findtime. Found by an audit: each window was measured from its newest
 * event (cutoff = newest − findtime), so a line stamped a findtime ahead pushed every current failure
 * out. Windows now end at the newest failure not stamped after the one being recorded plus the
 * rule's lead (sliding-window.ts futureLeadOf).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline, type PipelineMode } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const S = 1000;
const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;

function run(mode: PipelineMode, findtime: string, ahead: number): Ban[] {
  const bans: Ban[] = [];
  const p = new Pipeline({ config: loadConfig({ env: { BANHAMMER_RULE_FORBIDDEN_FINDTIME: findtime }, hostname: 'u' }), mode, onBan: (b) => bans.push(b) });
  const feed = (l: string, now: number) => {
    const ev = p.parse(l);
    if (ev !== null && typeof ev === 'object') p.observe(ev, now);
  };
  // One line stamped `ahead` into the future, then ten current 403s, one a second (maxretry 5).
  feed(line('198.18.0.9', T0 + ahead), T0);
  for (let i = 0; i < 10; i++) feed(line('198.18.0.9', T0 + i * S), T0 + i * S);
  return bans;
}

describe('a future-dated line inside the tolerance must not shield current failures', () => {
  it('live, findtime 10s, one line +50 s ahead: ten current 403s are banned', () => {
    expect(run('live', '10s', 50 * S).map((b) => b.ip)).toEqual(['198.18.0.9']);
  });
  it('live, findtime 30s, one line +59 s ahead: ten current 403s are banned', () => {
    expect(run('live', '30s', 59 * S).map((b) => b.ip)).toEqual(['198.18.0.9']);
  });
  it('replay, findtime 1m (default), one line +2 min ahead: ten current 403s are banned', () => {
    expect(run('replay', '1m', 2 * 60 * S).map((b) => b.ip)).toEqual(['198.18.0.9']);
  });
  it('replay, findtime 1m (default), one line +4 min ahead: ten current 403s are banned', () => {
    expect(run('replay', '1m', 4 * 60 * S).map((b) => b.ip)).toEqual(['198.18.0.9']);
  });
});

describe('the crawl-non-static preset (distinct paths, findtime 10s) under the default tolerance', () => {
  it('live: one line +55 s ahead does not shield 60 distinct non-static paths in 10 s', () => {
    const bans: Ban[] = [];
    const p = new Pipeline({ config: loadConfig({ env: { BANHAMMER_RULES: 'crawl-non-static' }, hostname: 'u' }), mode: 'live', onBan: (b) => bans.push(b) });
    const req = (t: number, path: string) => `198.18.0.70 - - [${clf(t)}] "GET ${path} HTTP/1.1" 200 10 "-" "Mozilla/5.0"`;
    const feed = (l: string, now: number) => {
      const ev = p.parse(l);
      if (ev !== null && typeof ev === 'object') p.observe(ev, now);
    };
    feed(req(T0 + 55 * S, '/page-future'), T0);
    for (let i = 0; i < 60; i++) feed(req(T0 + Math.floor(i / 6) * S, `/page-${i}`), T0 + Math.floor(i / 6) * S);
    // Control: without the future line the same 60 requests are banned (checked in a fresh pipeline).
    const control: Ban[] = [];
    const q = new Pipeline({ config: loadConfig({ env: { BANHAMMER_RULES: 'crawl-non-static' }, hostname: 'u' }), mode: 'live', onBan: (b) => control.push(b) });
    for (let i = 0; i < 60; i++) {
      const ev = q.parse(req(T0 + Math.floor(i / 6) * S, `/page-${i}`));
      if (ev !== null && typeof ev === 'object') q.observe(ev, T0 + Math.floor(i / 6) * S);
    }
    expect(control.map((b) => b.ip)).toEqual(['198.18.0.70']);
    expect(bans.map((b) => b.ip)).toEqual(['198.18.0.70']);
  });
});
