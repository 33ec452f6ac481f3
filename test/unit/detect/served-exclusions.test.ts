/**
 * A rule's none_of exclusions see only the spellings the server serves: a fragment written to match
 * an exclusion (`/wp-login.php#.css`, served as /wp-login.php) does not cancel the count, and a raw
 * `#` ends the query too (`/?rest_route=/wp/v2/users#x`).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { selectRules } from '../../../src/pipeline/pipeline.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';

const rules = selectRules(loadConfig({ env: { BANHAMMER_RULES: 'wordpress-scan,wp-user-enum' }, hostname: 'x' }));
const parse = createLineParser('auto');
const counts = (rule: string, method: string, target: string, status: number): boolean => {
  const ev = parse(`198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] "${method} ${target} HTTP/1.1" ${status} 10 "-" "Mozilla/5.0"`);
  if (isSkip(ev)) throw new Error(String(ev));
  return rules.find((r) => r.name === rule)!.matches(ev);
};

describe('none_of sees the raw spelling the server never serves', () => {
  it('wordpress-scan: a fragment counts, unless it ends like a static asset', () => {
    expect(counts('wordpress-scan', 'GET', '/wp-login.php#x', 404)).toBe(true);
    expect(counts('wordpress-scan', 'GET', '/wp-login.php#.css', 404)).toBe(true); // served as /wp-login.php
  });
  it('wp-user-enum: the users listing with a fragment naming /users/me', () => {
    expect(counts('wp-user-enum', 'GET', '/wp-json/wp/v2/users#x', 200)).toBe(true);
    expect(counts('wp-user-enum', 'GET', '/wp-json/wp/v2/users#/users/me', 200)).toBe(true);
  });
});

describe('a raw #fragment after the query is not dropped (servedPath only cuts the path)', () => {
  it('wp-user-enum by rest_route', () => {
    expect(counts('wp-user-enum', 'GET', '/?rest_route=/wp/v2/users', 200)).toBe(true);
    expect(counts('wp-user-enum', 'GET', '/?rest_route=/wp/v2/users#x', 200)).toBe(true);
  });
});
