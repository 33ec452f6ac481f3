/**
 * H26: the lines in progress (Docker lines split over records, syslog lines cut before their status)
 * are bounded at MAX_CONTINUED_STREAMS (1,024) keys per map. The bound used to clear the whole map,
 * so anyone who can start 1,024 keys (in host mode a tenant names its syslog tags freely) wiped
 * another tenant's line in progress: its rest was then read alone (lost, or read wrong). Now the
 * least recently started/updated entry gives way, one at a time.
 */
import { describe, expect, it } from 'vitest';
import { isSkip, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { cpuNow } from '../../support/cpu-time.js';

const T = '02/Dec/2026:10:00:00 +0000';
const PIECE = 16 * 1024;
const BOUND = 1024;
const hdr = (tag: string, pri = 30): string => `<${pri}>Dec  2 10:00:00 ${tag}[812]: `;
const split = (line: string, size = PIECE): string[] => {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += size) out.push(line.slice(i, i + size));
  return out;
};
const who = (o: ParseOutcome): string => (isSkip(o) ? o : `${o.ip} ${o.status}`);

/** A victim's line cut in its request: two 16 KiB syslog messages, the status in the second. */
const VICTIM = split(`198.18.0.60 - - [${T}] "GET /${'\\xFF'.repeat(5000)} HTTP/1.1" 403 5 "-" "curl"`);
/** A victim's line cut twice: three messages, the middle one more of the request. */
const VICTIM3 = split(`198.18.0.61 - - [${T}] "GET /${'\\xFF'.repeat(9000)} HTTP/1.1" 403 5 "-" "curl"`);
/** A flood message: a cut line (its request never closes) of ~500 characters, kept as waiting. */
const FLOOD = `198.18.0.70 - - [${T}] "GET /${'a'.repeat(450)}`;
const flood = (p: ReturnType<typeof createLineParser>, from: number, n: number): void => {
  for (let i = from; i < from + n; i++) expect(p(hdr(`f${i}`) + FLOOD)).toBe('partial');
};

describe('syslog cut lines: a flood of keys evicts one entry at a time, never the whole map', () => {
  it('the map of cut lines is full before the victim, then 1,023 keys come after it: the victim still joins', () => {
    expect(VICTIM.length).toBe(2);
    const p = createLineParser('auto');
    flood(p, 0, 500); // older keys already waiting (stale lines of other tags)
    expect(p(hdr('victim') + VICTIM[0])).toBe('partial');
    flood(p, 500, BOUND - 1);
    expect(who(p(hdr('victim') + VICTIM[1]))).toBe('198.18.0.60 403');
    expect(p.waiting()).toBe(BOUND - 1);
  });

  it('one more key after those 1,023 pushes the victim out (the bound is exact, least recent first)', () => {
    const p = createLineParser('auto');
    flood(p, 0, 500);
    expect(p(hdr('victim') + VICTIM[0])).toBe('partial');
    flood(p, 500, BOUND);
    expect(p.waiting()).toBe(BOUND);
    expect(who(p(hdr('victim') + VICTIM[1]))).not.toBe('198.18.0.60 403');
  });

  it('a cut line that was updated (its middle piece came) counts as recent: 2 x 1,000 keys around it do not push it out', () => {
    expect(VICTIM3.length).toBe(3);
    const p = createLineParser('auto');
    expect(p(hdr('victim') + VICTIM3[0])).toBe('partial');
    flood(p, 0, 1000);
    expect(p(hdr('victim') + VICTIM3[1])).toBe('partial');
    flood(p, 1000, 1000);
    expect(who(p(hdr('victim') + VICTIM3[2]))).toBe('198.18.0.61 403');
  });

  it('a 100,000-key flood: the map never holds more than 1,024 lines, in bounded time; the newest 1,024 are kept', () => {
    const p = createLineParser('auto');
    const n = 100_000;
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const t0 = cpuNow();
    let most = 0;
    for (let i = 0; i < n; i++) {
      p(hdr(`f${i}`) + FLOOD);
      if (i % 97 === 0) most = Math.max(most, p.waiting());
    }
    const ms = cpuNow() - t0;
    most = Math.max(most, p.waiting());
    expect(most).toBe(BOUND);
    // The oldest key kept is exactly the 1,024th from the end: its rest (a closing quote and a status) joins.
    const rest = ` HTTP/1.1" 404 1 "-" "x"`;
    expect(who(p(hdr(`f${n - BOUND}`) + rest))).toBe('198.18.0.70 404');
    expect(who(p(hdr(`f${n - BOUND - 1}`) + rest))).not.toBe('198.18.0.70 404');
    console.log(`h26: 100,000 cut-line keys in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(20_000);
  }, 60_000);
});

/** A line's Docker json-file records, 16 KiB of it each, the newline in the last one. */
const records = (line: string): string[] => {
  const out: string[] = [];
  const all = `${line}\n`;
  for (let i = 0; i < all.length; i += PIECE) out.push(`{"log":${JSON.stringify(all.slice(i, i + PIECE))},"stream":"stdout"}`);
  return out;
};

describe('Docker split lines: a flood of streams evicts one entry at a time, never the whole map', () => {
  // The status lands in the second record.
  const victim = records(`198.18.0.41 - - [${T}] "GET /${'\\xff'.repeat(6000)} HTTP/1.1" 403 1 "-" "curl"`);
  const other = records(`198.18.0.42 - - [${T}] "GET /${'b'.repeat(20_000)} HTTP/1.1" 404 1 "-" "curl"`);
  const start = (p: ReturnType<typeof createLineParser>, from: number, n: number): void => {
    for (let i = from; i < from + n; i++) expect(p(other[0]!, `/c/${i}-json.log`)).toBe('partial');
  };

  it('1,023 streams started after the victim, more before it: the victim line still joins', () => {
    expect(victim.length).toBe(2);
    const p = createLineParser('auto');
    start(p, 0, 500);
    expect(p(victim[0]!, '/c/victim-json.log')).toBe('partial');
    start(p, 500, BOUND - 1);
    expect(who(p(victim[1]!, '/c/victim-json.log'))).toBe('198.18.0.41 403');
  });

  it('a 10,000-stream flood keeps exactly the newest 1,024, in bounded time', () => {
    const p = createLineParser('auto');
    const n = 10_000;
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const t0 = cpuNow();
    for (let i = 0; i < n; i++) p(other[0]!, `/c/${i}-json.log`);
    const ms = cpuNow() - t0;
    expect(who(p(other[1]!, `/c/${n - BOUND}-json.log`))).toBe('198.18.0.42 404');
    expect(who(p(other[1]!, `/c/${n - BOUND - 1}-json.log`))).not.toBe('198.18.0.42 404');
    console.log(`h26: 10,000 Docker split-line streams in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(20_000);
  }, 60_000);
});
