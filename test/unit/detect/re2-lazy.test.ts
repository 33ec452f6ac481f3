/**
 * An agent with the default rules does not load re2js (~5 MB of idle RSS, measured) until a line
 * reaches one of its RE2-run patterns: exploit-probes, on by default, has 18 of them behind literal
 * gates that ordinary lines never open. Loading configuration and building the pipeline load nothing;
 * the first line that needs RE2 loads it, and is matched exactly as an eager compile would match it.
 * (Its own test file: modules are per file, so nothing else in this process has loaded re2js.)
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { compileRule } from '../../../src/detect/rule.js';
import { compilePathPatterns, engineFor, re2Loaded } from '../../../src/detect/path-pattern.js';
import { PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip, type AccessEvent } from '../../../src/parse/access-event.js';

const line = (path: string, status = 404): string =>
  `198.18.4.4 - - [02/Dec/2026:10:00:00 +0000] "GET ${path} HTTP/1.1" ${status} 196 "-" "Mozilla/5.0 (X11; Linux x86_64)"`;

describe('re2js is loaded on the first line that needs it', () => {
  it('not by configuration, the pipeline or ordinary lines; then by a line only an RE2-run pattern matches', () => {
    const config = loadConfig({ env: {}, hostname: 'h' });
    expect(config.rules['exploit-probes']!.enabled).toBe(true);
    const re2Patterns = [...config.rules['exploit-probes']!.match.paths, ...(config.rules['exploit-probes']!.match.anyOf ?? []).flatMap((m) => m.paths)].filter((p) => engineFor(p) === 're2');
    expect(re2Patterns).toContain('^/cgi-bin/.*/bin/(?:ba|da|z)?sh$');
    const offenses: string[] = [];
    const p = new Pipeline({ config, mode: 'replay', onBan: (b) => offenses.push(b.rule) });
    const feed = (l: string): void => {
      const ev = p.parse(l);
      if (ev !== null) p.observe(ev, ev.time);
    };
    for (const path of ['/', '/index.html', '/favicon.ico', '/search?q=select+1', '/about/contact', '/wp-login.php']) feed(line(path));
    expect(re2Loaded()).toBe(false);
    // Only RE2 runs this one: a cgi-bin path to a shell (Apache CVE-2021-41773/42013), maxretry 1.
    feed(line('/cgi-bin/x/y/bin/bash', 400));
    expect(re2Loaded()).toBe(true);
    expect(offenses).toContain('exploit-probes');
  });

  it('a checked compile matches exactly what an eager one does, on every preset sample', () => {
    const parse = createLineParser('auto');
    let n = 0;
    for (const { name, settings, samples } of PRESET_DEFINITIONS) {
      const lazy = compileRule(name, settings, true);
      const eager = compileRule(name, settings);
      for (const l of [...samples.match, ...samples.noMatch]) {
        n++;
        const ev = parse(l);
        if (isSkip(ev)) continue;
        expect(lazy.matches(ev as AccessEvent), `${name}: ${l}`).toBe(eager.matches(ev as AccessEvent));
      }
    }
    expect(n).toBeGreaterThan(150);
  });

  it('an unchecked compile still refuses what RE2 cannot run, at once', () => {
    expect(() => compilePathPatterns([String.raw`\w{300}`, String.raw`\d{300}`])).toThrow(/too large/);
    expect(() => compilePathPatterns(['^/(\\w+)/\\1$'], true)).toThrow(/backreference/);
  });
});
