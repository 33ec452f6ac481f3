/**
 * A line cut into several syslog messages (Docker's syslog driver splits lines over 16 KiB; a syslogd
 * may cut at its own limit): a piece after the first starts inside a field the client wrote, and
 * must never be read as an access line of its own, or a client could name anyone. Nor may the rule
 * that refuses such pieces let a client have any other line skipped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';

const T = '02/Dec/2026:10:00:00 +0000';
const hdr = (tag: string): string => `<30>Dec  2 10:00:00 ${tag}[812]: `;
const PIECE = 16 * 1024;
/** The pieces Docker's syslog driver sends for a line (16 KiB of the line each). */
const pieces = (line: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += PIECE) out.push(line.slice(i, i + PIECE));
  return out;
};
const ips = (outs: ParseOutcome[]): string[] => outs.map((o) => (isSkip(o) ? o : o.ip));

/**
 * An attacker's line whose referer is padded so that the 16 KiB cut falls right before a forged line
 * start; the real quotes that follow are what the forged line has as its request and tail (the
 * server escapes every quote the client sends).
 */
function attackInReferer(victim: string): string {
  const start = `198.18.0.40 - - [${T}] "GET /a HTTP/1.1" 403 1 "`;
  const forged = `${victim} - - [${T}] `;
  return `${start}${'r'.repeat(PIECE - start.length)}${forged}" " 403 5"`;
}

/**
 * The same with the cut inside the request line (a server with a large LimitRequestLine, a request
 * line with no protocol): the forged request is the real ` <status> <bytes> `, its status the referer.
 */
function attackInRequest(victim: string): string {
  const start = `198.18.0.41 - - [${T}] "GET /`;
  return `${start}${'a'.repeat(PIECE - start.length)}${victim} - - [${T}] " 400 1 " 403 5" "curl"`;
}

describe('syslog: the pieces of a line cut into several messages', () => {
  it('read on its own, a forged piece is an access line of the victim (what a stateless reader would count)', () => {
    expect(createLineParser('auto')(pieces(attackInReferer('198.18.7.7'))[1]!)).toMatchObject({ ip: '198.18.7.7', status: 403 });
    expect(createLineParser('auto')(pieces(attackInRequest('198.18.7.8'))[1]!)).toMatchObject({ ip: '198.18.7.8', status: 403 });
  });

  for (const format of ['auto', 'syslog'] as const) {
    it(`${format}: the line counts for the real client, the forged piece is never an event of its own`, () => {
      const p = createLineParser(format);
      const a = pieces(attackInReferer('198.18.7.7')).map((x) => p(hdr('web') + x));
      expect(ips(a)).toEqual(['198.18.0.40', 'partial']);
      // Cut inside its request: the first piece waits for its rest (it ends before its status), and
      // the two together are the server's line, for its client, with the status the server wrote.
      const b = pieces(attackInRequest('198.18.7.8')).map((x) => p(hdr('web') + x));
      expect(ips(b)).toEqual(['partial', '198.18.0.41']);
      expect(b[1]).toMatchObject({ status: 400 });
    });
  }

  it('a line cut into three: both later pieces are refused, whichever holds the forged start', () => {
    const start = `198.18.0.42 - - [${T}] "GET /a HTTP/1.1" 403 1 "`;
    const forged = `198.18.7.9 - - [${T}] `;
    const line = `${start}${'r'.repeat(2 * PIECE - start.length)}${forged}" " 403 5"`;
    const p = createLineParser('auto');
    const outs = pieces(line).map((x) => p(hdr('web') + x));
    expect(outs).toHaveLength(3);
    expect(outs[0]).toMatchObject({ ip: '198.18.0.42' });
    expect(outs.slice(1).some((o) => !isSkip(o))).toBe(false);
  });

  it('nothing is remembered: a client whose every line a syslogd truncates has every one counted, and the lines after them too', () => {
    const p = createLineParser('auto');
    const outs: ParseOutcome[] = [];
    for (let i = 0; i < 10; i++) {
      const long = `198.18.0.50 - - [${T}] "GET /x${i} HTTP/1.1" 403 1 "-" "${'u'.repeat(9000)}"`;
      outs.push(p(hdr('web') + long.slice(0, 8000)));
      outs.push(p(hdr('web') + `198.18.0.51 - - [${T}] "GET /y${i} HTTP/1.1" 403 1 "-" "curl"`));
    }
    expect(ips(outs)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? '198.18.0.50' : '198.18.0.51')));
  });

  it('an ordinary syslog line, and a plain line with a request starting with a space, are read as before', () => {
    const p = createLineParser('auto');
    expect(p(hdr('web') + `198.18.0.60 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`)).toMatchObject({ ip: '198.18.0.60' });
    // Only syslog carries pieces; a plain file's line is written whole.
    expect(p(`198.18.0.61 - - [${T}] " GET / HTTP/1.1" 400 1 "-" "x"`)).toMatchObject({ ip: '198.18.0.61' });
  });

  it('replay never bans the address the pieces name, and counts the attacker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-syslog-split-'));
    try {
      const lines: string[] = [];
      for (let i = 0; i < 6; i++) lines.push(...pieces(attackInReferer('198.18.7.7')).map((x) => hdr('web') + x));
      const file = join(dir, 'syslog');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const r = await replayFile(file, loadConfig({ env: {}, hostname: 't' }));
      expect(r.bans.map((b) => b.ip)).toEqual(['198.18.0.40']);
      expect(r.skipReasons.partial).toBe(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
