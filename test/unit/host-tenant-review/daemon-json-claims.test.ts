/**
 * Host mode, hostile tenants (review H22), in the daemon: what a tenant prints into its own json-file
 * log (a syslog frame carrying another container's tag, a vhost-first layout naming another site, a
 * JSON record inside the message) counts at its own container only, never at another one nor
 * host-wide. The json-file path is Docker's: nothing a tenant prints can change it.
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

const A = 'a1'.repeat(32); // the tenant printing claims
const B = '3f'.repeat(32); // "shop": syslog driver, tag {{.Name}}
const CLIENT = '198.19.150.66';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const access = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl"`;
const record = (text: string, t: number) => JSON.stringify({ log: `${text}\n`, stream: 'stdout', time: new Date(t).toISOString() });

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void, readonly startPositions: FilePosition[]) {}
  async start() {}
  async stop() {}
  positions(): FilePosition[] { return []; }
  lagBytes() { return 0; }
  stats() { return { files: 2, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 }; }
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

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'bh-h22-json-'));
  roots.push(root);
  const put = (id: string, name: string, addr: string, driver: string, tag?: string) => {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
    writeFileSync(join(root, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: driver, Config: tag === undefined ? {} : { tag } } }));
  };
  put(A, 'evil', '198.19.151.2', 'json-file');
  put(B, 'shop', '198.19.151.3', 'syslog', '{{.Name}}');
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine, o.startPositions));
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const config = loadConfig({
    env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host' },
    hostname: 'unit',
  });
  const daemon = new Daemon({ config, clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  const emitA = (text: string) => source.onLine(record(text, clock.now()), join(root, A, `${A}-json.log`));
  return { clock, enforcer, daemon, emitA };
}

describe("a tenant's json-file lines that claim another container", () => {
  it('(the harness: plain access lines of A ban at A)', async () => {
    const { clock, enforcer, daemon, emitA } = setup();
    await daemon.start();
    for (let i = 0; i < 6; i++) emitA(access(CLIENT, clock.now()));
    await settle();
    expect([...enforcer.held.keys()]).toEqual([`${CLIENT} ${A}`]);
    await daemon.stop();
  });

  it.each([
    ['a syslog frame with the other container tag', (t: number) => `<30>Nov 23 10:00:00 shop[1]: ${access(CLIENT, t)}`],
    ['a vhost-first layout naming the other site', (t: number) => `shop.example:443 ${access(CLIENT, t)}`],
    ['a Docker record nested in the message', (t: number) => record(access(CLIENT, t), t)],
  ])('%s never bans at that container nor host-wide', async (_what, line) => {
    const { clock, enforcer, daemon, emitA } = setup();
    await daemon.start();
    for (let i = 0; i < 6; i++) emitA(line(clock.now()));
    await settle();
    // Counted at A if read at all (the vhost layout is an access line: A's ban), never elsewhere.
    expect([...enforcer.held.keys()].filter((k) => k !== `${CLIENT} ${A}`)).toEqual([]);
    await daemon.stop();
  });
});
