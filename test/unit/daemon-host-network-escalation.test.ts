/**
 * IPv6 network escalation in host mode: with bans per container (BANHAMMER_BAN_SCOPE=container), a
 * host-wide ban comes from a line no container can have written, which any tenant can print, so no
 * ban there ever grows into a network ban for every container; with BANHAMMER_BAN_SCOPE=host (the
 * operator's choice: every ban for every container) it does, as in a container.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../fakes/agent-io.js';
import { containerConfig } from './docker/container-fixtures.js';

const X = 'c1'.repeat(32);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const jsonLine = (ip: string, t: number) => JSON.stringify({ log: `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"\n`, stream: 'stdout', time: new Date(t).toISOString() });
const WALKER = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c'];
const settle = async () => {
  for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
};

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

async function run(banScope: 'container' | 'host', file: (root: string) => string): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'bh-host-esc-'));
  roots.push(root);
  mkdirSync(join(root, X));
  writeFileSync(join(root, X, 'config.v2.json'), containerConfig(X, 'web-x', { bridge: { v4: '198.19.151.2' } }));
  const clock = new ManualClock(Date.UTC(2026, 11, 6, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const config = loadConfig({
    env: { BANHAMMER_ENFORCER: 'nftables', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host', BANHAMMER_BAN_SCOPE: banScope, BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' },
    hostname: 'unit',
  });
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const daemon = new Daemon({ config, clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  await daemon.start();
  for (const ip of WALKER) {
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      source.onLine(jsonLine(ip, clock.now()), file(root));
    }
  }
  await settle();
  const banned = enforcer.batches.flatMap((b) => b.ban.map((x) => (x.scope === undefined ? x.ip : `${x.ip} ${x.scope.slice(0, 4)}`)));
  await daemon.stop();
  return banned;
}

describe('IPv6 network escalation in host mode', () => {
  it('bans per container: neither a container\'s bans nor host-wide ones from a file no container owns make a network ban', async () => {
    expect(await run('container', (root) => join(root, X, `${X}-json.log`))).toEqual(WALKER.map((ip) => `${ip} c1c1`));
    const stray = await run('container', (root) => join(root, 'stray', 'stray-json.log'));
    expect(stray.length).toBeGreaterThan(0);
    expect(stray.filter((ip) => ip.includes('/'))).toEqual([]);
  });

  it('BANHAMMER_BAN_SCOPE=host: every ban is for every container, and the network is banned', async () => {
    expect(await run('host', (root) => join(root, X, `${X}-json.log`))).toEqual([WALKER[0], WALKER[1], '2001:db8:1:2::/64', WALKER[2]]);
  });
});
