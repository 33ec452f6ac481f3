/**
 * A state file written in host mode (bans scoped to one container) read by an agent restarted out of
 * host mode (review: helper): BANHAMMER_ENFORCER changed, `auto` now choosing iptables, nftables no
 * longer reading Docker's logs. Such an agent guards one container or the host: the scoped bans were
 * handed to its enforcer, which held them for everyone it guards (iptables, the map enforcers: the
 * client of one tenant banned at another) or refused them while status and `why` showed them held
 * (nftables). Now they are not restored: not held, not listed by status, `why` says why, and the log
 * says so once. Host mode keeps them for their own container, one gone since included.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { formatWhy } from '../../src/control/format-why.js';
import { validateState } from '../../src/run.js';
import { FakeSource } from '../fakes/agent-io.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { containerConfig } from './docker/container-fixtures.js';

const X = 'c1'.repeat(32);
const Y = 'c2'.repeat(32);
const ATTACKER = '198.19.150.88';
const MANUAL_X = '198.19.150.89';
const HOST_WIDE = '198.19.150.90';
const START = Date.UTC(2026, 10, 23, 10, 0, 0);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const jsonLine = (ip: string, t: number) =>
  JSON.stringify({ log: `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"\n`, stream: 'stdout', time: new Date(t).toISOString() });

class MemoryStore {
  doc: DaemonState | null = null;
  async load() {
    return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
  copy(): MemoryStore {
    const s = new MemoryStore();
    s.doc = JSON.parse(JSON.stringify(this.doc)) as DaemonState;
    return s;
  }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** An agent over a Docker containers directory holding `containers` (by default X and Y). */
function agent(env: Record<string, string>, store: MemoryStore, containers: readonly string[] = [X, Y]) {
  const root = mkdtempSync(join(tmpdir(), 'bh-restore-scope-'));
  roots.push(root);
  for (const [id, name, addr] of [[X, 'web-x', '198.19.151.2'], [Y, 'web-y', '198.19.151.3']] as const) {
    if (!containers.includes(id)) continue;
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
  }
  const clock = new ManualClock(START);
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (_o: object, m?: string) => warnings.push(m ?? ''), error() {} };
  const config = loadConfig({
    env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host', ...env },
    hostname: 'unit',
  });
  const daemon = new Daemon({ config, clock, logger, enforcer, store, createSource, hostAddresses: [] });
  const emit = (id: string, line: string) => source.onLine(line, join(root, id, `${id}-json.log`));
  return { clock, enforcer, daemon, emit, warnings };
}

/** A host-mode agent's state: ATTACKER banned for Y (detected), MANUAL_X for X (manual), HOST_WIDE everywhere. */
async function hostModeStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const a = agent({}, store);
  await a.daemon.start();
  for (let i = 0; i < 5; i++) a.emit(Y, jsonLine(ATTACKER, a.clock.now()));
  await settle();
  await a.daemon.ban(MANUAL_X, { forMs: null, container: 'web-x' });
  await a.daemon.ban(HOST_WIDE, { forMs: null });
  expect([...a.enforcer.held.keys()].sort()).toEqual([`${ATTACKER} ${Y}`, `${MANUAL_X} ${X}`, HOST_WIDE].sort());
  await a.daemon.stop();
  return store;
}

/** Every address status lists as banned, with its container. */
const statusBans = (d: Daemon) => d.status().rules.flatMap((r) => (r.bans ?? []).map((b) => `${b.ip} ${b.containerId ?? '-'}`)).sort();

describe('scoped bans restored out of host mode', () => {
  it.each([
    ['iptables', { BANHAMMER_ENFORCER: 'iptables' }],
    ['nftables, not reading Docker logs', { BANHAMMER_ENFORCER: 'nftables', BANHAMMER_LOG_PATH: '/var/log/apache2/access.log' }],
    ['apache-map', { BANHAMMER_ENFORCER: 'apache-map' }],
    ['log (dry run)', { BANHAMMER_ENFORCER: 'log' }],
  ])('%s: are not held nor shown, why says why, the log says so, and the state keeps them as ended', async (_name, env) => {
    const store = await hostModeStore();
    const b = agent(env, store);
    await b.daemon.start();
    // Only the host-wide ban reaches the enforcer: no scoped entry, and above all no host-wide one for the scoped addresses.
    expect([...b.enforcer.held.keys()]).toEqual([HOST_WIDE]);
    expect(b.enforcer.batches.flatMap((x) => x.ban).map((e) => e.ip)).toEqual([HOST_WIDE]);
    expect(statusBans(b.daemon)).toEqual([`${HOST_WIDE} -`]);
    expect(b.daemon.status('forbidden').rules[0]).toMatchObject({ currentlyBanned: 0, bannedIps: [] });

    for (const [ip, id] of [[ATTACKER, Y], [MANUAL_X, X]] as const) {
      const why = b.daemon.why(ip);
      expect(why.active).toEqual([]);
      expect(why.ended).toEqual([expect.objectContaining({ ip, containerId: id, ended: { reason: 'refused', at: expect.any(String), by: 'restore: a ban for one container, outside host mode' } })]);
      expect(formatWhy(why)).toContain('not restored at start: it applied to one container (host mode), and this agent is not in host mode');
    }
    expect(b.warnings.filter((w) => /not in host mode/.test(w))).toEqual([
      '2 saved bans for one container (written in host mode) were not restored: this agent is not in host mode, and its enforcer would hold them for every client it guards; banhammer why ADDRESS shows them',
    ]);
    // A manual ban of the address here is a ban like any other (nothing of the old one stands in its way).
    await b.daemon.ban(ATTACKER, { forMs: null });
    expect([...b.enforcer.held.keys()].sort()).toEqual([ATTACKER, HOST_WIDE].sort());
    await b.daemon.stop();
    // Saved as ended: a later restart in host mode does not bring them back either.
    expect(store.doc!.bans.map((x) => `${x.ip} ${x.scope ?? '-'}`).sort()).toEqual([`${ATTACKER} -`, `${HOST_WIDE} -`].sort());
    expect(store.doc!.ended!.filter((x) => x.ended.reason === 'refused').map((x) => x.scope).sort()).toEqual([X, Y].sort());
  });

  it('host mode keeps them for their own container: with BANHAMMER_BAN_SCOPE=host, and for a container gone since', async () => {
    const store = await hostModeStore();
    // The contrast: out of host mode none of them is held.
    const plain = agent({ BANHAMMER_ENFORCER: 'iptables' }, store.copy());
    await plain.daemon.start();
    expect([...plain.enforcer.held.keys()]).toEqual([HOST_WIDE]);
    await plain.daemon.stop();

    const wide = agent({ BANHAMMER_BAN_SCOPE: 'host' }, store.copy());
    await wide.daemon.start();
    expect([...wide.enforcer.held.keys()].sort()).toEqual([`${ATTACKER} ${Y}`, `${MANUAL_X} ${X}`, HOST_WIDE].sort());
    expect(statusBans(wide.daemon)).toEqual([`${ATTACKER} ${Y}`, `${HOST_WIDE} -`, `${MANUAL_X} ${X}`].sort());
    await wide.daemon.stop();

    // Y removed since: its ban stays Y's (the enforcer holds it in Y's sets, where it blocks nothing), never host-wide.
    const gone = agent({}, store.copy(), [X]);
    await gone.daemon.start();
    expect([...gone.enforcer.held.keys()].sort()).toEqual([`${ATTACKER} ${Y}`, `${MANUAL_X} ${X}`, HOST_WIDE].sort());
    expect(gone.daemon.why(ATTACKER).active).toEqual([expect.objectContaining({ containerId: Y, container: 'web-y' })]);
    expect(gone.warnings.filter((w) => /not in host mode/.test(w))).toEqual([]);
    await gone.daemon.stop();
  });
});
