/**
 * Audit (issue 14, evidence): a line is "cut at 1,000 characters with a `… [N more chars]` marker and
 * with control characters written as `\xHH`" (README, "Why was it banned"). evidenceText cut the
 * line first and escaped it after; when the escapes made it longer than the limit it cut the escaped
 * text again and said nothing. A client that starts its line (a User-Agent, a path) with control
 * characters (each written as 4 characters) pushes the request itself out of the evidence, and the
 * kept line ends as if it were complete: `why`, the webhook and the mail show 250 `\x1b` and no sign
 * of what was left out. The marker must say how many characters of the line as written are not shown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { evidenceText, MAX_EVIDENCE_LINE_CHARS, restoreEvidence } from '../../../src/decide/evidence.js';
import { formatWhy } from '../../../src/control/format-why.js';
import { agent, cleanup, settle } from '../seams-variants/harness.js';
import { clf } from '../../support/clf.js';

afterEach(cleanup);

const MARKER = /… \[(\d+) more chars\]$/;

/** The number of characters of `raw` a kept text shows: the kept text without its marker, escapes undone. */
function shown(kept: string): number {
  const body = kept.replace(MARKER, '');
  return body.replace(/\\x[0-9a-f]{2}|\\u[0-9a-f]{4}/g, '.').length;
}

describe('an evidence line whose escapes grow past the limit', () => {
  const cases: [string, string][] = [
    ['250 ESC, then the request', `${'\u001b'.repeat(250)}198.18.0.9 - - "GET /forbidden/ HTTP/1.1" 403`],
    ['990 characters and 10 BEL', `${'a'.repeat(990)}${'\u0007'.repeat(10)}`],
    ['bidi and line separators (6 characters each)', `${'\u202e\u2028'.repeat(100)}${'b'.repeat(900)}`],
    ['a line of exactly the limit, one control character at its end', `${'c'.repeat(MAX_EVIDENCE_LINE_CHARS - 1)}\u0000`],
  ];
  for (const [name, raw] of cases) {
    it(`${name}: at most the limit, and a marker counting every character not shown`, () => {
      const kept = evidenceText(raw);
      const m = MARKER.exec(kept);
      expect(m, `marker missing: …${JSON.stringify(kept.slice(-40))}`).not.toBeNull();
      expect(kept.replace(MARKER, '').length).toBeLessThanOrEqual(MAX_EVIDENCE_LINE_CHARS);
      // What is shown plus what the marker counts is the whole line as written.
      expect(shown(kept) + Number(m![1])).toBe(raw.length);
      // Never half an escape.
      expect(kept.replace(MARKER, '')).not.toMatch(/\\(x[0-9a-f]?|u[0-9a-f]{0,3})$/);
    });
  }

  it('a line that fits after escaping is kept whole, without a marker', () => {
    const raw = `${'\u001b'.repeat(10)}${'d'.repeat(MAX_EVIDENCE_LINE_CHARS - 40)}`;
    const kept = evidenceText(raw);
    expect(kept).not.toMatch(MARKER);
    expect(shown(kept)).toBe(raw.length);
  });

  it('restoring a saved line keeps the marker the agent wrote', () => {
    const kept = evidenceText(`${'\u001b'.repeat(250)}tail`);
    const back = restoreEvidence([{ line: kept, at: 1 }]);
    expect(back?.[0]?.line).toBe(kept);
  });

  it('through the live agent: `banhammer why` says the line goes on', async () => {
    const d = agent();
    await d.daemon.start();
    // A line under the limit as written (about 880 characters) whose escapes take it past it (about 1,480).
    const ua = '\u001b[2J'.repeat(200);
    for (let i = 0; i < 5; i++) d.emit(`198.18.0.9 - - [${clf(d.clock.now())}] "GET /private HTTP/1.1" 403 10 "-" "${ua}${i}"`);
    await settle();
    const why = d.daemon.why('198.18.0.9');
    expect(why.active).toHaveLength(1);
    const lines = why.active[0]!.evidence.map((l) => l.line);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l, l.slice(-60)).toMatch(MARKER);
    expect(formatWhy(why)).toMatch(/more chars\]/);
    await d.daemon.stop();
  });
});

describe('escaping next to a lone surrogate', () => {
  it('a control character after a lone high surrogate is still escaped', () => {
    const kept = evidenceText(`\ud83d\u001b[31m${'x'.repeat(10)}`);
    expect(kept).not.toMatch(/\u001b/);
    expect(kept).toContain('\\x1b');
  });
});
