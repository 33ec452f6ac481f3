import { describe, expect, it } from 'vitest';
import {
  EVIDENCE_LINE_OVERHEAD,
  EXTRA_EVIDENCE_LINES,
  EvidenceKeeper,
  MAX_EVIDENCE_LINE_CHARS,
  MAX_EVIDENCE_LINES,
  evidenceLine,
  evidenceText,
  linesPerBan,
  restoreEvidence,
} from '../../../src/decide/evidence.js';

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const line = (ip: string, n: number, pad = 0) => `${ip} - - [02/Dec/2026:12:00:${String(n % 60).padStart(2, '0')} +0000] "GET /forbidden/${n} HTTP/1.1" 403 199 "-" "${'A'.repeat(pad)}"`;

describe('evidence lines', () => {
  it('keeps a short line as written', () => {
    const l = line('198.18.0.7', 1);
    expect(evidenceText(l)).toBe(l);
    expect(evidenceLine(l, T0, '/var/log/apache2/access.log')).toEqual({ line: l, file: '/var/log/apache2/access.log', at: T0 });
    expect(evidenceLine(l, T0)).toEqual({ line: l, at: T0 });
  });

  it('cuts a long line at MAX_EVIDENCE_LINE_CHARS and says how much was cut', () => {
    const l = line('198.18.0.7', 1, 8192);
    const t = evidenceText(l);
    expect(t.startsWith(l.slice(0, MAX_EVIDENCE_LINE_CHARS))).toBe(true);
    expect(t.endsWith(`… [${l.length - MAX_EVIDENCE_LINE_CHARS} more chars]`)).toBe(true);
    expect(t.length).toBeLessThan(MAX_EVIDENCE_LINE_CHARS + 40);
    // exactly at the limit: nothing cut, no marker
    const exact = 'x'.repeat(MAX_EVIDENCE_LINE_CHARS);
    expect(evidenceText(exact)).toBe(exact);
  });

  it('escapes control characters, so a line cannot drive a terminal or split a mail body', () => {
    const t = evidenceText('198.18.0.7 - - "GET /\x1b[2J\x1b]0;pwned\x07 HTTP/1.1" 403\r\nforged line\x00\x7f\x9b');
    expect(t).toBe('198.18.0.7 - - "GET /\\x1b[2J\\x1b]0;pwned\\x07 HTTP/1.1" 403\\x0d\\x0aforged line\\x00\\x7f\\x9b');
    expect(t).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    // escaping never makes the text longer than the limit plus the marker
    expect(evidenceText('\x1b'.repeat(5000)).length).toBeLessThan(MAX_EVIDENCE_LINE_CHARS + 40);
  });

  it('keeps maxretry lines per ban, at most MAX_EVIDENCE_LINES, plus a few', () => {
    expect(linesPerBan(1)).toBe(1 + EXTRA_EVIDENCE_LINES);
    expect(linesPerBan(5)).toBe(5 + EXTRA_EVIDENCE_LINES);
    expect(linesPerBan(1_000_000)).toBe(MAX_EVIDENCE_LINES + EXTRA_EVIDENCE_LINES);
    expect(linesPerBan(Number.NaN)).toBe(1 + EXTRA_EVIDENCE_LINES);
  });

  it('restores only well-formed lines from a state file, cut and escaped again', () => {
    const ok = { line: 'a line', file: '/f', at: T0 };
    const got = restoreEvidence([
      ok,
      null,
      'a string',
      { line: 5, at: T0 },
      { line: 'no time' },
      { line: 'bad time', at: Number.POSITIVE_INFINITY },
      { line: 'far time', at: 9e15 },
      { line: 'x'.repeat(1 << 20), at: T0 },
      { line: 'ctl\x1b[31m', at: T0, file: 7 },
      { line: 'proto', at: T0, __proto__: { polluted: true } },
    ]);
    expect(got![0]).toEqual(ok);
    expect(got![1]!.line.length).toBeLessThan(MAX_EVIDENCE_LINE_CHARS + 80);
    expect(got![2]).toEqual({ line: 'ctl\\x1b[31m', at: T0 });
    expect(got).toHaveLength(4);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(restoreEvidence('nope')).toBeUndefined();
    expect(restoreEvidence([])).toBeUndefined();
    // a huge list keeps only the newest lines
    const many = restoreEvidence(Array.from({ length: 10_000 }, (_, i) => ({ line: `l${i}`, at: T0 + i })))!;
    expect(many).toHaveLength(MAX_EVIDENCE_LINES + EXTRA_EVIDENCE_LINES);
    expect(many.at(-1)!.line).toBe('l9999');
  });
});

describe('EvidenceKeeper', () => {
  it('keeps the newest `cap` lines per (rule, address, scope), oldest first, and hands them over once', () => {
    const k = new EvidenceKeeper();
    for (let i = 0; i < 12; i++) k.record('forbidden', '198.18.0.7', undefined, 8, line('198.18.0.7', i), T0 + i * 1000, '/log', 60_000);
    k.record('forbidden', '198.18.0.7', 'c1', 8, line('198.18.0.7', 99), T0, '/log', 60_000);
    k.record('not-found', '198.18.0.7', undefined, 8, line('198.18.0.7', 98), T0, '/log', 60_000);
    const got = k.take('forbidden', '198.18.0.7', undefined, T0 - 60_000);
    expect(got.map((l) => l.line)).toEqual([4, 5, 6, 7, 8, 9, 10, 11].map((i) => line('198.18.0.7', i)));
    expect(got.every((l) => l.file === '/log')).toBe(true);
    expect(k.take('forbidden', '198.18.0.7', undefined, 0)).toEqual([]); // taken: the window was emptied
    // other scopes and rules are untouched
    expect(k.pending('198.18.0.7').map((p) => [p.rule, p.scope ?? null, p.lines.length])).toEqual([
      ['forbidden', 'c1', 1],
      ['not-found', null, 1],
    ]);
  });

  it('hands over only the lines inside the window, and drops older ones as new ones come', () => {
    const k = new EvidenceKeeper();
    k.record('forbidden', '198.18.0.8', undefined, 10, 'old', T0, undefined, 60_000);
    k.record('forbidden', '198.18.0.8', undefined, 10, 'newer', T0 + 30_000, undefined, 60_000);
    k.record('forbidden', '198.18.0.8', undefined, 10, 'newest', T0 + 80_000, undefined, 60_000);
    expect(k.pending('198.18.0.8')[0]!.lines.map((l) => l.line)).toEqual(['newer', 'newest']);
    expect(k.take('forbidden', '198.18.0.8', undefined, T0 + 31_000).map((l) => l.line)).toEqual(['newest']);
  });

  it('keeps lines in order when old ones leave the window and the ring grows again', () => {
    const k = new EvidenceKeeper();
    const rec = (name: string, at: number, _since: number) => k.record('forbidden', '198.18.0.30', undefined, 4, name, at, undefined, 60);
    rec('l1', 0, -60);
    rec('l2', 10, -50);
    rec('l3', 100, 5); // l1 leaves the window
    rec('l4', 101, 5);
    rec('l5', 102, 5);
    rec('l6', 103, 5); // full at 4: l2 goes
    expect(k.pending('198.18.0.30')[0]!.lines.map((l) => l.line)).toEqual(['l3', 'l4', 'l5', 'l6']);
    rec('l7', 200, 101); // l3 and l4 leave the window
    rec('l8', 201, 101);
    rec('l9', 202, 101); // full again: l5 goes
    expect(k.take('forbidden', '198.18.0.30', undefined, 0).map((l) => l.line)).toEqual(['l6', 'l7', 'l8', 'l9']);
    expect(k.bytes).toBe(0);
  });

  it('stays within its byte budget whatever the flood: 100,000 addresses with 8 KiB lines', () => {
    const budget = 1 << 20;
    const k = new EvidenceKeeper(budget);
    const big = 'G'.repeat(8192);
    let peak = 0;
    for (let i = 0; i < 100_000; i++) {
      const ip = `2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
      k.record('forbidden', ip, undefined, 8, `${ip} - - [02/Dec/2026:12:00:00 +0000] "GET /${big} HTTP/1.1" 403 1`, T0, '/log', 60_000);
      peak = Math.max(peak, k.bytes);
    }
    expect(peak).toBeLessThanOrEqual(budget);
    // each line was cut (1,000 chars + marker), so about budget / ~1.2 KB rings remain: the most recent ones
    expect(k.size).toBeGreaterThan(500);
    expect(k.size).toBeLessThan(budget / (MAX_EVIDENCE_LINE_CHARS + EVIDENCE_LINE_OVERHEAD) + 1);
    expect(k.evicted).toBe(100_000 - k.size);
    expect(k.pending('2001:db8::1:869f')).toHaveLength(1); // the last address (i = 99,999)
    expect(k.pending('2001:db8::0:0')).toHaveLength(0);
  });

  it('a failing address stays: the least recently failing ones go first', () => {
    const k = new EvidenceKeeper(12_000);
    const fill = 'F'.repeat(900);
    k.record('forbidden', '198.18.1.1', undefined, 3, fill, T0, undefined, 60_000);
    for (let i = 0; i < 30; i++) {
      k.record('forbidden', `198.18.2.${i}`, undefined, 3, fill, T0, undefined, 60_000);
      k.record('forbidden', '198.18.1.1', undefined, 3, fill, T0 + i, undefined, 60_000); // keeps failing
    }
    expect(k.pending('198.18.1.1')).toHaveLength(1);
    expect(k.pending('198.18.2.0')).toHaveLength(0);
    expect(k.bytes).toBeLessThanOrEqual(12_000);
  });

  it('forget() drops an address in one scope; sweep() drops windows that ran out and rules that stopped', () => {
    const k = new EvidenceKeeper();
    k.record('forbidden', '198.18.0.9', undefined, 5, 'a', T0, undefined, 60_000);
    k.record('not-found', '198.18.0.9', undefined, 5, 'b', T0, undefined, 60_000);
    k.record('forbidden', '198.18.0.9', 'c1', 5, 'c', T0, undefined, 60_000);
    k.forget('198.18.0.9', undefined, ['forbidden', 'not-found']);
    expect(k.pending('198.18.0.9').map((p) => p.scope)).toEqual(['c1']);
    k.record('forbidden', '198.18.0.10', undefined, 5, 'd', T0 + 50_000, undefined, 60_000);
    k.record('gone', '198.18.0.11', undefined, 5, 'e', T0 + 50_000, undefined, 60_000);
    k.sweep(T0 + 70_000, (rule) => (rule === 'gone' ? undefined : 60_000));
    expect(k.pending('198.18.0.9')).toEqual([]); // c1's line is 70 s old
    expect(k.pending('198.18.0.10')).toHaveLength(1);
    expect(k.pending('198.18.0.11')).toEqual([]);
    const before = k.bytes;
    k.setBudget(0);
    expect(k.size).toBe(0);
    expect(k.bytes).toBe(0);
    expect(before).toBeGreaterThan(0);
  });
});

describe('evidenceText and bidi/separator characters', () => {
  it('escapes characters that reorder or break a terminal line (an attacker writes the log line)', () => {
    for (const c of ['\u202e', '\u202d', '\u2066', '\u2069', '\u200f', '\u061c', '\u2028', '\u2029']) {
      const t = evidenceText(`198.18.0.1 - - "GET /${c}gnp.exe HTTP/1.1" 403 1`);
      expect(t).not.toContain(c);
      expect(t).toContain(`\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    }
    expect(evidenceText('a\u00e9b')).toBe('a\u00e9b');
  });
});
