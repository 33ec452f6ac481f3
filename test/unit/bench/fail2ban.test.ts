/**
 * Runs the real fail2ban-regex (and GNU time) on a tiny log: the one test of this folder that spawns,
 * because the filter text only means something to fail2ban itself. Skips when either is missing.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAIL2BAN_REGEX, runFail2banRegex } from '../../../bench/fail2ban.js';
import { GNU_TIME } from '../../../bench/measure.js';

const missing = [FAIL2BAN_REGEX, GNU_TIME].filter((p) => !existsSync(p));

describe.skipIf(missing.length > 0)(`fail2ban-regex with the bench filter${missing.length ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bh-f2b-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts real 403s only: not forged ones in the UA or an escaped request line, not other statuses', async () => {
    const ts = '[14/Mar/2026:06:00:0';
    const log = [
      `198.18.0.1 - - ${ts}1 +0000] "GET /.htaccess HTTP/1.1" 403 199 "-" "curl/8.5.0"`, // match
      `2001:db8::5 - alice ${ts}2 +0000] "GET /a\\"b HTTP/1.1" 403 199 "-" "curl/8.5.0"`, // match (escaped quote inside)
      `198.18.0.2 - - ${ts}3 +0000] "GET / HTTP/1.1" 200 5120 "-" "x\\" 198.18.0.9 - - [14/Mar/2026:06:00:03 +0000] \\"GET / HTTP/1.1\\" 403 1 \\"-\\" \\"y"`,
      `198.18.0.3 - - ${ts}4 +0000] "GET /x\\" 403 199 \\"-\\" HTTP/1.1" 400 226 "-" "-"`,
      `198.18.0.4 - - ${ts}5 +0000] "GET / HTTP/1.1" 4031 10 "-" "-"`,
      `198.18.0.5 - - ${ts}6 +0000] "GET /403 HTTP/1.1" 404 403 "-" "-"`,
      `198.18.0.6 - - ${ts}7 +0000] "GET /private/ HTTP/1.1" 403 199 "-" "-"`, // match
      '',
    ].join('\n');
    const file = join(dir, 'access.log');
    writeFileSync(file, log);
    const r = await runFail2banRegex(file, { lines: 7 });
    expect(r).toMatchObject({ lines: 7, matched: 3, prefix: false });
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.maxRssBytes).toBeGreaterThan(1_000_000);
  });
});
