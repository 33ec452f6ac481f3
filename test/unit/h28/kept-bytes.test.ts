/**
 * H28: the lines in progress (syslog lines cut before their status, Docker lines split over records)
 * were bounded in count (1,024 per map, H26) but not in bytes: a cut syslog line that ends before its
 * request opens kept its whole message, up to the 256 KiB line cap, so 1,024 of them held some
 * 500 MB (two bytes a character), and 1,024 Docker streams held 128 K characters each. Any tenant
 * prints those in host mode. Now a kept head is at most MAX_HEAD_LENGTH + 1 characters and both maps
 * share one budget, MAX_KEPT_BYTES (64 MiB; the least recently updated line gives way first).
 *
 * Measured as the heap the parser still holds after a full GC (gc() exposed through V8's flags).
 */
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser, MAX_KEPT_BYTES } from '../../../src/parse/line-parser.js';
import { cpuNow } from '../../support/cpu-time.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const T = '02/Dec/2026:10:00:00 +0000';
const MiB = 1024 * 1024;
const hdr = (tag: string, pri = 30): string => `<${pri}>Dec  2 10:00:00 ${tag}[812]: `;
const who = (o: ParseOutcome): string => (isSkip(o) ? o : `${o.ip} ${o.status}`);
const BIG = 'a'.repeat(250_000);
/** Hostile messages of 250 K characters, each kept as a cut line (no status): before, and after its request. */
const BEFORE = `198.18.0.70 - - [bad] ${BIG}`;
const CLOSED = `198.18.0.70 - - [${T}] "GET /x HTTP/1.1" ${BIG}`;

/** Slack over the budget: the parser's caches, the maps' own nodes, the test's strings. */
const SLACK = 16 * MiB;

describe('syslog cut lines: bounded in bytes', () => {
  it('1,100 tags x 250 K-character cut lines (before and after the request): the heap held stays under the budget, in bounded time', () => {
    let p: ReturnType<typeof createLineParser> | undefined = createLineParser('auto');
    const before = heap();
    const t0 = cpuNow();
    for (let i = 0; i < 1100; i++) expect(p(hdr(`f${i}`) + (i % 2 === 0 ? BEFORE : CLOSED))).toBe('partial');
    const ms = cpuNow() - t0;
    const held = heap() - before;
    const waiting = p.waiting();
    p = undefined;
    console.log(`h28: 1,100 cut lines of 250 K characters in ${ms.toFixed(0)} ms; ${(held / MiB).toFixed(1)} MiB held by ${waiting} lines`);
    expect(held).toBeLessThan(MAX_KEPT_BYTES + SLACK);
    expect(waiting).toBeGreaterThan(200); // the budget holds over two hundred lines of the largest size
    expect(ms).toBeLessThan(20_000);
  }, 60_000);

  it('a victim’s ordinary cut line, after a flood by others that stays under the budget, still joins', () => {
    const p = createLineParser('auto');
    const line = `198.18.0.60 - - [${T}] "GET /${'\\xFF'.repeat(5000)} HTTP/1.1" 403 5 "-" "curl"`;
    expect(p(hdr('victim') + line.slice(0, 16_384))).toBe('partial');
    // 200 lines of the largest size kept (MAX_HEAD_LENGTH + 1 characters): 50 MiB counted, under the budget.
    for (let i = 0; i < 200; i++) expect(p(hdr(`f${i}`) + BEFORE)).toBe('partial');
    expect(p.waiting()).toBe(201);
    expect(who(p(hdr('victim') + line.slice(16_384)))).toBe('198.18.0.60 403');
  });

  it('the budget is shared and least recent first: a flood over it pushes out the oldest line, not the newest', () => {
    const p = createLineParser('auto');
    const line = (ip: string): string => `${ip} - - [${T}] "GET /${'\\xFF'.repeat(5000)} HTTP/1.1" 403 5 "-" "curl"`;
    expect(p(hdr('old') + line('198.18.0.61').slice(0, 16_384))).toBe('partial');
    for (let i = 0; i < 600; i++) expect(p(hdr(`f${i}`) + BEFORE)).toBe('partial');
    expect(p(hdr('new') + line('198.18.0.62').slice(0, 16_384))).toBe('partial');
    expect(p.waiting()).toBeLessThan(300);
    expect(who(p(hdr('new') + line('198.18.0.62').slice(16_384)))).toBe('198.18.0.62 403');
    expect(who(p(hdr('old') + line('198.18.0.61').slice(16_384)))).not.toBe('198.18.0.61 403');
  });
});

/** A line's Docker json-file records, 16 KiB of it each, the newline in the last one. */
const records = (line: string): string[] => {
  const out: string[] = [];
  const all = `${line}\n`;
  for (let i = 0; i < all.length; i += 16_384) out.push(`{"log":${JSON.stringify(all.slice(i, i + 16_384))},"stream":"stdout"}`);
  return out;
};

describe('Docker split lines: bounded in bytes', () => {
  // The status lands in the second record.
  const victim = records(`198.18.0.41 - - [${T}] "GET /${'\\xff'.repeat(6000)} HTTP/1.1" 403 1 "-" "curl"`);

  it('one budget for both maps: a Docker line started before cut syslog lines under the budget still joins; over it, it gives way first', () => {
    expect(victim.length).toBe(2);
    const p = createLineParser('auto');
    expect(p(victim[0]!, '/c/victim-json.log')).toBe('partial');
    for (let i = 0; i < 200; i++) expect(p(hdr(`f${i}`) + BEFORE)).toBe('partial');
    expect(who(p(victim[1]!, '/c/victim-json.log'))).toBe('198.18.0.41 403');
    const q = createLineParser('auto');
    expect(q(victim[0]!, '/c/victim-json.log')).toBe('partial');
    for (let i = 0; i < 300; i++) expect(q(hdr(`f${i}`) + BEFORE)).toBe('partial');
    expect(who(q(victim[1]!, '/c/victim-json.log'))).not.toBe('198.18.0.41 403');
  });

  it('1,100 streams x 8 records of a line not yet decided: the heap held stays under the budget, in bounded time', () => {
    // Cut in its user field: the status is never in the head, each line keeps MAX_HEAD_LENGTH characters.
    const recs = records(`198.18.0.42 - ${'\u00e9'.repeat(200_000)} [${T}] "GET / HTTP/1.1" 404 1 "-" "curl"`).slice(0, 8);
    // Each record a string of its own, as the tailer reads it (a shared one would be shared by every head).
    const own = (r: string): string => Buffer.from(r, 'utf8').toString('utf8');
    let p: ReturnType<typeof createLineParser> | undefined = createLineParser('auto');
    const before = heap();
    const t0 = cpuNow();
    for (let i = 0; i < 1100; i++) for (const r of recs) expect(p(own(r), `/c/${i}-json.log`)).toBe('partial');
    const ms = cpuNow() - t0;
    const held = heap() - before;
    // The parser is still used after the measure (an unused one could be collected before it).
    expect(who(p(own(recs[0]!), `/c/${1099}-json.log`))).toBe('too-long');
    p = undefined;
    console.log(`h28: 1,100 Docker streams x 8 records in ${ms.toFixed(0)} ms; ${(held / MiB).toFixed(1)} MiB held`);
    expect(held).toBeLessThan(MAX_KEPT_BYTES + SLACK);
    expect(ms).toBeLessThan(30_000);
  }, 90_000);
});
