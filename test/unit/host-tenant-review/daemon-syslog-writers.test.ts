/**
 * Host mode, hostile tenants (review H22), in the daemon: a syslog line whose tag more than one
 * container may have written (a tenant copied another's tag, or chose a template that cannot be
 * rendered such as {{.ImageName}}) counts at each of those containers, never host-wide, where one
 * tenant's lines would ban a client at every container of the host.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { validateState } from '../../../src/run.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { containerConfig } from '../docker/container-fixtures.js';

const A = 'a1'.repeat(32); // the attacker's container (syslog driver, a tag of its choosing)
const B = '3f'.repeat(32); // the victim's container (syslog driver, tag {{.Name}}: "shop")
const C = 'c3'.repeat(32); // a bystander (json-file)
const CLIENT = '198.19.150.66';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const access = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void, readonly startPositions: FilePosition[]) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
}

class MemoryStore {
  doc: DaemonState | null = null;
  async load() { return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null; }
  async save(d: DaemonState) { this.doc = JSON.parse(JSON.stringify(d)); }
}

const settle = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function setup(attackerTag: string) {
  const root = mkdtempSync(join(tmpdir(), 'bh-h22-daemon-'));
  roots.push(root);
  const put = (id: string, name: string, addr: string, driver: string, tag?: string) => {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
    writeFileSync(join(root, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: driver, Config: tag === undefined ? {} : { tag } } }));
  };
  put(A, 'evil', '198.19.151.2', 'syslog', attackerTag);
  put(B, 'shop', '198.19.151.3', 'syslog', '{{.Name}}');
  put(C, 'blog', '198.19.151.4', 'json-file');
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine, o.startPositions));
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const config = loadConfig({
    env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log,/var/log/bh-h22-syslog`, BANHAMMER_DOCKER_CONTAINERS_DIR: root, BANHAMMER_INSTANCE: 'host' },
    hostname: 'unit',
  });
  const daemon = new Daemon({ config, clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  const syslog = (tag: string, line: string) => source.onLine(`<30>Nov 23 10:00:00 ${tag}[1]: ${line}`, '/var/log/bh-h22-syslog');
  return { clock, enforcer, daemon, syslog };
}

describe('syslog lines several containers may have written (daemon)', () => {
  it("a tenant's lines under a tag no template here renders ban at its own container, not host-wide", async () => {
    const { clock, enforcer, daemon, syslog } = setup('{{.ImageName}}');
    await daemon.start();
    for (let i = 0; i < 5; i++) syslog('nginx', access(CLIENT, clock.now()));
    await settle();
    expect([...enforcer.held.keys()]).toEqual([`${CLIENT} ${A}`]);
    await daemon.stop();
  });

  it("lines under a tag a tenant copied count at both writers, never at the bystander or host-wide", async () => {
    const { clock, enforcer, daemon, syslog } = setup('shop');
    await daemon.start();
    for (let i = 0; i < 5; i++) syslog('shop', access(CLIENT, clock.now()));
    await settle();
    expect([...enforcer.held.keys()].sort()).toEqual([`${CLIENT} ${A}`, `${CLIENT} ${B}`].sort());
    await daemon.stop();
  });
});
