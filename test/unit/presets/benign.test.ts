/**
 * No preset, whether on by default or not, bans a benign client of a realistic traffic mix (issue 13).
 *
 * test/fixtures/benign/access.log (written by generate.ts beside it: searches with SQL words, slow
 * crawlers, health checks, missing favicons, a WordPress editor logging in, API clients, Jetpack
 * calling xmlrpc.php once, RSS readers, a reader browsing 40 pages, an office NAT) is replayed with
 * EVERY defined rule on, through the replay code the CLI uses, and must ban nobody. So that this test
 * can fail, the same harness replays control-attacks.log and must ban each attacker by its rule.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile, type ReplayReport } from '../../../src/replay/replay.js';
import { PRESET_NAMES } from '../../../src/detect/presets.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/benign/${name}`, import.meta.url));

/** Replays a file with every rule defined (presets included, enabled or not), like `replay --all-rules`. */
async function replayAllRules(file: string): Promise<ReplayReport> {
  const config = loadConfig({ env: {}, hostname: 'benign-test' });
  return replayFile(file, config, { rules: Object.keys(config.rules), threads: 1 });
}

/** Who each control attacker is and the preset that must ban it. */
const ATTACKERS: Readonly<Record<string, string>> = {
  '198.19.1.1': 'bad-user-agents',
  '198.19.1.2': 'exploit-probes',
  '198.19.1.3': 'exploit-probes',
  '198.19.1.4': 'sensitive-paths',
  '198.19.1.5': 'login-bruteforce',
  '198.19.1.6': 'wp-user-enum',
  '198.19.1.7': 'open-proxy',
  '198.19.1.8': 'junk-requests',
  '198.19.1.9': 'forbidden',
  '198.19.1.10': 'w00tw00t',
  '198.19.1.11': 'webshell-probes',
  '198.19.1.12': 'admin-probes',
  '198.19.1.13': 'xss-probes',
  '198.19.1.14': 'sqli-probes',
  '198.19.1.15': 'wordpress-scan',
  '198.19.1.16': 'tech-probes',
  '198.19.1.17': 'crawl-non-static',
  '198.19.1.18': 'bad-requests',
  '198.19.1.19': 'cache-bypass',
};

describe('benign traffic with every preset on', () => {
  it('replays the benign hour fully parsed, with every preset among the rules run', async () => {
    const report = await replayAllRules(fixture('access.log'));
    expect(report.lines).toBeGreaterThan(4000);
    expect(report.skipped).toBe(0);
    for (const name of PRESET_NAMES) expect(report.rules).toContain(name);
  });

  it('bans nobody in the benign hour', async () => {
    const report = await replayAllRules(fixture('access.log'));
    expect(report.bans.map((b) => `${b.ip} by ${b.rule} (${b.failures} counted)`)).toEqual([]);
  });

  it('bans each control attacker by its preset (the harness can fail)', async () => {
    const report = await replayAllRules(fixture('control-attacks.log'));
    const by = new Map<string, Set<string>>();
    for (const b of report.bans) by.set(b.ip, (by.get(b.ip) ?? new Set()).add(b.rule));
    const missing = Object.entries(ATTACKERS)
      .filter(([ip, rule]) => !by.get(ip)?.has(rule))
      .map(([ip, rule]) => `${ip} not banned by ${rule} (banned by: ${[...(by.get(ip) ?? [])].join(', ') || 'nothing'})`);
    expect(missing).toEqual([]);
  });

  it('has a control attacker for every preset that can ban on its own', () => {
    // The generic counters (not-found, unauthorized, request-flood, xmlrpc) are exercised elsewhere.
    const generic = new Set(['not-found', 'unauthorized', 'request-flood', 'xmlrpc']);
    const covered = new Set(Object.values(ATTACKERS));
    expect(PRESET_NAMES.filter((n) => !generic.has(n) && !covered.has(n))).toEqual([]);
  });
});
