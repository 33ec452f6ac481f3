import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLogFile } from '../../../bench/generate-log.js';
import { loadConfig } from '../../../src/config/load.js';

// Workers run the built JavaScript, so this compares the built replay with itself on 1 and on
// several threads (npm test builds first).
const built = new URL('../../../dist/replay/replay.js', import.meta.url);
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bh-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveBuild)('parallel replay (needs npm run build)', () => {
  it('gives exactly the single-threaded result, for any number of spans', async () => {
    const file = join(dir, 'access.log');
    writeLogFile(file, { lines: 60_000, seed: 7 });
    const { replayFile, splitSpans } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden,not-found,sensitive-paths' }, hostname: 't' });
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.bans.length).toBeGreaterThan(0);
    for (const threads of [2, 3, 7]) {
      expect(splitSpans(file, threads).length).toBe(threads);
      const many = await replayFile(file, config, { threads });
      expect(many).toEqual(one);
    }
  });

  it('every preset on (rules that count every line, distinct paths, allowlisted addresses): the same result on 1 and several threads', async () => {
    const file = join(dir, 'every.log');
    writeLogFile(file, { lines: 80_000, seed: 11 });
    const { replayFile } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const { PRESET_NAMES } = await import('../../../src/detect/presets.js');
    const env = {
      BANHAMMER_RULES: PRESET_NAMES.join(','),
      // Low thresholds, so the counting rules ban on this log; an allowlisted range too.
      BANHAMMER_RULE_REQUEST_FLOOD_MAXRETRY: '40',
      BANHAMMER_RULE_CRAWL_NON_STATIC_MAXRETRY: '8',
      BANHAMMER_IGNOREIP: '198.18.0.0/20',
    };
    const config = loadConfig({ env, hostname: 't' });
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.bans.filter((b) => b.rule === 'request-flood').length).toBeGreaterThan(0);
    expect(one.bans.filter((b) => b.rule === 'crawl-non-static').length).toBeGreaterThan(0);
    for (const threads of [2, 3]) expect(await replayFile(file, config, { threads })).toEqual(one);
  });

  it('syslog lines cut into pieces across span edges, forged lines at the cuts: the same result on 1 and several threads, the victims never banned', async () => {
    const file = join(dir, 'syslog-cut.log');
    const T = '02/Dec/2026:10:00:00 +0000';
    const PIECE = 16 * 1024;
    const out: string[] = [];
    for (let i = 0; i < 1_200; i++) {
      const hdr = `<30>Dec  2 10:00:00 web${i % 3}[812]: `;
      // The referer is padded so that the cut falls before a forged line start (see syslog-split.test.ts).
      const start = `198.18.1.${i % 200} - - [${T}] "GET /a HTTP/1.1" 403 5 "`;
      const line = `${start}${'r'.repeat(PIECE - start.length)}198.18.9.${i % 5} - - [${T}] " " 403 5"`;
      out.push(hdr + line.slice(0, PIECE), `<30>Dec  2 10:00:00 other[9]: 198.18.3.${i % 50} - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`, hdr + line.slice(PIECE));
    }
    writeFileSync(file, `${out.join('\n')}\n`);
    const { replayFile } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const config = loadConfig({ env: {}, hostname: 't' });
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.skipReasons.partial).toBe(1_200);
    expect(one.bans.some((b) => b.ip.startsWith('198.18.9.'))).toBe(false);
    expect(one.bans.some((b) => b.ip.startsWith('198.18.1.'))).toBe(true);
    expect(await replayFile(file, config, { threads: 3 })).toEqual(one);
  });

  it('spans start at line starts and cover the file without gaps', async () => {
    const file = join(dir, 'spans.log');
    writeLogFile(file, { lines: 5_000, seed: 3 });
    const { splitSpans } = (await import(built.href)) as typeof import('../../../src/replay/replay.js');
    const spans = splitSpans(file, 4);
    expect(spans[0]!.from).toBe(0);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.from).toBe(spans[i - 1]!.to);
  });
});
