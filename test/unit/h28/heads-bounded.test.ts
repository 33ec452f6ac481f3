/**
 * H28: a kept head is at most MAX_HEAD_LENGTH + 1 characters (HEAD_KEPT). Cutting it there alone
 * would not leave every outcome the same: a head longer than that (a message whose reason the scanner
 * read in its head, with a quote further on) is asked, when its line is joined, whether it has a
 * quote at all and whether it leaves a quoted field open, and both may lie beyond the cut. So the
 * rest is read once as it comes and only that state is kept (SyslogPiece.beyond).
 *
 * Proved here against the parser as it was (reference-line-parser.ts): hostile sequences of
 * messages, long heads, quotes and backslashes at the cut, must give the same outcome message for
 * message, and the same number of lines waiting; an event's `joined` (evidence) is the same, or the
 * first HEAD_KEPT characters of it when longer. The cut-line tests under test/unit/parse, h26,
 * replay and the fuzz tests pass unchanged as well.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_LENGTH, isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { createLineParser as createReference } from './reference-line-parser.js';
import { rng } from '../../support/random.js';

const HEAD_KEPT = MAX_HEAD_LENGTH + 1;
const T = '02/Dec/2026:10:00:00 +0000';
const hdr = (tag: string): string => `<30>Dec  2 10:00:00 ${tag}[812]: `;


/** The outcome as compared: the skip reason, or the event's fields (its `joined` apart). */
const view = (o: ParseOutcome): string => {
  if (isSkip(o)) return o;
  const { joined: _j, ...rest } = o as typeof o & { joined?: string };
  return JSON.stringify(rest);
};

describe('a kept head cut at MAX_HEAD_LENGTH + 1 characters gives every outcome the whole head gave', () => {
  it('hostile sequences of cut messages: the same outcomes, message for message, as the parser before H28', () => {
    const rand = rng(0x4828);
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]!;
    const SPECIALS = ['"', '\\', '\\\\', '\\"', ' ', '" ', '"-"', '\u00ff', '\\x'];
    /** A message of `length` characters: `start`, then filler with specials, many near the cut. */
    const message = (start: string, length: number): string => {
      const parts: string[] = [start];
      let at = start.length;
      const marks: number[] = [];
      const n = Math.floor(rand() * 5);
      for (let k = 0; k < n; k++) {
        const nearCut = rand() < 0.6;
        marks.push(nearCut ? HEAD_KEPT - 8 + Math.floor(rand() * 16) : start.length + Math.floor(rand() * Math.max(1, length - start.length)));
      }
      marks.sort((x, y) => x - y);
      for (const m of marks) {
        if (m <= at || m >= length) continue;
        parts.push('a'.repeat(m - at));
        const sp = pick(SPECIALS);
        parts.push(sp);
        at = m + sp.length;
      }
      if (length > at) parts.push('a'.repeat(length - at));
      return parts.join('');
    };
    const LENGTHS = [600, 16_384, HEAD_KEPT - 2, HEAD_KEPT, HEAD_KEPT + 1, HEAD_KEPT + 3, 140_000, 180_000, 250_000];
    const STARTS = [
      '198.18.0.9 - - [bad] ',
      `198.18.0.9 - - [${T}] "GET /`,
      `198.18.0.9 - - [${T}] "GET /x HTTP/1.1" `,
      `198.18.0.9 - - [${T}] "GET /x HTTP/1.1" 40`,
      '198.18.0.9 - ',
      `198.18.0.9 - - [${T}] `,
    ];
    const RESTS = [
      () => ` HTTP/1.1" 404 1 "-" "x"`,
      () => `" 403 5 "-" "curl`,
      () => `-" "ua"`,
      () => `x" 200 5 "-" "ua"`,
      () => message('', pick(LENGTHS)),
      () => message(`"`, pick([600, 20_000, 140_000])),
      () => message(' HTTP/1.1" 404 1 "', pick([600, 140_000])),
      () => `198.18.0.77 - - [${T}] "GET / HTTP/1.1" 404 1 "-" "x"`,
      () => 'error: something "quoted" [x]',
      () => '\\',
      () => `"`,
    ];
    let compared = 0;
    let long = 0;
    const t0 = performance.now();
    for (let seq = 0; seq < 500; seq++) {
      const ref = createReference('auto');
      const now = createLineParser('auto');
      const tags = ['t1', 't2'];
      const msgs: string[] = [];
      for (let k = 0; k < 2; k++) msgs.push(hdr(pick(tags)) + message(pick(STARTS), pick(LENGTHS)));
      const more = 2 + Math.floor(rand() * 5);
      for (let k = 0; k < more; k++) msgs.push(hdr(pick(tags)) + (rand() < 0.2 ? message(pick(STARTS), pick(LENGTHS)) : pick(RESTS)()));
      for (const m of msgs) {
        if (m.length > HEAD_KEPT + 40) long++;
        const a = ref(m);
        const b = now(m);
        expect(view(b), `sequence ${seq}`).toBe(view(a));
        if (!isSkip(a) && !isSkip(b)) {
          const ja = (a as { joined?: string }).joined;
          const jb = (b as { joined?: string }).joined;
          expect(jb, `sequence ${seq} joined`).toBe(ja !== undefined && ja.length > HEAD_KEPT ? ja.slice(0, HEAD_KEPT) : ja);
        }
        expect(now.waiting(), `sequence ${seq} waiting`).toBe(ref.waiting());
        compared++;
      }
    }
    console.log(`h28: ${compared} messages compared (${long} longer than the head kept) in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(long).toBeGreaterThan(100);
  }, 120_000);

  it('the case that needs the state beyond the cut: a quote past HEAD_KEPT, then the rest of the line', () => {
    // The reason (a bad time) is read in the head; the request opens past HEAD_KEPT characters.
    const first = `198.18.0.9 - - [bad] ${'a'.repeat(HEAD_KEPT + 10)} "GET /${'b'.repeat(100)}`;
    const msgs = [first, ` HTTP/1.1" 404 1 "-" "a long User-Agent`, 'more of the User-Agent', `198.18.0.77 - - [${T}] "GET / HTTP/1.1" 404 1 "-" "x"`];
    const ref = createReference('auto');
    const now = createLineParser('auto');
    const seen = msgs.map((m) => [view(ref(hdr('t') + m)), view(now(hdr('t') + m))]);
    for (const [a, b] of seen) expect(b).toBe(a);
    // The line's request opened, so its field left open passes the next message over ('partial').
    expect(seen[2]![0]).toBe('partial');
  });
});
