/**
 * Docker's split-line mark (a record of at least 16,384 bytes without a newline, docker-json.ts
 * pieceSized) judged alike by the live agent (LineSplitter, UTF-8) and replay (each byte one Latin-1
 * character, a byte order mark U+FEFF: the latin1 parser replay.ts and scan-span.ts build).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanSpan } from '../../../src/replay/scan-span.js';
import { loadConfig } from '../../../src/config/load.js';
import { isPartialRecord } from '../../../src/parse/docker-json.js';
import { accessLine as access, dockerRecord as rec, readLive as live, readReplay } from '../../support/live-and-replay.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

const dir = mkdtempSync(join(tmpdir(), 'bh-docker-bytes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('Docker piece judged in bytes, live and in replay', () => {
  it('a real 16,384-byte piece holding a U+FEFF (3 bytes) is joined live and in replay (a byte order mark counts its three bytes)', async () => {
    const p = join(dir, 'bom-piece.log');
    // The status is in the second record: only the joined line is a 403.
    const head = `198.18.0.14 - - [${clf(T0)}] "GET /p\ufeff`;
    const piece = head + 'a'.repeat(16_384 - Buffer.byteLength(head));
    expect(Buffer.byteLength(piece)).toBe(16_384); // exactly Docker's piece
    const lines = [rec(piece), rec(' HTTP/1.1" 403 10 "-" "curl"\n'), rec(`${access('198.18.0.15', 403, '/q')}\n`)];
    writeFileSync(p, lines.join('\n') + '\n', 'utf8');
    const want = live(p, 'docker-json');
    expect(want).toEqual(['198.18.0.14 403', '198.18.0.15 403']);
    // replay.ts builds its parser with latin1: true
    expect(await readReplay(p, 'docker-json', true)).toEqual(want);
  });

  it('isPartialRecord (parallel replay edges) agrees with the live judgement on the same record', () => {
    const head = `x\ufeff`;
    const piece = head + 'a'.repeat(16_384 - Buffer.byteLength(head));
    const record = rec(piece);
    const asReplayReadsIt = Buffer.from(record, 'utf8').toString('latin1').replaceAll('\u00ef\u00bb\u00bf', '\ufeff');
    expect(isPartialRecord(record)).toBe(true);
    expect(isPartialRecord(asReplayReadsIt, true)).toBe(true);
  });

  it("3,000 '中' (9,000 bytes) without a newline before a restart: a line of its own in both; read without latin1 it would be a piece", async () => {
    const p = join(dir, 'cjk.log');
    const lines = [rec('中'.repeat(3000)), rec(`${access('198.18.0.10', 403, '/a')}\n`), rec(`${access('198.18.0.10', 403, '/b')}\n`)];
    writeFileSync(p, lines.join('\n') + '\n', 'utf8');
    const want = live(p, 'docker-json');
    expect(want).toHaveLength(2);
    expect(await readReplay(p, 'docker-json', true)).toEqual(want);
    expect(await readReplay(p, 'docker-json', false)).not.toEqual(want);
    // As a replay thread reads it (scan-span.ts builds its parser with latin1).
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'unit' });
    const r = await scanSpan({ path: p, from: 0, to: Number.POSITIVE_INFINITY, format: 'docker-json', rules: [['forbidden', { ...config.rules.forbidden!, enabled: true }]] });
    expect(r.count).toBe(2);
  });

  it('non-Docker key order (JSON.parse path): \\u escapes of non-ASCII count their UTF-8 bytes in replay too', () => {
    // decoded log: 5,462 × U+4E2D = 16,386 bytes, no newline → live says partial
    const record = `{"stream":"stdout","log":"${'\\u4e2d'.repeat(5462)}"}`;
    expect(isPartialRecord(record)).toBe(true);
    expect(isPartialRecord(record, true)).toBe(true);
  });
});
