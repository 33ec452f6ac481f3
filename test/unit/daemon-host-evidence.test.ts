/**
 * Evidence in host mode (issue 14): a ban scoped to one container keeps the Docker json-file lines of
 * that container's log, `why` names the container (jail `rule@name`), and failures pending in the
 * other container are shown apart.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { formatWhy } from '../../src/control/format-why.js';
import { validateState } from '../../src/run.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { containerConfig } from './docker/container-fixtures.js';

const X = 'c1'.repeat(32);
const Y = 'c2'.repeat(32);
const ATTACKER = '198.19.150.77';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const jsonLine = (ip: string, t: number, path: string) =>
  JSON.stringify({ log: `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" 403 10 "-" "curl"\n`, stream: 'stdout', time: new Date(t).toISOString() });

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
    return { files: 2, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 };
  }
}

class MemoryStore {
  doc: DaemonState | null = null;
  async load() {
    return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('evidence in host mode', () => {
  it('a ban for one container keeps that container’s json-file lines and names the container', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bh-host-ev-'));
    roots.push(root);
    for (const [id, name, addr] of [[X, 'web-x', '198.19.151.2'], [Y, 'web-y', '198.19.151.3']] as const) {
      mkdirSync(join(root, id));
      writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
    }
    const clock = new ManualClock(Date.UTC(2026, 11, 2, 12, 0, 0));
    let source!: FakeSource;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const config = loadConfig({ env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_INSTANCE: 'host' }, hostname: 'unit' });
    const store = new MemoryStore();
    const daemon = new Daemon({ config, clock, logger: { debug() {}, info() {}, warn() {}, error() {} }, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });
    await daemon.start();
    const logOf = (id: string) => join(root, id, `${id}-json.log`);
    const xLines = Array.from({ length: 5 }, (_, i) => jsonLine(ATTACKER, clock.now(), `/x${i}`));
    for (const l of xLines) source.onLine(l, logOf(X));
    source.onLine(jsonLine(ATTACKER, clock.now(), '/y0'), logOf(Y));
    await settle();
    const why = daemon.why(ATTACKER);
    expect(why.active).toHaveLength(1);
    expect(why.active[0]).toMatchObject({ jail: 'forbidden@web-x', container: 'web-x', containerId: X });
    expect(why.active[0]!.evidence.map((l) => [l.file, l.line])).toEqual(xLines.map((l) => [logOf(X), l]));
    expect(why.failing).toEqual([{ rule: 'forbidden', container: 'web-y', containerId: Y, lines: [expect.objectContaining({ file: logOf(Y), line: jsonLine(ATTACKER, clock.now(), '/y0') })] }]);
    const text = formatWhy(why);
    expect(text).toContain('|  `- Jail:\tforbidden@web-x\n');
    expect(text).toContain(`Container:\tweb-x (${X.slice(0, 12)})`);
    expect(text).toContain('`- forbidden@web-y:\t1 failure not banned (yet)');
    await daemon.stop();
    expect(store.doc!.bans[0]!.evidence).toHaveLength(5);
  });
});
