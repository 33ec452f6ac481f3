/**
 * Replay vs live: the live agent reads a log's bytes as UTF-8 (source/line-splitter.ts),
 * replay as Latin-1 (replay/read-lines.ts, "no byte is ever lost"). The parser was written for the
 * live text: a UTF-8 BOM is the one character U+FEFF (line-parser.ts contentStart), and Docker's mark
 * of a split line is a `log` string of at least 5,462 *characters* without a newline
 * (docker-json.ts MIN_PIECE_CHARS, the fewest characters 16 KiB of UTF-8 can be). Read as Latin-1, a
 * BOM was three characters; replay now reads it as U+FEFF (read-lines.ts decodeLog). And a
 * multi-byte character counted once per byte in replay, so a container's last line without a
 * newline of 5,462 to 16,383 bytes in multi-byte characters, before a restart, read as a 16 KiB
 * piece there: Docker's mark is now judged in bytes on both sides (docker-json.ts pieceSized).
 *
 * Each case compares the events the live reader gives (LineSplitter, then the parser) with the ones
 * replay's reader gives (parseSpan, the single-threaded replay's own path).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { parseSpan, scanSpan } from '../../../src/replay/scan-span.js';
import { loadConfig } from '../../../src/config/load.js';
import { accessLine as access, dockerRecord as rec, readLive as live, readReplay } from '../../support/live-and-replay.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-rp-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('replay reads a log as the live agent does (encoding)', () => {
  for (const format of ['auto', 'apache-combined'] as const) {
    it(`a UTF-8 BOM before the first access line (${format})`, async () => {
      const p = join(dir, `bom-${format}.log`);
      writeFileSync(p, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from([1, 2, 3].map((i) => access('198.18.0.9', 403, `/x${i}`)).join('\n') + '\n')]));
      const want = live(p, format);
      expect(want).toHaveLength(3);
      expect(await readReplay(p, format)).toEqual(want);
    });
  }

  it('a UTF-8 BOM at the start of a later line (logs concatenated, a rotated file appended): auto', async () => {
    const p = join(dir, 'bom-mid.log');
    const line = (i: number) => Buffer.from(access('198.18.0.11', 403, `/m${i}`) + '\n');
    writeFileSync(p, Buffer.concat([line(1), Buffer.from([0xef, 0xbb, 0xbf]), line(2), line(3)]));
    const want = live(p, 'auto');
    expect(want).toHaveLength(3);
    expect(await readReplay(p, 'auto')).toEqual(want);
  });

  it('an RFC 5424 syslog message whose MSG starts with a BOM (syslog.ts skips U+FEFF there)', async () => {
    const p = join(dir, 'syslog-bom.log');
    const msg = (i: number) => `<30>1 2026-12-02T10:00:0${i}Z host web 812 - - \ufeff${access('198.18.0.12', 403, `/s${i}`)}`;
    writeFileSync(p, [1, 2, 3].map(msg).join('\n') + '\n', 'utf8');
    const want = live(p, 'auto');
    expect(want).toHaveLength(3);
    expect(await readReplay(p, 'auto')).toEqual(want);
  });

  for (const format of ['auto', 'docker-json'] as const) {
    it(`a container's last line without a newline, in multi-byte characters, then its restart's records (${format})`, async () => {
      // 3,000 characters (6,000 bytes of UTF-8): not a 16 KiB piece; the records after it are lines of their own.
      const p = join(dir, `restart-${format}.log`);
      const lines = [rec('é'.repeat(3000)), rec(`${access('198.18.0.10', 403, '/a')}\n`), rec(`${access('198.18.0.10', 403, '/b')}\n`)];
      writeFileSync(p, lines.join('\n') + '\n', 'utf8');
      const want = live(p, format);
      expect(want).toEqual(['198.18.0.10 403', '198.18.0.10 403']);
      expect(await readReplay(p, format)).toEqual(want);
    });

    it(`a real 16 KiB piece in multi-byte characters is joined with its rest alike (${format})`, async () => {
      // 8,192 "é" are Docker's 16,384 bytes: the next record of the stream continues the line.
      const p = join(dir, `piece-${format}.log`);
      let head = `${access('198.18.0.14', 403, '/p')} "`;
      if (head.length % 2 === 1) head += 'x';
      const piece = `${head}${'é'.repeat((16_384 - head.length) / 2)}`;
      expect(Buffer.byteLength(piece)).toBe(16_384);
      const lines = [rec(piece), rec('tail"\n'), rec(`${access('198.18.0.15', 403, '/q')}\n`)];
      writeFileSync(p, lines.join('\n') + '\n', 'utf8');
      const want = live(p, format);
      expect(want).toEqual(['198.18.0.14 403', '198.18.0.15 403']);
      expect(await readReplay(p, format)).toEqual(want);
    });
  }

  it('a syslog tag holding a byte order mark: a replay thread hands back the origin the one-thread replay sees', async () => {
    const p = join(dir, 'tag-bom.log');
    const msg = `<30>Dec  2 10:00:00 host w\ufeffb[812]: ${access('198.18.0.13', 403, '/t')}`;
    writeFileSync(p, msg + '\n', 'utf8');
    const origins: (string | undefined)[] = [];
    await parseSpan(p, { from: 0, to: Number.POSITIVE_INFINITY }, createLineParser('auto'), (ev) => void origins.push(ev.origin));
    expect(origins).toHaveLength(1);
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'unit' });
    const r = await scanSpan({ path: p, from: 0, to: Number.POSITIVE_INFINITY, format: 'auto', rules: [['forbidden', { ...config.rules.forbidden!, enabled: true }]] });
    expect(r.count).toBe(1);
    expect(r.origins[(r.meta[0]! >>> 1) - 1]).toBe(origins[0]);
  });
});
