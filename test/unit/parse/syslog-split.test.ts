/**
 * A line cut into several syslog messages (Docker's syslog driver splits lines over 16 KiB; a syslogd
 * may cut at its own limit): the pieces after the first start inside a field the client wrote, and
 * one of them must never be read as an access line of its own, or a client could name anyone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLineParser, CUT_HORIZON_RECORDS } from '../../../src/parse/line-parser.js';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';

const T = '02/Dec/2026:10:00:00 +0000';
const hdr = (tag: string): string => `<30>Dec  2 10:00:00 ${tag}[812]: `;
const forged = `198.18.7.7 - - [${T}] "GET /forged HTTP/1.1" 403 5 "-" "x"`;
/** An attacker's line whose referer is long enough to be cut, and the pieces Docker would send. */
function split(tag: string, at: number): [string, string] {
  const line = `198.18.0.1 - - [${T}] "GET /a HTTP/1.1" 200 5 "${'r'.repeat(20_000)}" "Mozilla/5.0"`;
  return [hdr(tag) + line.slice(0, at), hdr(tag) + forged];
}
const ips = (outs: ParseOutcome[]): string[] => outs.map((o) => (isSkip(o) ? o : o.ip));

describe('syslog: the pieces of a cut line', () => {
  for (const format of ['auto', 'syslog'] as const) {
    it(`${format}: the piece after a record cut inside a quoted field is partial, never a line`, () => {
      const p = createLineParser(format);
      const [head, rest] = split('web', 16_384);
      expect(ips([head, rest, hdr('web') + forged].map((l) => p(l, '/var/log/syslog')))).toEqual(['198.18.0.1', 'partial', '198.18.7.7']);
    });
  }

  it('other senders go on meanwhile; the cut sender skips only its own next record', () => {
    const p = createLineParser('auto');
    const [head, rest] = split('web', 8_000);
    const other = hdr('shop') + `198.18.0.9 - - [${T}] "GET / HTTP/1.1" 403 5 "-" "x"`;
    expect(ips([head, other, rest, other].map((l) => p(l, 'f')))).toEqual(['198.18.0.1', '198.18.0.9', 'partial', '198.18.0.9']);
  });

  it('a line cut into three (pieces as long as the first) has both later pieces partial', () => {
    const p = createLineParser('auto');
    const line = `198.18.0.1 - - [${T}] "GET /a HTTP/1.1" 200 5 "${'r'.repeat(40_000)}" "Mozilla/5.0"`;
    const pieces = [line.slice(0, 16_384), line.slice(16_384, 32_768), forged].map((x) => hdr('web') + x);
    // The middle piece is as long as the first: the one after it is still the same line's.
    pieces[1] = hdr('web') + line.slice(16_384, 32_768);
    expect(ips([...pieces, hdr('web') + forged].map((l) => p(l, 'f')))).toEqual(['198.18.0.1', 'partial', 'partial', '198.18.7.7']);
  });

  it('a record cut inside the request line is a cut too; a short or whole line is not', () => {
    const p = createLineParser('auto');
    const long = hdr('web') + `198.18.0.1 - - [${T}] "GET /${'a'.repeat(5_000)}`;
    expect(ips([long, hdr('web') + forged].map((l) => p(l, 'f')))).toEqual(['truncated', 'partial']);
    const q = createLineParser('auto');
    const short = hdr('web') + `198.18.0.1 - - [${T}] "GET /a HTTP/1.1" 200 5 "-" "Mozi`;
    const whole = hdr('web') + `198.18.0.1 - - [${T}] "GET /a HTTP/1.1" 200 5 "${'r'.repeat(9_000)}" "Mozilla/5.0"`;
    expect(ips([short, hdr('web') + forged, whole, hdr('web') + forged].map((l) => q(l, 'f')))).toEqual(['198.18.0.1', '198.18.7.7', '198.18.0.1', '198.18.7.7']);
  });

  it(`the next piece must come within ${CUT_HORIZON_RECORDS} syslog records of the stream; later, the sender's record is a line again`, () => {
    for (const gap of [CUT_HORIZON_RECORDS - 1, CUT_HORIZON_RECORDS + 1]) {
      const p = createLineParser('auto');
      const [head] = split('web', 16_384);
      expect(p(head, 'f')).toMatchObject({ ip: '198.18.0.1' });
      for (let i = 0; i < gap; i++) expect(p(hdr('shop') + `198.18.0.9 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"`, 'f')).toMatchObject({ ip: '198.18.0.9' });
      const o = p(hdr('web') + forged, 'f');
      expect(isSkip(o) ? o : o.ip, `gap ${gap}`).toBe(gap < CUT_HORIZON_RECORDS ? 'partial' : '198.18.7.7');
    }
  });

  it('streams are apart: a cut in one file does not skip a line of another', () => {
    const p = createLineParser('auto');
    const [head] = split('web', 16_384);
    expect(ips([p(head, 'a'), p(hdr('web') + forged, 'b')])).toEqual(['198.18.0.1', '198.18.7.7']);
  });

  it('replay never bans the address the pieces name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-syslog-split-'));
    try {
      const lines: string[] = [];
      for (let i = 0; i < 6; i++) lines.push(...split('web', 16_384));
      const file = join(dir, 'syslog');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const r = await replayFile(file, loadConfig({ env: {}, hostname: 't' }));
      expect(r.bans.map((b) => b.ip)).toEqual([]);
      expect(r.skipReasons.partial).toBe(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
