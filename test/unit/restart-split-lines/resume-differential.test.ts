/**
 * LineParser.resume as an attacker sees it: whatever the log holds before a restart (split lines of
 * both Docker streams whose rests forge lines naming a victim, syslog lines cut before their status,
 * ordinary lines) and wherever the restart falls, a parser resumed with the window before the
 * position gives, for the lines after it, only events that a parser reading the file without a stop
 * gives for the same lines (never one for an address the line does not name for that parser), and
 * every one of them but those of lines in progress at the position. Seeded.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { rng } from '../../support/random.js';
import { clf } from '../../support/clf.js';

const PIECE = 16 * 1024;
const T = Date.UTC(2026, 11, 7, 10, 0, 0);
const plain = (ip: string): string => `${ip} - - [${clf(T)}] "GET /private HTTP/1.1" 403 5 "-" "curl/8"`;
const record = (log: string, stream: string): string => JSON.stringify({ log, stream, time: new Date(T).toISOString() });
const syslog = (msg: string): string => `<30>Dec  7 10:00:00 web[812]: ${msg}`;
/** A client's line whose user field pushes a forged line naming `victim` past the 16 KiB cut. */
const forged = (client: string, victim: string): string => {
  const start = `${client} - `;
  const head = (start + '\\xFF'.repeat(Math.ceil((PIECE - start.length) / 4))).slice(0, PIECE);
  return `${head}${victim} - - [${clf(T)}] "GET /private HTTP/1.1" 403 5 "-" "curl"`;
};
const cut = (text: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += PIECE) out.push(text.slice(i, i + PIECE));
  return out;
};

/** A log of `n` entries (one or several lines each), Docker json-file or syslog. */
function log(r: () => number, n: number, docker: boolean): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const client = `198.18.1.${1 + Math.floor(r() * 200)}`;
    const stream = r() < 0.7 ? 'stdout' : 'stderr';
    const text = r() < 0.3 ? forged(client, `198.18.7.${1 + Math.floor(r() * 200)}`) : plain(client);
    if (docker) lines.push(...cut(`${text}\n`).map((p) => record(p, stream)));
    else lines.push(...cut(text).map(syslog));
  }
  return lines;
}

const ipOf = (o: ReturnType<ReturnType<typeof createLineParser>>): string | null => (isSkip(o) ? null : o.ip);

describe('LineParser.resume: a restart anywhere never makes a line count for another address', () => {
  for (const docker of [true, false]) {
    it(`${docker ? 'Docker json-file' : 'syslog'}: 300 seeded logs and restart positions`, () => {
      const r = rng(docker ? 4681 : 4682);
      let lost = 0;
      let kept = 0;
      for (let k = 0; k < 300; k++) {
        const lines = log(r, 4 + Math.floor(r() * 12), docker);
        const at = 1 + Math.floor(r() * (lines.length - 1));
        const window = Math.floor(r() * 4); // 0: the whole file before; else only the last 1-3 lines
        const whole = createLineParser('auto');
        const expected = lines.map((l) => ipOf(whole(l, '/f')));
        const resumed = createLineParser('auto');
        resumed.resume(window === 0 ? lines.slice(0, at) : lines.slice(Math.max(0, at - window), at), '/f');
        for (let i = at; i < lines.length; i++) {
          const got = ipOf(resumed(lines[i]!, '/f'));
          // An event only where the parser without a stop has the very same one.
          if (got !== null) expect({ k, i, got }).toEqual({ k, i, got: expected[i] });
          if (expected[i] !== null) {
            if (got === null) lost++;
            else kept++;
          }
        }
      }
      // Only lines in progress at the restart are lost; the rest count.
      expect(kept).toBeGreaterThan(10 * lost);
    });
  }
});
