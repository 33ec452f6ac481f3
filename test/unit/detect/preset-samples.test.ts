/**
 * Every rule file under presets/ (found at run time: a new file is tested without editing this test)
 * loads, and every one of its samples holds: `samples.match` lines, read by the real line parser,
 * match that rule; `samples.no_match` lines do not (fail2ban's failJSON idea). Sample addresses are
 * test addresses only (198.18.0.0/15, 2001:db8::/32).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { compileRule } from '../../../src/detect/rule.js';
import { parseRuleFile } from '../../../src/detect/rule-file.js';
import { PRESETS, PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { presetDir } from '../../../src/detect/preset-files.js';
import { parseCidr } from '../../../src/parse/ip.js';

const dir = presetDir();
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

const inTestRange = (ip: string): boolean => {
  const c = parseCidr(ip);
  if (c === null) return false;
  if (c.family === 4) {
    const [a, b] = ip.split('.').map(Number);
    return a === 198 && (b === 18 || b === 19);
  }
  return /^2001:db8(:|$)/i.test(c.network);
};

describe('presets/', () => {
  it('holds rule files, all of them presets, the default rule on', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
    expect(PRESET_DEFINITIONS.map((d) => d.name).sort()).toEqual(files.map((f) => f.replace(/\.ya?ml$/, '')).sort());
    expect(PRESETS.forbidden!.enabled).toBe(true);
    expect(PRESETS.forbidden!.maxretry).toBe(5);
  });

  for (const file of files) {
    describe(file, () => {
      const result = parseRuleFile(join('presets', file), readFileSync(join(dir, file), 'utf8'), { defaultEnabled: false });
      it('is a valid rule file', () => {
        expect(result.ok ? [] : result.problems).toEqual([]);
      });
      if (!result.ok) return;
      const { rule } = result;
      const compiled = compileRule(rule.name, rule.settings);
      const parse = createLineParser('auto');

      it('has samples that must match', () => {
        expect(rule.samples.match.length).toBeGreaterThan(0);
      });

      for (const line of rule.samples.match) {
        it(`matches: ${line.slice(0, 160)}`, () => {
          const ev = parse(line);
          expect(isSkip(ev) ? `skipped: ${ev}` : 'parsed').toBe('parsed');
          if (isSkip(ev)) return;
          expect(inTestRange(ev.ip), `${ev.ip} is not a test address (198.18.0.0/15, 2001:db8::/32)`).toBe(true);
          expect(compiled.matches(ev)).toBe(true);
        });
      }
      for (const line of rule.samples.noMatch) {
        it(`does not match: ${line.slice(0, 160)}`, () => {
          const ev = parse(line);
          if (isSkip(ev)) return; // a line the parser skips never reaches any rule
          expect(inTestRange(ev.ip), `${ev.ip} is not a test address (198.18.0.0/15, 2001:db8::/32)`).toBe(true);
          expect(compiled.matches(ev)).toBe(false);
        });
      }
    });
  }
});
