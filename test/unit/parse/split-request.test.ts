/**
 * A syslog line cut after its request line opened: the client makes its request as long as it likes
 * (nginx writes a byte it does not print as `\xHH`, Apache a quote as `\"`), so it picks where Docker's
 * 16 KiB cut falls: inside the request, on an escape, right after the closing quote, inside the status.
 * The line's first piece then ends before its status, and read alone it would be lost, so the client's
 * 403s would never count. Each piece after the first starts inside what the client wrote and must never
 * be a line of its own. Wherever the cut falls, the line counts once, for its client, with its status.
 */
import { describe, expect, it } from 'vitest';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const T = '02/Dec/2026:10:00:00 +0000';
const PIECE = 16 * 1024;
const hdr = (tag = 'web', pri = 30): string => `<${pri}>Dec  2 10:00:00 ${tag}[812]: `;
const pieces = (line: string, size = PIECE): string[] => {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += size) out.push(line.slice(i, i + size));
  return out;
};
const who = (o: ParseOutcome): string => (isSkip(o) ? o : `${o.ip} ${o.status}`);
const CLIENT = '198.18.0.60';

const REST = ` HTTP/1.1" 403 5 "https://198.18.7.20/" "198.18.7.21 - - [${T}] \\"GET / HTTP/1.1\\" 403 1"`;
/** Where each mark starts in REST: the closing quote, the status, the size, the referer, the User-Agent. */
const MARKS = { close: 9, status: 11, bytes: 15, referer: 17, agent: 40 } as const;

/** A line whose request is padded with `unit` so that the 16 KiB cut falls `after` characters past `mark`. */
function padded(unit: string, mark: keyof typeof MARKS, after: number): string {
  const start = `${CLIENT} - - [${T}] "GET /`;
  const want = PIECE - after - MARKS[mark] - start.length;
  let req = '';
  while (req.length + unit.length <= want) req += unit;
  return start + req + 'a'.repeat(want - req.length) + REST;
}

describe('syslog: a line cut after its request line opened', () => {
  for (const [name, unit] of [
    ['nginx \\xHH', '\\xFF'],
    ['Apache \\"', '\\"'],
    ['Apache \\\\', '\\\\'],
    ['plain', 'a'],
  ] as const) {
    for (const mark of ['close', 'status', 'bytes', 'referer', 'agent'] as const) {
      for (const before of [-3, -2, -1, 0, 1, 2, 3, 9, 11]) {
        it(`${name}: cut ${before} past the ${mark}: one event, for the client, 403`, () => {
          const p = createLineParser('auto');
          const line = padded(unit, mark, before);
          expect(line.slice(PIECE - before - MARKS[mark], PIECE - before - MARKS[mark] + 1)).toBe(REST[0]);
          const outs = pieces(line).map((x) => who(p(hdr() + x)));
          expect(outs.filter((o) => o.includes(' '))).toEqual([`${CLIENT} 403`]);
        });
      }
    }
  }

  it('a request over two cuts (three pieces) still counts once for its client', () => {
    const p = createLineParser('auto');
    const line = `${CLIENT} - - [${T}] "GET /${'\\xFF'.repeat(9000)} HTTP/1.1" 403 5 "-" "curl"`;
    expect(pieces(line).map((x) => who(p(hdr() + x)))).toEqual(['partial', 'partial', `${CLIENT} 403`]);
  });

  it('lines of other tags and the stderr priority in between do not end the line', () => {
    const p = createLineParser('auto');
    const [a1, a2] = pieces(`${CLIENT} - - [${T}] "GET /${'\\xFF'.repeat(5000)} HTTP/1.1" 403 5 "-" "curl"`);
    const outs = [p(hdr() + a1), p(hdr('other') + `198.18.0.61 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`), p(hdr('web', 27) + 'an error line'), p(hdr() + a2)].map(who);
    expect(outs.filter((o) => o.includes(' '))).toEqual(['198.18.0.61 403', `${CLIENT} 403`]);
  });

  it('when the syslogd dropped the rest, the next line of the tag is read on its own, for its own client', () => {
    const p = createLineParser('auto');
    const [a1] = pieces(`${CLIENT} - - [${T}] "GET /${'\\xFF'.repeat(5000)} HTTP/1.1" 403 5 "-" "curl"`);
    const outs = [p(hdr() + a1), p(hdr() + `198.18.0.62 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`), p(hdr() + `198.18.0.63 - - [${T}] "GET / HTTP/1.1" 200 1 "-" "x"`)].map(who);
    expect(outs).toEqual(['partial', '198.18.0.62 403', '198.18.0.63 200']);
  });
});
