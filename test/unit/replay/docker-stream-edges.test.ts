/**
 * Host mode / replay: a span edge of a parallel replay must not fall inside a Docker line
 * split over json-file records when a record of the container's *other* stream stands between the
 * pieces. Docker copies stdout and stderr in two goroutines, so a stderr record can come between the
 * 16 KiB pieces of a stdout line; the parser (line-parser.ts) keys split lines per stream and joins
 * them across it, but lineEdge() (scan-span.ts) looked only at the one line before an edge and
 * walked a chain only while its lines were partial, whatever their stream.
 *
 * Spans are scanned here on this thread with the sources' scanSpan (as a worker would), so no build
 * is needed; the single-threaded replay reads the whole file as one span.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { scanSpan, type SpanJob } from '../../../src/replay/scan-span.js';
import { splitSpans } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-rp-stream-edge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 'unit' });
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const access = (ip: string, status: number, path: string, ua = 'curl') => `${ip} - - [${clf(T0)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "${ua}"`;
const rec = (log: string, stream: 'stdout' | 'stderr') => JSON.stringify({ log, stream, time: '2026-12-02T10:00:00.000000000Z' });

/** The matching events (address list) of the file: whole (one thread), or span by span. */
async function events(path: string, spans: { from: number; to: number }[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of spans) {
    const job: SpanJob = { path, ...s, format: config.log.format, trustedProxies: config.trustedProxies, rules: [['forbidden', { ...config.rules.forbidden!, enabled: true }]] };
    const r = await scanSpan(job);
    for (let e = 0; e < r.count; e++) out.push(r.ips[r.ipIds[e]!]!);
  }
  return out;
}

/**
 * Prefix lines, a stdout line Docker split in two (first piece, then a stderr record, then the last
 * piece), suffix lines; the stderr record is long, so that the middle of the file falls in it and a
 * two-way split cuts right after it, at the last piece.
 */
function build(name: string, firstPiece: string, lastPiece: string, stderrFirst = true): string {
  const pre = Array.from({ length: 20 }, (_, i) => rec(`${access('198.18.1.1', 200, `/a${i}`)}\n`, 'stdout'));
  const post = Array.from({ length: 20 }, (_, i) => rec(`${access('198.18.1.2', 200, `/b${i}`)}\n`, 'stdout'));
  const err = rec(`[error] AH00128: ${'x'.repeat(60_000)}\n`, 'stderr');
  const mid = stderrFirst ? [rec(firstPiece, 'stdout'), err, rec(lastPiece, 'stdout')] : [err, rec(firstPiece, 'stdout'), rec(lastPiece, 'stdout')];
  const p = join(dir, name);
  writeFileSync(p, [...pre, ...mid, ...post].join('\n') + '\n');
  return p;
}

describe('replay span edges and Docker lines split across an interleaved stderr record', () => {
  it('a forged access line at the start of the last piece is never counted, on 1 or 2 spans', async () => {
    // A long User-Agent pushed to 16 KiB; its rest begins with a whole access line of 198.18.7.7.
    const head = access('198.18.1.3', 200, '/long', 'X').slice(0, -1);
    const first = (head + 'A'.repeat(16384)).slice(0, 16384);
    const last = `${access('198.18.7.7', 403, '/forged')} tail"\n`;
    const path = build('forged.log', first, last);
    const spans = splitSpans(path, 2);
    expect(spans.length).toBe(2);
    const whole = await events(path, [{ from: 0, to: Number.POSITIVE_INFINITY }]);
    expect(whole).not.toContain('198.18.7.7');
    expect(await events(path, spans)).toEqual(whole);
  });

  it('a 403 whose status is in the last piece (a request longer than 16 KiB) counts on 2 spans as on 1', async () => {
    const line = `${access('198.18.1.4', 403, `/${'p'.repeat(20_000)}`)}\n`;
    const path = build('long-request.log', line.slice(0, 16384), line.slice(16384));
    const spans = splitSpans(path, 2);
    const whole = await events(path, [{ from: 0, to: Number.POSITIVE_INFINITY }]);
    expect(whole).toContain('198.18.1.4');
    expect(await events(path, spans)).toEqual(whole);
  });

  it('explicit edges a span may be given (just after the first piece, just after the stderr record) agree with one span', async () => {
    const head = access('198.18.1.3', 200, '/long', 'X').slice(0, -1);
    const first = (head + 'A'.repeat(16384)).slice(0, 16384);
    const last = `${access('198.18.7.7', 403, '/forged')} tail"\n`;
    const path = build('edges.log', first, last);
    const size = statSync(path).size;
    const whole = await events(path, [{ from: 0, to: Number.POSITIVE_INFINITY }]);
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(path, 'latin1');
    let at = 0;
    for (let n = 0; n < 20; n++) at = text.indexOf('\n', at) + 1; // after the prefix
    const afterFirst = text.indexOf('\n', at) + 1;
    const afterErr = text.indexOf('\n', afterFirst) + 1;
    for (const cut of [afterFirst, afterErr]) {
      expect(await events(path, [{ from: 0, to: cut }, { from: cut, to: size }]), `cut at ${cut}`).toEqual(whole);
    }
  });
});

describe('seeded: Docker logs with interleaved streams and split lines, cut at random line starts', () => {
  it('every two-span cut and every splitSpans(n) gives the events of one span', async () => {
    const { rng } = await import('../../support/random.js');
    const { readFileSync } = await import('node:fs');
    const started = Date.now();
    for (let seed = 1; seed <= 4 && Date.now() - started < 10_000; seed++) {
      const r = rng(seed);
      const out: string[] = [];
      /** Pieces of split lines still to be written, per stream. */
      const pending: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] };
      for (let i = 0; i < 160; i++) {
        const stream = r() < 0.6 ? 'stdout' : 'stderr';
        if (pending[stream].length > 0) {
          out.push(rec(pending[stream].shift()!, stream));
          continue;
        }
        const ip = `198.18.2.${1 + Math.floor(r() * 5)}`;
        const x = r();
        if (x < 0.3) {
          // A line over 16 KiB: a forged line of 198.18.7.7 at the start of a later piece, or the status there.
          const text =
            r() < 0.5
              ? (access(ip, 403, '/long', 'X').slice(0, -1) + 'A'.repeat(20_000)).slice(0, 16384) + `${access('198.18.7.7', 403, '/forged')} "\n`
              : `${access(ip, 403, `/${'p'.repeat(16_500 + Math.floor(r() * 20_000))}`)}\n`;
          const pieces: string[] = [];
          for (let at = 0; at < text.length; at += 16384) pieces.push(text.slice(at, at + 16384));
          out.push(rec(pieces.shift()!, stream));
          pending[stream] = pieces;
        } else {
          out.push(rec(`${access(ip, r() < 0.7 ? 403 : 200, `/q${i}`)}\n`, stream));
        }
      }
      for (const s of ['stdout', 'stderr'] as const) for (const piece of pending[s]) out.push(rec(piece, s));
      const path = join(dir, `seeded-${seed}.log`);
      writeFileSync(path, out.join('\n') + '\n');
      const size = statSync(path).size;
      const whole = await events(path, [{ from: 0, to: Number.POSITIVE_INFINITY }]);
      expect(whole).not.toContain('198.18.7.7');
      const text = readFileSync(path, 'latin1');
      const starts: number[] = [];
      for (let at = text.indexOf('\n') + 1; at > 0 && at < size; at = text.indexOf('\n', at) + 1) starts.push(at);
      for (let k = 0; k < 25; k++) {
        const cut = starts[Math.floor(r() * starts.length)]!;
        expect(await events(path, [{ from: 0, to: cut }, { from: cut, to: size }]), `seed ${seed}, cut at ${cut}`).toEqual(whole);
      }
      for (const n of [2, 3, 5, 8]) expect(await events(path, splitSpans(path, n)), `seed ${seed}, ${n} spans`).toEqual(whole);
    }
  });
});
