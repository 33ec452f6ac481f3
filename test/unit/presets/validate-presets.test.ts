/**
 * The validation on real logs (bench/validate-presets.ts, issue 13) meets its target when the corpus
 * is there (../shared/corpus; skipped otherwise): at least 50 of the 67 CrowdSec scenario rows caught,
 * no ban in a log CrowdSec found clean, every access line of every corpus file parsed.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CORPUS, TARGET_ROWS, validate } from '../../../bench/validate-presets.js';

describe.skipIf(!existsSync(CORPUS))('validation on the real-log corpus', () => {
  it('catches at least 50 of the 67 scenario rows, bans nobody in clean logs, and parses every access line', async () => {
    let text = '';
    const s = (await validate(CORPUS, (t) => (text += t)))!;
    expect(s.rows).toBe(67);
    expect(s.agree, text).toBeGreaterThanOrEqual(TARGET_ROWS);
    expect(s.extraInCleanLogs, text).toBe(0);
    expect(s.parseRegressions, text).toBe(0);
    expect(s.targetMet).toBe(true);
  }, 120_000);
});
