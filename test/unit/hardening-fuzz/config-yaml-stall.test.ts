/**
 * Issue 9, round 2 audit (defect): "faults must not stop the agent": a configuration file must be
 * refused with a clear bounded message or accepted, never hang. The agent reads its YAML file
 * synchronously at start, at every reload (SIGHUP, `banhammer reload`: the running agent's event loop)
 * and in check-config. Within the 4 MiB a configuration file may have, yaml's parser takes seconds to
 * minutes (hours at 4 MiB) on hostile structure: a file of `[` (collections nested a million deep) took 24-55 s to be
 * refused as "Maximum call stack size exceeded"; 300 KB of `!t ` (one tag after another) took 57 s,
 * because every one of its 100,000 errors was made "pretty" (a scan of the text each). Invariant
 * checked here: every such file is refused within a second, with a message that says why.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { timedCpuRetry } from '../../support/cpu-time.js';

/** The refusal's message and its cost in CPU ms, measured again while over a second (test/support/cpu-time.ts). */
function refusal(text: string): { message: string; ms: number } {
  const [message, ms] = timedCpuRetry(() => {
    try {
      loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h3', readFile: () => text });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected the file to be refused');
  }, 1000);
  return { message, ms };
}

describe('a hostile configuration file is refused quickly', () => {
  // (Sizes far below the 4 MiB limit, so that the test fails quickly before the fix: at 4 MiB each
  // of these took from 7 s to hours.)
  it.each([
    ['flow sequences 400,000 deep', `ignoreip: ${'['.repeat(400_000)}${']'.repeat(400_000)}\n`],
    ['flow sequences opened 800,000 times', `ignoreip: ${'['.repeat(800_000)}`],
    ['flow maps 200,000 deep', `a: ${'{a: '.repeat(200_000)}`],
    ['block sequences nested on one line', `${'- '.repeat(1_500_000)}1\n`],
    ['explicit keys nested on one line', `${'? '.repeat(1_500_000)}1\n`],
    ['60,000 tags on one node', `ignoreip: ${'!t '.repeat(60_000)}1\n`],
    ['60,000 anchors on one node', `ignoreip: ${'&a '.repeat(60_000)}1\n`],
  ])('%s', (_name, text) => {
    const r = refusal(text);
    expect(r.message).toMatch(/config file \/c\.yaml/);
    expect(r.message.length).toBeLessThan(2000);
    expect(r.ms).toBeLessThan(1000);
  }, 120_000);

  it('a large ordinary file (100,000 ignoreip entries, 1.8 MB) is still accepted', () => {
    const text = `ignoreip:\n${Array.from({ length: 100_000 }, (_, i) => `  - 198.18.${(i >> 8) & 255}.${i & 255}`).join('\n')}\n`;
    expect(loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h3', readFile: () => text }).ignoreip.length).toBe(65_536);
  });

  it('ordinary anchors, tags and flow collections are still accepted', () => {
    const text = 'x-common: &common { maxretry: 3, findtime: 10m }\nrules:\n  a:\n    <<: *common\n    match: { status: [403, 401], paths: ["^/[a-z]+/login$"] }\n';
    // (merge keys are YAML 1.1; whatever the schema says of them, the file must not be refused as hostile)
    try {
      loadConfig({ env: { BANHAMMER_CONFIG: '/c.yaml' }, hostname: 'h3', readFile: () => text });
    } catch (e) {
      expect((e as Error).message).not.toMatch(/nest|tags and anchors/);
    }
  });
});
