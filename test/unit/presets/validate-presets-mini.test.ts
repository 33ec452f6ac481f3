/**
 * bench/validate-presets.ts on a small corpus written here (so it runs without ../shared/corpus): rows
 * are counted per (test, scenario), crafted sources such as 127.0.0.1 are mapped to test addresses
 * before the replay (loopback would never be banned), a source seen only in an error log is "not
 * access log", and a ban in a log the peer found clean is counted against the target.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validate } from '../../../bench/validate-presets.js';

const root = mkdtempSync(join(tmpdir(), 'banhammer-validate-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function hubTest(name: string, log: string[], assert: string): void {
  const dir = join(root, 'crowdsec-hub', 'tests', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), `log_file: ${name}.log\nlog_type: nginx\n`);
  writeFileSync(join(dir, `${name}.log`), log.join('\n') + '\n');
  writeFileSync(join(dir, 'scenario.assert'), assert);
}
const row = (i: number, source: string, scenario: string): string =>
  `results[${i}].Overflow.Sources["${source}"].IP == "${source}"\nresults[${i}].Overflow.Alert.GetScenario() == "${scenario}"\n`;

hubTest('probe', ['127.0.0.1 - - [04/Jan/2020:08:41:43 +0000] "POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 200 550 "-" "foobar"'], `len(results) == 1\n${row(0, '127.0.0.1', 'peer/phpunit')}`);
hubTest('errlog', ['2021/09/30 09:23:53 [error] 1#1: *17 user "foo" was not found, client: 198.18.200.1, server: _'], `len(results) == 1\n${row(0, '198.18.200.1', 'peer/error-bf')}${row(1, '198.18.200.1', 'peer/error-bf')}`);
hubTest('quiet', ['198.18.200.7 - - [04/Jan/2020:08:41:43 +0000] "GET / HTTP/1.1" 200 550 "-" "Mozilla/5.0"'], 'len(results) == 0\n');

describe('validate-presets on a small corpus', () => {
  it('counts rows per test and scenario, maps crafted sources, and meets no target it should not', async () => {
    let text = '';
    const s = (await validate(root, (t) => (text += t)))!;
    expect(s.rows, text).toBe(2);
    expect(s.agree, text).toBe(1);
    expect(s.notAccessLog, text).toBe(1);
    expect(s.extraInCleanLogs, text).toBe(0);
    expect(s.parseRegressions, text).toBe(0);
    expect(text).toMatch(/agree +probe +peer\/phpunit +banned by exploit-probes/);
    expect(s.targetMet).toBe(false); // 1 of 2 rows is far below the 50
  });

  it('counts a ban in a log the peer found clean', async () => {
    hubTest('clean-but-banned', ['198.18.200.9 - - [04/Jan/2020:08:41:43 +0000] "GET /w00tw00t.at.ISC.SANS.DFind:) HTTP/1.1" 404 162 "-" "-"'], 'len(results) == 0\n');
    let text = '';
    const s = (await validate(root, (t) => (text += t)))!;
    expect(s.extraInCleanLogs, text).toBe(1);
    expect(text).toMatch(/clean-but-banned +198\.18\.200\.9 +w00tw00t +<- the peer flagged nobody/);
  });

  it('says there is nothing to validate without a corpus', async () => {
    expect(await validate(join(root, 'absent'))).toBeNull();
  });
});
