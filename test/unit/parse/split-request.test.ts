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
import { createLineParser, KEPT_REQUEST } from '../../../src/parse/line-parser.js';
import { MAX_PATH_TESTED } from '../../../src/detect/path-pattern.js';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';

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

describe('syslog: what a cut leaves in the first piece, and what never comes after it', () => {
  const hdrW = hdr();

  it('a `]` in the user field (the first piece reads as a bad request) still joins: the real client, never the forged one', () => {
    const prefix = `${CLIENT} - ]`;
    const pad = '\\xFF'.repeat(Math.floor((PIECE - prefix.length) / 4));
    const head = (prefix + pad + 'a'.repeat(PIECE)).slice(0, PIECE);
    const line = `${head}198.18.7.8 - - [${T}] "GET /x HTTP/1.1" 403 5 "-" "curl"`;
    for (const format of ['auto', 'syslog'] as const) {
      const p = createLineParser(format);
      expect(pieces(line).map((x) => who(p(hdrW + x)))).toEqual(['partial', `${CLIENT} 403`]);
    }
  });

  it('a cut inside a UTF-8 character (escape=json writes raw bytes) still joins', () => {
    for (const odd of [0, 1]) {
      const line = `${CLIENT} - - [${T}] "GET /${'a'.repeat(odd)}${'é'.repeat(9000)} HTTP/1.1" 403 5 "-" "curl"`;
      const bytes = Buffer.from(line, 'utf8');
      const p = createLineParser('auto');
      const outs: string[] = [];
      // As the agent reads them: each message decoded on its own.
      for (let at = 0; at < bytes.length; at += PIECE) outs.push(who(p(hdrW + bytes.subarray(at, at + PIECE).toString('utf8'))));
      expect(outs.filter((o) => o.includes(' '))).toEqual([`${CLIENT} 403`]);
    }
  });

  it('a user field longer than a head is kept: its later pieces are passed over, never read as lines of their own', () => {
    const p = createLineParser('auto');
    const userPieces = Math.ceil((128 * 1024) / PIECE) + 2;
    // The forged start falls exactly at the start of a piece.
    const user = (`${CLIENT} - ` + '\\xFF'.repeat((userPieces * PIECE) / 4)).slice(0, userPieces * PIECE);
    const line = `${user}198.18.7.8 - - [${T}] "GET /x HTTP/1.1" 403 5 "-" "curl"`;
    const outs = pieces(line).map((x) => who(p(hdrW + x)));
    expect(outs.some((o) => o.startsWith('198.18.7.8'))).toBe(false);
    // The next line of the tag is read as itself.
    expect(who(p(hdrW + `198.18.0.64 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`))).toBe('198.18.0.64 403');
  });

  it('a request over three messages joins once its closing quote comes; messages between are more of the request', () => {
    // Both parities: a cut between a `\\` and the quote it escapes, and between two escapes.
    for (const pad of ['', 'a']) {
      const p = createLineParser('auto');
      const line = `${CLIENT} - - [${T}] "GET /${pad}${'\\"'.repeat(17_000)}x HTTP/1.1" 403 5 "-" "curl"`;
      const outs = pieces(line).map((x) => who(p(hdrW + x)));
      expect(outs).toEqual(['partial', 'partial', `${CLIENT} 403`]);
      expect(p.waiting()).toBe(0);
    }
  });

  it('when the rest never comes (a syslogd that drops it), the cut line is given up after a few lines, each read as itself', () => {
    const p = createLineParser('auto');
    const cut = `${CLIENT} - - [${T}] "GET /${'\\xFF'.repeat(2000)}`; // 8 KiB kept by the syslogd, no rest
    expect(who(p(hdrW + cut))).toBe('partial');
    expect(p.waiting()).toBe(1);
    const outs: string[] = [];
    for (let i = 0; i < 12; i++) outs.push(who(p(hdrW + `198.18.0.${70 + i} - - [${T}] "GET /${i} HTTP/1.1" 403 1 "-" "x"`)));
    expect(outs).toEqual(Array.from({ length: 12 }, (_, i) => `198.18.0.${70 + i} 403`));
    expect(p.waiting()).toBe(0);
  });

  it('the status itself cut between two messages after a request cut: still one event for the client', () => {
    const p = createLineParser('auto');
    const reqPad = '\\xFF'.repeat(5000);
    const line = `${CLIENT} - - [${T}] "GET /${reqPad} HTTP/1.1" 403 5 "-" "curl"`;
    const close = line.indexOf('" 403');
    // Three messages: the request, then up to the middle of the status, then the rest.
    const msgs = [line.slice(0, PIECE), line.slice(PIECE, close + 3), line.slice(close + 3)];
    expect(msgs.map((x) => who(p(hdrW + x))).filter((o) => o.includes(' '))).toEqual([`${CLIENT} 403`]);
  });
});

describe('syslog: a cut never changes which rule matches', () => {
  it('keeps more of a cut request than the rules test of a path', () => {
    expect(KEPT_REQUEST).toBeGreaterThan(MAX_PATH_TESTED + 'OPTIONS '.length);
  });

  it('an exploit probe whose marker lies past 4 KiB of path, cut into two messages, matches as it does whole', () => {
    const path = `/${'\\xFF'.repeat(1100)}/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php`;
    const line = `${CLIENT} - - [${T}] "GET ${path} HTTP/1.1" 404 5 "-" "curl"`;
    const count = (msgs: string[]): number => {
      const p = new Pipeline({ config: loadConfig({ env: { BANHAMMER_RULES: 'exploit-probes' }, hostname: 't' }), mode: 'replay' });
      for (const m of msgs) {
        const ev = p.parse(hdr() + m);
        if (ev !== null) p.observe(ev, ev.time);
      }
      return p.detector.counters('exploit-probes')!.matches;
    };
    expect(count([line])).toBe(1);
    // The cut inside the request, before the marker.
    expect(count([line.slice(0, 4000), line.slice(4000)])).toBe(1);
    expect(count(pieces(line, 4000))).toBe(1);
  });
});

describe('syslog: a piece after the first never takes the cut line`s place (review of the joins)', () => {
  const hdrW = hdr();
  const split = (s: string): string[] => pieces(s);

  it('a `]` in a user field over three messages, the second starting with a forged address: the real client', () => {
    const p1 = (`${CLIENT} - ]` + '\\xFF'.repeat(PIECE)).slice(0, PIECE);
    const p2 = ('198.18.7.99 - ' + '\\xFF'.repeat(PIECE)).slice(0, PIECE);
    const p = createLineParser('auto');
    expect(split(p1 + p2 + `x [${T}] "GET /x HTTP/1.1" 403 5 "-" "curl"`).map((x) => who(p(hdrW + x)))).toEqual(['partial', 'partial', `${CLIENT} 403`]);
  });

  it('a raw byte in the first piece (escape=json), the request cut in the second: the real client', () => {
    const p1 = (`${CLIENT} - \uFFFD` + 'a'.repeat(PIECE)).slice(0, PIECE);
    const p2 = (`198.18.7.99 - x [${T}] "GET /` + 'a'.repeat(PIECE)).slice(0, PIECE);
    const p = createLineParser('auto');
    expect(split(`${p1}${p2}bbbb HTTP/1.1" 403 5 "-" "curl"`).map((x) => who(p(hdrW + x)))).toEqual(['partial', 'partial', `${CLIENT} 403`]);
  });

  it('half a UTF-8 character at each side of a cut in the user field: the real client', () => {
    const pre = `${CLIENT} - `;
    const user = pre + 'a'.repeat(PIECE - pre.length - 1) + 'é';
    const p2 = `198.18.7.99 - x [${T}] "GET /` + 'a'.repeat(PIECE);
    const bytes = Buffer.concat([Buffer.from(user, 'utf8'), Buffer.from(p2.slice(0, PIECE - 1), 'utf8'), Buffer.from(`bbbb HTTP/1.1" 403 5 "-" "curl"`)]);
    const p = createLineParser('auto');
    const outs: string[] = [];
    for (let at = 0; at < bytes.length; at += PIECE) outs.push(who(p(hdrW + bytes.subarray(at, at + PIECE).toString('utf8'))));
    expect(outs).toEqual(['partial', 'partial', `${CLIENT} 403`]);
  });

  it('a line too long to keep ends with its own last piece, however long: the next line is read as itself', () => {
    const user = (`198.18.0.70 - ` + '\\xFF'.repeat(9 * PIECE)).slice(0, 9 * PIECE);
    const line = `${user} [${T}] "GET /x HTTP/1.1" 404 5 "-" "${'A'.repeat(16_100)}"`;
    const p = createLineParser('auto');
    const outs = split(line).map((x) => who(p(hdrW + x)));
    expect(outs.some((o) => o.includes(' '))).toBe(false);
    expect(who(p(hdrW + `198.18.0.71 - - [${T}] "GET /.env HTTP/1.1" 403 1 "-" "x"`))).toBe('198.18.0.71 403');
  });

  it('a line too long to keep, in 2-byte characters (escape=json): its pieces are passed over until its request ends, never read alone', () => {
    const bytes = Buffer.from(`198.18.0.70 - ${'é'.repeat(9 * PIECE)}198.18.7.99 - - [${T}] "GET /forged HTTP/1.1" 403 5 "-" "curl"`, 'utf8');
    const p = createLineParser('auto');
    const outs: string[] = [];
    for (let at = 0; at < bytes.length; at += PIECE) outs.push(who(p(hdrW + bytes.subarray(at, at + PIECE).toString('utf8'))));
    expect(outs.some((o) => o.includes(' '))).toBe(false);
    expect(p.waiting()).toBe(0);
    expect(who(p(hdrW + `198.18.0.72 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`))).toBe('198.18.0.72 403');
  });
});

describe('syslog: the pieces of a line already read (cut in its referer or User-Agent)', () => {
  const hdrW = hdr();
  const probe = `${CLIENT} - - [${T}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 5 "-" "x"`;

  it('a User-Agent cut so that its next piece starts with a forged line start: never a cut line of its own, the next request counts for its real client', () => {
    // nginx logs a raw 0x01 byte as \x01: the header stays under nginx's default 8 KiB buffers.
    const pre = `${CLIENT} - - [${T}] "GET / HTTP/1.1" 200 5 "${'\\x01'.repeat(4000)}" "`;
    const p2 = (`198.18.0.9 - ${'\\x01'.repeat(4092)}` + 'M'.repeat(PIECE)).slice(0, PIECE);
    const line = pre + 'M'.repeat(PIECE - pre.length) + p2 + 'MMMM"';
    for (const format of ['auto', 'syslog'] as const) {
      const p = createLineParser(format);
      const outs = [...pieces(line), probe].map((x) => who(p(hdrW + x)));
      expect(outs.filter((o) => o.includes(' '))).toEqual([`${CLIENT} 200`, `${CLIENT} 404`]);
    }
  });

  it('the same after a cut line was joined: its later pieces are passed over', () => {
    const pre = `${CLIENT} - - [${T}] "GET /${'\\xFF'.repeat(4500)} HTTP/1.1" 403 5 "-" "`;
    const line = `${pre}${'M'.repeat(2 * PIECE - pre.length)}198.18.0.9 - ${'\\x01'.repeat(4000)}"`;
    const p = createLineParser('auto');
    const outs = [...pieces(line), probe].map((x) => who(p(hdrW + x)));
    expect(outs.filter((o) => o.includes(' '))).toEqual([`${CLIENT} 403`, `${CLIENT} 404`]);
  });

  it('a line whose user field is longer than a head, then a probe: the probe counts', () => {
    const big = `${CLIENT} - ${'\\x01'.repeat(35_000)} [${T}] "GET / HTTP/1.1" 401 5 "-" "x"`;
    const p = createLineParser('auto');
    const outs = [...pieces(big), probe, `198.18.0.62 - - [${T}] "GET /x HTTP/1.1" 403 1 "-" "x"`].map((x) => who(p(hdrW + x)));
    expect(outs.slice(-2)).toEqual([`${CLIENT} 404`, '198.18.0.62 403']);
  });

  it('a long line whose tail the syslogd dropped: the next lines are read as themselves', () => {
    const cut = `${CLIENT} - - [${T}] "GET / HTTP/1.1" 200 5 "-" "${'M'.repeat(9000)}`; // no closing quote: dropped
    const p = createLineParser('auto');
    const outs = [cut, probe, `198.18.0.63 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`].map((x) => who(p(hdrW + x)));
    expect(outs).toEqual([`${CLIENT} 200`, `${CLIENT} 404`, '198.18.0.63 403']);
  });
});
