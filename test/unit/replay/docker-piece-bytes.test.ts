/**
 * Docker's split-line mark (a record of at least 16,384 bytes without a newline, docker-json.ts
 * pieceSized) judged alike by the live agent (LineSplitter, UTF-8) and replay (each byte one Latin-1
 * character, a byte order mark U+FEFF: the latin1 parser replay.ts and scan-span.ts build).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { LineSplitter } from '../../../src/source/line-splitter.js';
import { parseSpan, scanSpan } from '../../../src/replay/scan-span.js';
import { loadConfig } from '../../../src/config/load.js';
import { isPartialRecord } from '../../../src/parse/docker-json.js';
import { clf } from '../../support/clf.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-docker-bytes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const access = (ip: string, status: number, path: string) => `${ip} - - [${clf(T0)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl"`;
const rec = (log: string) => JSON.stringify({ log, stream: 'stdout', time: '2026-12-02T10:00:00.000000000Z' });

function live(path: string, format: LogFormat): string[] {
  const parse = createLineParser(format);
  const out: string[] = [];
  const onLine = (line: string): void => {
    const ev = parse(line, path);
    if (!isSkip(ev)) out.push(`${ev.ip} ${ev.status}`);
  };
  const s = new LineSplitter();
  s.push(readFileSync(path), onLine);
  s.flushPartial(onLine);
  return out;
}

async function replay(path: string, format: LogFormat, latin1: boolean): Promise<string[]> {
  const out: string[] = [];
  await parseSpan(path, { from: 0, to: Number.POSITIVE_INFINITY }, createLineParser(format, { latin1 }), (ev) => void out.push(`${ev.ip} ${ev.status}`));
  return out;
}

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
    expect(await replay(p, 'docker-json', true)).toEqual(want);
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
    expect(await replay(p, 'docker-json', true)).toEqual(want);
    expect(await replay(p, 'docker-json', false)).not.toEqual(want);
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
