/**
 * A file that grows while it is replayed: a parallel replay reads the file as it was when
 * the replay began (its spans end at that size; scan-span.ts parseSpan). The one-thread replay read a
 * regular file up to wherever its end was by then, so a log still being written gave other bans on
 * 1 thread than on several, and a file that grows forever never finished. Lines appended here from
 * the progress callback, after the first read, must not count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-rp-growing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const access = (ip: string, status: number, i: number) => `${ip} - - [${clf(T0 + i * 1000)}] "GET /p${i} HTTP/1.1" ${status} 10 "-" "curl"`;

describe('replay of a file that grows while it is read', () => {
  it('the one-thread replay stops where the file ended when it began', async () => {
    const p = join(dir, 'growing.log');
    // Over one 2 MiB read, so the progress callback runs before the end is reached.
    const lines: string[] = [];
    for (let i = 0, bytes = 0; bytes < 3 << 20 && i < 100_000; i++) {
      const l = access('198.18.9.1', 200, i % 50);
      lines.push(l);
      bytes += l.length + 1;
    }
    writeFileSync(p, lines.join('\n') + '\n');
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'unit' });
    let appended = 0;
    const report = await replayFile(p, config, {
      threads: 1,
      onProgress: () => {
        if (appended++ > 0) return;
        appendFileSync(p, Array.from({ length: 30 }, (_, i) => access('198.18.9.2', 403, i)).join('\n') + '\n');
      },
    });
    expect(appended).toBeGreaterThan(0);
    expect(report.lines).toBe(lines.length);
    expect(report.bans.map((b) => b.ip)).not.toContain('198.18.9.2');
  });
});
