/**
 * Audit (issue 14, metrics exposition): the real /metrics text of an agent with every optional
 * series (sharing, notification targets, a kernel reading, a repair) and configured log paths full
 * of hostile bytes (quote, backslash, newline, U+2028, non-ASCII) passes `promtool check metrics`,
 * each label value reads back as the path it names, and no address is ever a label.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const FILES = ['/var/log/a"b\\c\nd.log', '/var/log/\u00e9\u2028x.log', '/srv/*/logs/*-json.log'];

async function exposition(): Promise<string> {
  const m = createMetrics({ version: '0.1.0', rules: ['forbidden', 'exploit-probes'], enforcer: 'iptables', share: true, notifyTargets: ['ops-slack', 'mail'], files: FILES });
  m.lines(12);
  m.parseSkipped('binary', 2);
  m.ruleMatches('forbidden', 5);
  m.banned('forbidden');
  m.unbanned('forbidden', 'expired');
  m.activeBans(1, 0);
  m.logFile(FILES[0]!, { lagSeconds: 3, lastLineSeconds: 1_796_205_600, lines: 7 });
  m.logFile(FILES[1]!, { lagSeconds: 0, lastLineSeconds: 1_796_205_600, lines: 5 });
  m.checked(1_796_205_600_000, 'iptables', { held: 1, missing: 1, stray: 0 });
  m.repaired('set bh-web-v4 re-created with 198.18.0.1');
  m.enforceDuration('iptables', 0.004);
  m.share(true, 0);
  m.shareLag(0.02);
  m.shareTraffic({ bansIn: 1, bansOut: 1, unbansIn: 0, unbansOut: 0, invalid: 0 });
  m.notifySent('ops-slack');
  m.notifyFailed('mail');
  m.notifyDropped('mail', 1);
  m.notifyQueued('mail', 2);
  m.started(1_796_205_000_000);
  return m.render();
}

describe('the /metrics exposition', () => {
  it.skipIf(PROMTOOL === undefined)('passes promtool check metrics with hostile file labels and every optional series', async () => {
    const text = await exposition();
    const r = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('every file label reads back as the configured path; no label value is an address', async () => {
    const text = await exposition();
    const unescape = (v: string): string => v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const files = new Set<string>();
    for (const m of text.matchAll(/\bfile="((?:[^"\\]|\\.)*)"/g)) files.add(unescape(m[1]!));
    expect([...files].sort()).toEqual([...FILES].sort());
    for (const m of text.matchAll(/="((?:[^"\\]|\\.)*)"/g)) expect(m[1]).not.toMatch(/^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]*::[0-9a-f:]*$/i);
    // The repair named an address: counted under its kind only.
    expect(text).toContain('banhammer_repairs_total{what="set"} 1');
    expect(text).not.toContain('198.18.0.1');
  });
});
