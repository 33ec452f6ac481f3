/**
 * Review H50 (cb7c8a0, 4cc27b1): the Docker json-file decode (unwrapDockerJsonHead) against the
 * one-escape-at-a-time decode it replaced, written out here, at the limits where its new paths part:
 * a closed string exactly maxChars long in its JSON text (one native parse) or one longer (the
 * counting loop), its decoded text maxChars or maxChars + 1 long, cut records, Latin-1 text (replay)
 * and strings past 16 escaped quotes (findQuote's forward read). Then whole lines: a Docker record
 * parses to what its plain line parses to.
 */
import { describe, expect, it } from 'vitest';
import { isSkip } from '../../../src/parse/access-event.js';
import { unwrapDockerJsonHead } from '../../../src/parse/docker-json.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { referenceDecode, referenceFindQuote } from '../../support/docker-json-reference.js';
import { intRng as prng } from '../../support/random.js';

describe('unwrapDockerJsonHead at its limits', () => {
  it('gives what the old decode gave at maxChars around the JSON and the decoded length, closed, cut, Latin-1', () => {
    const rnd = prng(50);
    const pieces = ['a', 'é', '\u00ff', '\ud800', '\ufeff', '\u2028', '\\"', '\\\\', '\\/', '\\n', '\\r', '\\u0041', '\\u00E9', '\\udc00', '\\\\\\"', '\\"x\\"', '\\u12', '\\q', '\u0001', '\\'];
    let checked = 0;
    let wholeParsed = 0;
    for (let round = 0; round < 2500; round++) {
      // Mostly well-formed; now and then a bad piece (the last five).
      const bad = rnd(4) === 0;
      const body = Array.from({ length: rnd(bad ? 12 : 40) }, () => pieces[rnd(bad ? pieces.length : pieces.length - 5)]!).join('');
      const tail = ['","stream":"stdout"}', '"}', '"', '', '\\', '\\u00', '"x'][rnd(7)]!;
      const record = `{"log":"${body}${rnd(3) === 0 ? '\\n' : ''}${tail}`;
      const close = referenceFindQuote(record, 8);
      if (close >= 0 && !(record[close + 1] === ',' || record[close + 1] === '}' || close + 1 === record.length)) continue;
      const to = close < 0 ? record.length : close;
      const decodedLength = referenceDecode(record, 8, to, 1 << 20)?.text.length ?? 0;
      const limits = new Set([0, 1, to - 8 - 1, to - 8, to - 8 + 1, decodedLength - 1, decodedLength, decodedLength + 1].filter((m) => m >= 0));
      for (const maxChars of limits) {
        for (const latin1 of [false, true]) {
          const got = unwrapDockerJsonHead(record, maxChars, latin1);
          const want = referenceDecode(record, 8, to, maxChars);
          const g = got === null ? null : { text: got.text, cut: got.cut };
          if (JSON.stringify(g) !== JSON.stringify(want)) expect(g, JSON.stringify([record, maxChars, latin1])).toEqual(want);
          if (want !== null && !want.cut && close >= 0 && to - 8 <= maxChars) wholeParsed++;
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20_000);
    expect(wholeParsed).toBeGreaterThan(3_000);
  });

  it('a Docker record parses to the event its plain line parses to, past 16 escaped quotes too', () => {
    const rnd = prng(51);
    const frags = ['a', '/', '\\', '\\"', '\\\\"', ' ', '%22', 'é', '\\x41', '\\"x\\"'.repeat(20), '\\'.repeat(7), '\ufeff', 'x'.repeat(200)];
    const field = (n: number): string => Array.from({ length: rnd(n) }, () => frags[rnd(frags.length)]!).join('');
    let events = 0;
    // (Every record ends its line: a parser keeps nothing from one to the next.)
    const parsePlain = createLineParser('auto');
    const parseWrapped = createLineParser('auto');
    for (let round = 0; round < 1500; round++) {
      const line = `198.18.${rnd(2)}.${rnd(255)} - - [07/Dec/2026:00:00:00 +0000] "GET /${field(rnd(8) === 0 ? 60 : 12)} HTTP/1.1" ${[404, 403, 200][rnd(3)]} 5 "${field(4)}" "${field(rnd(8) === 0 ? 40 : 6)}"`;
      const record = JSON.stringify({ log: `${line}\n`, stream: 'stdout', time: '2026-12-07T00:00:00.000000000Z' });
      const plain = parsePlain(line);
      const wrapped = parseWrapped(record);
      if (isSkip(plain) || isSkip(wrapped)) {
        expect(wrapped, line).toBe(plain);
        continue;
      }
      expect([wrapped.ip, wrapped.status, wrapped.path, wrapped.method], line).toEqual([plain.ip, plain.status, plain.path, plain.method]);
      events++;
    }
    expect(events).toBeGreaterThan(400);
  });
});
