/**
 * Spellings servers read as another path (review: helper): Tomcat and other Java servers drop `;…`
 * path parameters (`/manager;x/html` is `/manager/html`), and nginx logs a backslash as `\x5C`, which
 * the rules read as `\`, hence as `/`. Through the live agent's matcher (prefilter, memos, full match).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { selectRules } from '../../../src/pipeline/pipeline.js';
import { RuleMatcher } from '../../../src/detect/rule-matcher.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const RULES = 'admin-probes,exploit-probes,sensitive-paths,webshell-probes';
const matcher = new RuleMatcher(selectRules(loadConfig({ env: { BANHAMMER_RULES: RULES }, hostname: 'x' })));
const parse = createLineParser('auto');
const countedBy = (target: string, status = 404): string[] => {
  const ev = parse(`198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] "GET ${target} HTTP/1.1" ${status} 10 "-" "Mozilla/5.0"`);
  if (typeof ev === 'string') throw new Error(ev);
  const n = matcher.match(ev);
  return [...matcher.matched.slice(0, n)].map((i) => matcher.rules[i]!.name);
};

describe('path spellings', () => {
  it.each([
    ['/manager;x/html', 'admin-probes'],
    ['/manager;jsessionid=1234/html', 'admin-probes'],
    ['/host-manager;a=b/', 'admin-probes'],
    ['/..\\x5C..\\x5Cetc\\x5Cpasswd', 'sensitive-paths'],
    ['/cgi-bin/..\\x5c..\\x5c..\\x5cetc/passwd', 'exploit-probes'],
    // Patterns that hold ';' themselves still see the normalised path with it (review: helper).
    ['/x/..;\\manager/html', 'exploit-probes'],
    ['/x/..;\\x5Cmanager/html', 'exploit-probes'],
    ['/x/..;%5cmanager/html', 'exploit-probes'],
    ['/s/x/_/;//META-INF/maven/pom.xml', 'exploit-probes'],
    ['/s/x/_/;\\META-INF/maven/pom.xml', 'exploit-probes'],
  ])('%s counts for %s', (target, rule) => {
    expect(countedBy(target)).toContain(rule);
  });

  it('the plain spellings still count, and ordinary paths with parameters or escapes do not', () => {
    expect(countedBy('/manager/html')).toContain('admin-probes');
    expect(countedBy('/shop;jsessionid=1234/cart', 200)).toEqual([]);
    expect(countedBy('/docs/a\\x5Cb.html', 200)).toEqual([]);
  });

  it('a path asked for under several session ids is one distinct path (count: distinct-paths)', async () => {
    const { Detector } = await import('../../../src/detect/detector.js');
    const det = new Detector(selectRules(loadConfig({ env: { BANHAMMER_RULES: 'admin-probes' }, hostname: 'x' })), { maxTracked: 100 });
    const offenses: unknown[] = [];
    for (const [i, id] of ['A1B2', 'C3D4', 'E5F6', 'G7H8', 'I9J0', 'K1L2'].entries()) {
      const ev = parse(`198.18.0.2 - - [02/Dec/2026:10:00:0${i} +0000] "GET /shop/db;jsessionid=${id} HTTP/1.1" 404 10 "-" "Java/17"`);
      if (typeof ev !== 'string') det.observe(ev, (o) => offenses.push(o));
    }
    expect(offenses).toEqual([]);
  });
});
