/**
 * Issue 9, round 2 audit (defect): "no line can shield an address". Apache stamps a line with the time
 * its request was received (%t) and writes it when the request ends, so a client decides how late its
 * own line is: a slow request (a body sent at mod_reqtimeout's 500 B/s) ends minutes after it began.
 * SlidingWindows.record (detect/sliding-window.ts) and DistinctWindows.record (distinct-window.ts)
 * read a window whose newest failures are stamped more than MAX_LATE_MS (5 min) after the line being
 * recorded as "from a skewed or forged clock" and DROP them. In the live agent no failure can be
 * stamped ahead of the clock (the pipeline clamps them), so what is dropped are the client's real,
 * current failures: one late line of its own, within findtime, erases them. Every rule whose findtime
 * is over 5 minutes (most presets: sensitive-paths, wordpress-scan, tech-probes, … 10m) is escaped by
 * sending maxretry - 2 fast failures, then letting one slow request end.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);

function liveBans(env: Record<string, string>, lines: { path: string; status: number; stamp: number; now: number }[]): string[] {
  const bans: string[] = [];
  const p = new Pipeline({ config: loadConfig({ env, hostname: 'h3' }), mode: 'live', hostAddresses: [], onBan: (b) => void bans.push(`${b.ip} ${b.rule}`) });
  for (const l of lines) {
    const ev = p.parse(`198.18.0.9 - - [${clf(l.stamp)}] "POST ${l.path} HTTP/1.1" ${l.status} 10 "-" "curl"`);
    expect(ev).not.toBeNull();
    p.observe(ev!, l.now);
  }
  return bans;
}

describe('a late line of the client itself never erases its current failures (live)', () => {
  it('count rule (forbidden with findtime 10m): 80 failures in 5 minutes are banned', () => {
    const lines = [];
    for (let i = 0; i < 60; i++) {
      const now = T0 + i * 5_000;
      lines.push({ path: '/private', status: 403, stamp: now, now });
      // After every third fast failure, a slow request received 9.5 minutes earlier ends.
      if (i % 3 === 2) lines.push({ path: '/private', status: 403, stamp: now - 570_000, now });
    }
    expect(liveBans({ BANHAMMER_FINDTIME: '10m' }, lines)).toContain('198.18.0.9 forbidden');
  });

  it('the smallest case: 4 current failures, one 6-minute-late line, 1 more: 6 in findtime', () => {
    const now = T0 + 10_000;
    const lines = [0, 1, 2, 3].map((s) => ({ path: '/private', status: 403, stamp: T0 + s * 1000, now }));
    lines.push({ path: '/private', status: 403, stamp: T0 - 360_000, now }, { path: '/private', status: 403, stamp: T0 + 4000, now });
    expect(liveBans({ BANHAMMER_FINDTIME: '10m' }, lines)).toContain('198.18.0.9 forbidden');
  });

  it('distinct-paths rule (wordpress-scan: 3 paths in 10m): a late line does not erase the paths', () => {
    const now = T0 + 10_000;
    const lines = [
      { path: '/wp-content/plugins/a/x.php', status: 404, stamp: T0, now },
      { path: '/wp-content/plugins/b/x.php', status: 404, stamp: T0 + 1000, now },
      // A slow request for a third path, received 6 minutes earlier, ends now.
      { path: '/wp-content/plugins/c/x.php', status: 404, stamp: T0 - 360_000, now },
      { path: '/wp-content/plugins/d/x.php', status: 404, stamp: T0 + 2000, now },
    ];
    expect(liveBans({ BANHAMMER_RULES: 'wordpress-scan' }, lines)).toContain('198.18.0.9 wordpress-scan');
  });
});

describe('replay agrees with the live agent on a log with slow requests (Apache writes them late)', () => {
  it('the same stream that the live agent bans is banned by replay', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { replayFile } = await import('../../../src/replay/replay.js');
    const dir = mkdtempSync(join(tmpdir(), 'bh-h3-late-'));
    try {
      const text: string[] = [];
      for (let i = 0; i < 60; i++) {
        const now = T0 + i * 5_000;
        text.push(`198.18.0.9 - - [${clf(now)}] "POST /private HTTP/1.1" 403 10 "-" "curl"`);
        if (i % 3 === 2) text.push(`198.18.0.9 - - [${clf(now - 570_000)}] "POST /private HTTP/1.1" 403 10 "-" "curl"`);
      }
      writeFileSync(join(dir, 'a.log'), `${text.join('\n')}\n`);
      const r = await replayFile(join(dir, 'a.log'), loadConfig({ env: { BANHAMMER_FINDTIME: '10m' }, hostname: 'h3' }), { threads: 1 });
      expect(r.bans.map((b) => b.ip)).toContain('198.18.0.9');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a line stamped in 2031 in the middle of a burst does not shield it in replay (it does not live)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { replayFile } = await import('../../../src/replay/replay.js');
    const dir = mkdtempSync(join(tmpdir(), 'bh-h3-fut-'));
    try {
      const stamps = [T0, T0 + 1000, T0 + 2000, Date.UTC(2031, 0, 1), T0 + 3000, T0 + 4000];
      writeFileSync(join(dir, 'a.log'), stamps.map((t) => `198.18.0.9 - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"\n`).join(''));
      const r = await replayFile(join(dir, 'a.log'), loadConfig({ env: {}, hostname: 'h3' }), { threads: 1 });
      expect(r.bans.map((b) => b.ip)).toContain('198.18.0.9');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('replay: slow requests logged back to back', () => {
  it('two lines 6 and 7 minutes late in a row keep the newer failures (findtime 10m)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { replayFile } = await import('../../../src/replay/replay.js');
    const dir = mkdtempSync(join(tmpdir(), 'bh-h3-late2-'));
    try {
      const line = (t: number): string => `198.18.0.9 - - [${clf(t)}] "POST /private HTTP/1.1" 403 10 "-" "curl"`;
      // Four current failures, two slow requests that began 6 and 7 minutes earlier, one more: 7 in
      // the findtime of the last (maxretry 7), as the live agent counts them.
      const stamps = [T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 3000 - 360_000, T0 + 3000 - 420_000, T0 + 4000];
      writeFileSync(join(dir, 'a.log'), `${stamps.map(line).join('\n')}\n`);
      const config = loadConfig({ env: { BANHAMMER_FINDTIME: '10m', BANHAMMER_MAXRETRY: '7' }, hostname: 'h3' });
      const r = await replayFile(join(dir, 'a.log'), config, { threads: 1 });
      expect(r.bans.map((b) => b.ip)).toEqual(['198.18.0.9']);
      const live = liveBans({ BANHAMMER_FINDTIME: '10m', BANHAMMER_MAXRETRY: '7' }, stamps.map((t) => ({ path: '/private', status: 403, stamp: t, now: T0 + 4000 })));
      expect(live).toEqual(['198.18.0.9 forbidden']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
