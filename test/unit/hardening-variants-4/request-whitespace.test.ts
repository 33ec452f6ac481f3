/**
 * Issue 9 / 13 (round 4 audit, helper H3): a request line with runs of spaces or tabs between its
 * parts. nginx reads any number of spaces before the target and before the version (and logs the
 * line as sent); Apache's `HttpProtocolOptions Unsafe` reads any whitespace, and Strict answers 400
 * but logs the same line. Read as single spaces, `GET  /…/eval-stdin.php` had no method and no path,
 * and `GET /x.php  HTTP/1.1` a path ending in ` HTTP/1.1`: a single exploit probe (exploit-probes,
 * on by default, any status) escaped every `paths` rule with one extra space.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { compileRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';

const T = '05/Dec/2026:07:00:00 +0000';
const PROBE = '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php';
const rules = Object.entries(PRESETS).map(([n, s]) => compileRule(n, s));
const matcher = new RuleMatcher(rules);

const REQUESTS: readonly (readonly [string, string, string])[] = [
  [`GET  ${PROBE} HTTP/1.1`, 'GET', PROBE],
  [`GET   ${PROBE} HTTP/1.1`, 'GET', PROBE],
  [`GET\t${PROBE} HTTP/1.1`, 'GET', PROBE],
  [`POST \t ${PROBE} HTTP/1.0`, 'POST', PROBE],
  [`GET ${PROBE}  HTTP/1.1`, 'GET', PROBE],
  [`GET ${PROBE}\tHTTP/1.1`, 'GET', PROBE],
  [`GET ${PROBE} HTTP/1.1 `, 'GET', PROBE],
  [`GET ${PROBE} HTTP/2`, 'GET', PROBE],
  [`GET ${PROBE}  HTTP/2.0`, 'GET', PROBE],
  [`GET ${PROBE} `, 'GET', PROBE], // HTTP/0.9 with a trailing space
  [`HEAD  ${PROBE}`, 'HEAD', PROBE],
  [`GET /a b HTTP/1.1`, 'GET', '/a b'], // nginx keeps a space inside the target
  [`GET  `, '', ''],
  [`-`, '', ''],
];

const LINES: readonly (readonly [LogFormat, (req: string) => string])[] = [
  ['apache-combined', (req) => `198.18.0.7 - - [${T}] "${req}" 404 10 "-" "ua"`],
  ['nginx-main', (req) => `198.18.0.7 - - [${T}] "${req}" 404 10 "-" "ua" "-"`],
  ['apache-vhost-combined', (req) => `www.example.test:443 198.18.0.7 - - [${T}] "${req}" 400 10 "-" "ua"`],
  ['nginx-host-combined', (req) => `www.example.test 198.18.0.7 - - [${T}] "${req}" 404 10 "-" "ua"`],
];

describe('request lines with runs of blanks (issue 9, 13)', () => {
  for (const [format, make] of LINES) {
    for (const [req, method, path] of REQUESTS) {
      for (const f of [format, 'auto'] as const) {
        it(`${f}: ${JSON.stringify(req)} → ${method || '(none)'} ${JSON.stringify(path)}`, () => {
          const out = createLineParser(f)(make(req));
          expect(isSkip(out), JSON.stringify(out)).toBe(false);
          if (isSkip(out)) return;
          expect(out.ip).toBe('198.18.0.7');
          expect(out.method).toBe(method);
          expect(out.path).toBe(path);
          if (path === PROBE) {
            const n = matcher.match(out);
            const names = Array.from(matcher.matched.subarray(0, n)).map((i) => rules[i]!.name);
            expect(names).toContain('exploit-probes');
          }
        });
      }
    }
  }

  it('a raw tab between method and target (a lenient server) still reads the target', () => {
    const out = createLineParser('auto')(`198.18.0.7 - - [${T}] "GET\t${PROBE}\tHTTP/1.1" 404 10 "-" "ua"`);
    expect(isSkip(out) ? out : { method: out.method, path: out.path }).toEqual({ method: 'GET', path: PROBE });
  });
});
