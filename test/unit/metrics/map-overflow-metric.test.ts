/**
 * H21: apache-map's overflow.map (bans whose SDBM hashes collide, which Apache reads line by line)
 * is exported as banhammer_map_overflow_entries{enforcer="apache-map"} after each self-check, through
 * the daemon's real wiring (Daemon → queue → metrics) with the real ApacheMapEnforcer writing into a
 * temp directory. Addresses crafted to share their hash bits are banned through the log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import type { FilePosition, FileProgress, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { collidingGroups } from '../enforce-sdbm-review/colliding-keys.js';

async function value(m: Metrics, series: string): Promise<number | null> {
  for (const l of (await m.render()).split('\n')) if (l.startsWith(`${series} `)) return Number(l.slice(series.length + 1));
  return null;
}

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] {
    return [];
  }
  lagBytes() {
    return 0;
  }
  stats() {
    return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 };
  }
  progress(): FileProgress[] {
    return [{ path: '/var/log/apache2/access.log', lines: 0, unreadBytes: 0 }];
  }
  emit(l: string) {
    this.onLine(l, '/var/log/apache2/access.log');
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const tick = () => new Promise((r) => setImmediate(r));
/** Advances the clock in 500 ms steps, giving the daemon's file work real time to finish in between. */
async function settle(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    clock.advance(500);
    for (let j = 0; j < 5; j++) await tick();
    await new Promise((r) => setTimeout(r, 30));
  }
}
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('banhammer_map_overflow_entries', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is the number of bans in overflow.map after each self-check', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-overflow-metric-'));
    const clock = new ManualClock(Date.now());
    const enforcer = new ApacheMapEnforcer({ path: join(dir, 'banned.map'), clock });
    const metrics = createMetrics({ rules: ['forbidden'], enforcer: enforcer.name, files: ['/var/log/apache2/access.log'] });
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const store = { doc: null as DaemonState | null, async load() { return null; }, async save(d: DaemonState) { this.doc = d; } };
    const config = loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/apache2/access.log' }, hostname: 'unit' });
    const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource, hostAddresses: [], metrics, checkIntervalMs: 2000 });
    await daemon.start();
    await settle(clock, 2500);
    expect(await value(metrics, 'banhammer_map_overflow_entries{enforcer="apache-map"}')).toBe(0);
    // 30 addresses sharing the low 24 bits of their hash: a page holds 18, 12 go to overflow.map.
    for (const ip of collidingGroups(1, 30)[0]!) for (let i = 0; i < 5; i++) source.emit(`${ip} - - [${clf(clock.now())}] "GET /forbidden/ HTTP/1.1" 403 10 "-" "curl"`);
    await settle(clock, 4500);
    expect(enforcer.map.size).toBe(30);
    expect(await value(metrics, 'banhammer_map_overflow_entries{enforcer="apache-map"}')).toBe(12);
    await daemon.stop();
  });
});
