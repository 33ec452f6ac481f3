/**
 * Review H53: a host-led line whose first fields the client wrote with spaces in them
 * (`$host $remote_addr - …` from nginx before 1.21.1, which writes a Host header's spaces into
 * $host; `$http_x_forwarded_for $remote_addr - …`, read by `auto`) holds the real peer followed
 * by ` - ` among the words before the time, and is refused ('bad-forwarded'). The refusal looked
 * only at lines whose first word reads as a host name: `Host: x 198.18.0.9 -` was refused, but
 * `Host: x! 198.18.0.9 -` (or `<x`, `x*`, a list `a, b`) counted for 198.18.0.9.
 *
 * The invariant: in `nginx-host-combined` and `auto`, whatever the client's first field holds, a
 * line never counts for an address other than the peer (a refusal is the documented price).
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import type { ParseOutcome } from '../../../src/parse/access-event.js';
import { intRng } from '../../support/random.js';

const PEER = '198.18.0.7';
const rest = ` ${PEER} - - [07/Dec/2026:11:04:51 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "curl/8.5"`;

/** Characters nginx lets through in a Host header (before 1.21.1 spaces too), lower-cased and log-escaped. */
const HOST_CHARS = 'abcxyz0129.-_!$&\'()*+;=<>{}[]|~^`@%,';

function said(out: ParseOutcome): string {
  return typeof out === 'string' ? out : `${out.ip} ${out.status}`;
}

/** First words a client may write: a token of HOST_CHARS (never empty, never starting with a digit: that is an address's start). */
function firstWords(seed: number, n: number): string[] {
  const pick = intRng(seed);
  const out = ['x', 'x!', '<x', 'x*', 'a, b', 'a,', '{x}', '[x', 'x]', '*'];
  while (out.length < n) {
    let w = '';
    const len = 1 + pick(8);
    for (let i = 0; i < len; i++) w += HOST_CHARS[pick(HOST_CHARS.length)];
    if (/^[0-9]/.test(w) || w.startsWith('-')) continue;
    out.push(w);
  }
  return out;
}

describe('a host-led line whose first word the client wrote, spaces after it', () => {
  for (const format of ['nginx-host-combined', 'auto'] as const) {
    it(`${format}: never counts for the address the client put there, whatever its first word`, () => {
      const parse = createLineParser(format);
      const tails = ['198.18.0.9 -', '198.18.0.9 - y', '198.18.0.9 - - y', 'y 198.18.0.9 -', '2001:db8::9 -', '[2001:db8::9]:80 -'];
      let n = 0;
      for (const word of firstWords(53, 300)) {
        for (const tail of tails) {
          const line = `${word} ${tail}${rest}`;
          const got = said(parse(line, '/l'));
          if (/^[0-9a-f:]+ \d+$/.test(got) && got !== `${PEER} 404`) expect.fail(`${format}: ${line}\n  counted as ${got}`);
          n++;
        }
      }
      expect(n).toBe(300 * tails.length);
    });
  }

  it('control: the same first words without spaces after them count for the peer; apache-host-combined reads the user field as declared', () => {
    const nginx = createLineParser('nginx-host-combined');
    const auto = createLineParser('auto');
    for (const word of firstWords(54, 200)) {
      if (word.includes(',')) continue; // a list in auto: walked, not a host
      expect(said(nginx(`${word}${rest}`, '/l')), word).toBe(`${PEER} 404`);
      expect(said(auto(`${word}${rest}`, '/l')), word).toBe(`${PEER} 404`);
    }
    // Apache never writes a space into %v or %V: what follows ` - ` is %u, the client's own (README).
    expect(said(createLineParser('apache-host-combined')(`x! 198.18.0.9 -${rest}`, '/l'))).toBe('198.18.0.9 404');
  });
});
