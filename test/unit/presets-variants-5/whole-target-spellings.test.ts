/**
 * Path patterns that mention `?` are tested over the whole target (README "Rules"). They saw it only
 * as written: `GET http://host/etc/passwd`, `/etc/passwd#x` and `/./etc/passwd` — which the server
 * serves as /etc/passwd — escaped `^/etc/passwd(?:$|\?)` while a path-only pattern saw the served path.
 */
import { describe, expect, it } from 'vitest';
import { compileRule, type RuleSettings } from '../../../src/detect/rule.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { line, presetMatches, T0 } from '../presets-variants/harness.js';

const parse = createLineParser('auto');
const rule = (paths: string[]): RuleSettings => ({
  enabled: true,
  description: 'test',
  match: { status: null, paths, methods: [] },
  maxretry: 1,
  findtime: 60_000,
  bantime: 60_000,
  increment: null,
});
const matches = (settings: RuleSettings, request: string): boolean => {
  const ev = parse(line('198.18.160.1', T0, request, 404));
  if (isSkip(ev)) throw new Error(`skipped: ${request}`);
  return compileRule('t', settings).matches(ev);
};

describe('a path pattern that mentions ? sees the served spelling of the target too', () => {
  const whole = rule(['^/etc/passwd(?:$|\\?)']);
  for (const req of ['GET http://example.test/etc/passwd HTTP/1.1', 'GET https://example.test:8443/etc/passwd?x=1 HTTP/1.1', 'GET /etc/passwd#x HTTP/1.1', 'GET /./etc/passwd HTTP/1.1', 'GET //etc//passwd HTTP/1.1', 'GET /a/../etc/passwd?x HTTP/1.1']) {
    it(`matches ${req}`, () => expect(matches(whole, req)).toBe(true));
  }
  for (const req of ['GET /etc/passwd-format.html HTTP/1.1', 'GET http://example.test/docs/etc/passwd HTTP/1.1', 'GET /docs#/etc/passwd HTTP/1.1']) {
    it(`does not match ${req}`, () => expect(matches(whole, req)).toBe(false));
  }
  it('sensitive-paths counts /etc/passwd with a fragment (its pattern names ?)', () => {
    expect(presetMatches('sensitive-paths', line('198.18.160.2', T0, 'GET /etc/passwd#x HTTP/1.1', 404))).toBe(true);
  });
});
