/**
 * A line cut into pieces before its request line: the cut falls in the first fields, in the user
 * field (%u, $remote_user: nginx fills it from any `Authorization: Basic` header, escaped at up to
 * four characters a byte, so a client can push it past 16 KiB). The piece after the cut then holds
 * the real time, request and status, and its start is whatever the client wrote: read on its own it
 * is a complete access line naming anyone, with the real status, and the real client escapes.
 * - Docker json-file: stdout and stderr records of one container interleave in one file (the copier
 *   reads each pipe in its own goroutine), so a stderr record between two pieces of a stdout line
 *   must not end that line.
 * - syslog: the pieces carry nothing that marks them; the piece after a line cut before its request
 *   is read together with it (per tag and priority), and never as a line of its own.
 */
import { describe, expect, it } from 'vitest';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const T = '02/Dec/2026:10:00:00 +0000';
const PIECE = 16 * 1024;
const pieces = (line: string, size = PIECE): string[] => {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += size) out.push(line.slice(i, i + size));
  return out;
};
const who = (o: ParseOutcome): string => (isSkip(o) ? o : `${o.ip} ${o.status}`);

/**
 * An attacker's line (198.18.0.43) whose Basic-auth user is padded with bytes nginx writes as `\xFF`
 * so that the 16 KiB cut falls right before a forged start naming `victim`; what follows is real.
 */
function attackInUser(victim: string, client = '198.18.0.43', path = '/wp-login.php'): string {
  const start = `${client} - `;
  const head = (start + '\\xFF'.repeat(Math.ceil((PIECE - start.length) / 4))).slice(0, PIECE);
  return `${head}${victim} - - [${T}] "GET ${path} HTTP/1.1" 403 5 "-" "curl"`;
}

const record = (log: string, stream = 'stdout'): string =>
  `{"log":${JSON.stringify(log)},"stream":"${stream}","time":"2026-12-02T10:00:00.000000000Z"}`;
const errorLine = `2026/12/02 10:00:00 [error] 29#29: *1 open() "/usr/share/nginx/html/x" failed (2: No such file or directory), client: 198.18.0.44, server: localhost, request: "GET /x HTTP/1.1", host: "localhost"\n`;

describe('Docker json-file: a stderr record between two pieces of a stdout line', () => {
  for (const format of ['auto', 'docker-json'] as const) {
    it(`${format}: the line counts for its real client once, never for the address its user field names`, () => {
      const p = createLineParser(format);
      const [r1, r2] = pieces(`${attackInUser('198.18.7.10')}\n`);
      const outs = [record(r1!), record(errorLine, 'stderr'), record(r2!)].map((r) => who(p(r, '/logs/c.json')));
      expect(outs).not.toContain('198.18.7.10 403');
      expect(outs.filter((o) => o.includes(' '))).toEqual(['198.18.0.43 403']);
    });
  }

  it('stderr lines between the pieces are read as lines of their own; an ordinary line after is unaffected', () => {
    const p = createLineParser('auto');
    const [r1, r2] = pieces(`${attackInUser('198.18.7.10')}\n`);
    const stderrAccess = `198.18.0.45 - - [${T}] "GET /e HTTP/1.1" 403 1 "-" "x"\n`;
    const outs = [record(r1!), record(stderrAccess, 'stderr'), record(r2!), record(`198.18.0.46 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"\n`)];
    expect(outs.map((r) => who(p(r, 'f')))).toEqual(['partial', '198.18.0.45 403', '198.18.0.43 403', '198.18.0.46 403']);
  });
});

describe('syslog: a line cut inside its user field', () => {
  const hdr = (tag: string, pri = 30): string => `<${pri}>Dec  2 10:00:00 ${tag}[812]: `;

  for (const format of ['auto', 'syslog'] as const) {
    it(`${format}: the piece after the cut is read with the line it belongs to (Docker's 16 KiB pieces)`, () => {
      const p = createLineParser(format);
      const outs = pieces(attackInUser('198.18.7.11')).map((x) => who(p(hdr('web') + x)));
      expect(outs).toEqual(['partial', '198.18.0.43 403']);
    });
  }

  it('a user field over two cuts: still the real client, once', () => {
    const p = createLineParser('auto');
    const start = '198.18.0.47 - ';
    const pad = '\\xFF'.repeat(Math.ceil((2 * PIECE - start.length) / 4));
    const line = `${(start + pad).slice(0, 2 * PIECE)}198.18.7.12 - - [${T}] "GET /x HTTP/1.1" 403 5 "-" "curl"`;
    expect(pieces(line).map((x) => who(p(hdr('web') + x)))).toEqual(['partial', 'partial', '198.18.0.47 403']);
  });

  it('a syslogd that truncates each piece (rsyslog: 8 KiB) still gives the real client', () => {
    const p = createLineParser('auto');
    const outs = pieces(attackInUser('198.18.7.13')).map((x) => who(p(hdr('web') + x.slice(0, 8000))));
    expect(outs).toEqual(['partial', '198.18.0.43 403']);
  });

  it('other containers (tags) and the stderr priority in between do not end the line', () => {
    const p = createLineParser('auto');
    const [a1, a2] = pieces(attackInUser('198.18.7.14'));
    const outs = [
      p(hdr('web') + a1),
      p(hdr('other') + `198.18.0.48 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`),
      p(hdr('web', 27) + errorLine.trimEnd()),
      p(hdr('web') + a2),
    ].map(who);
    expect(outs).toEqual(['partial', '198.18.0.48 403', 'bad-address', '198.18.0.43 403']);
  });

  it('in a syslogd file (no priority), an error line in between is read alone and the piece still joins', () => {
    const p = createLineParser('auto');
    const file = (tag: string): string => `Dec  2 10:00:00 host ${tag}[812]: `;
    const [a1, a2] = pieces(attackInUser('198.18.7.15'));
    const outs = [p(file('web') + a1), p(file('web') + errorLine.trimEnd()), p(file('web') + a2)].map(who);
    expect(outs).toEqual(['partial', 'bad-address', '198.18.0.43 403']);
  });

  it('each of a client`s long lines counts once for it, and the lines around them are unaffected', () => {
    const p = createLineParser('auto');
    const outs: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const x of pieces(attackInUser('198.18.7.16', '198.18.0.49', `/x${i}`))) outs.push(who(p(hdr('web') + x)));
      outs.push(who(p(hdr('web') + `198.18.0.50 - - [${T}] "GET /y${i} HTTP/1.1" 403 1 "-" "curl"`)));
    }
    expect(outs).toEqual(Array.from({ length: 5 }, () => ['partial', '198.18.0.49 403', '198.18.0.50 403']).flat());
  });

  it('the pieces are kept per file: another stream`s lines are read on their own', () => {
    const p = createLineParser('auto');
    const [a1, a2] = pieces(attackInUser('198.18.7.17'));
    expect(who(p(hdr('web') + a1, 'a.log'))).toBe('partial');
    expect(who(p(hdr('web') + `198.18.0.51 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "x"`, 'b.log'))).toBe('198.18.0.51 403');
    expect(who(p(hdr('web') + a2!, 'a.log'))).toBe('198.18.0.43 403');
  });
});
