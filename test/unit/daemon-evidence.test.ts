/**
 * Evidence through the live agent's wiring (issue 14), with fakes: the lines of a flood end up in
 * the ban, `why` shows them with their file, an unban says who, a restart keeps both, and replay
 * --explain picks the same lines from the same log.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { replayFile } from '../../src/replay/replay.js';
import type { FilePosition, LineSource } from '../../src/source/line-source.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const line = (ip: string, t: number, path = '/forbidden/', status = 403) => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 199 "-" "curl/8.0"`;
const FILE = '/var/log/apache2/access.log';

class FakeSource implements LineSource {
  constructor(readonly onLine: (l: string, f: string) => void) {}
  emit(l: string, file = FILE): void {
    this.onLine(l, file);
  }
  async start() {}
  async stop() {}
  positions(): FilePosition[] {
    return [{ path: FILE, dev: '1', ino: '2', offset: 42 }];
  }
  lagBytes() {
    return 0;
  }
  stats() {
    return { files: 1, lines: 0, overlongLines: 0, rotations: 0, truncations: 0 };
  }
}

class MemoryStore {
  doc: DaemonState | null = null;
  async load() {
    return this.doc ? (JSON.parse(JSON.stringify(this.doc)) as DaemonState) : null;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function setup(env: Record<string, string> = {}, store = new MemoryStore(), at = Date.UTC(2026, 11, 2, 12, 0, 0)) {
  const clock = new ManualClock(at);
  const enforcer = new RecordingEnforcer();
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const config = loadConfig({ env: { BANHAMMER_IGNOREIP: '198.18.99.0/24', ...env }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: silent, enforcer, store, createSource, hostAddresses: [] });
  return { clock, enforcer, daemon, store, source: () => source };
}

describe('evidence in the live agent', () => {
  it('a ban keeps the lines of its window with their file; why shows them; an unban says who; a restart keeps both', async () => {
    const store = new MemoryStore();
    const a = setup({}, store);
    await a.daemon.start();
    const t = a.clock.now();
    // an older failure (30 s before, still inside findtime 1m when the window fills) and a 200 that is no failure
    a.source().emit(line('198.18.0.7', t - 30_000, '/forbidden/old'));
    a.clock.advance(20_000);
    a.source().emit(line('198.18.0.7', a.clock.now(), '/ok', 200));
    const flood = Array.from({ length: 5 }, (_, i) => line('198.18.0.7', a.clock.now(), `/forbidden/${i}`));
    // 4 failures: not banned yet, but why shows them as failing
    for (const l of flood.slice(0, 3)) a.source().emit(l);
    let why = a.daemon.why('198.18.0.7');
    expect(why.active).toEqual([]);
    expect(why.failing).toHaveLength(1);
    expect(why.failing[0]!.rule).toBe('forbidden');
    expect(why.failing[0]!.lines.map((l) => l.line)).toEqual([line('198.18.0.7', t - 30_000, '/forbidden/old'), ...flood.slice(0, 3)]);
    // the 5th counted failure bans (old + 3 + this one); the old line is still inside the window
    a.source().emit(flood[3]!);
    await settle();
    why = a.daemon.why('198.18.0.7');
    expect(why.active).toHaveLength(1);
    const ban = why.active[0]!;
    expect(ban).toMatchObject({ ip: '198.18.0.7', rule: 'forbidden', jail: 'forbidden', source: 'detected', failures: 5, nth: 1, ended: null, evidenceOmitted: 0 });
    expect(ban.evidence.map((l) => l.line)).toEqual([line('198.18.0.7', t - 30_000, '/forbidden/old'), ...flood.slice(0, 4)]);
    expect(ban.evidence.every((l) => l.file === FILE)).toBe(true);
    expect(ban.evidence[0]!.at).toBe(new Date(t - 30_000).toISOString());
    expect(why.failing).toEqual([]); // the window was emptied by the ban
    expect(a.daemon.status('forbidden').rules[0]!.withEvidence).toBe(1);

    // a manual ban says where it came from and has no lines
    await a.daemon.ban('198.18.0.8', { forMs: 3600_000 });
    expect(a.daemon.why('198.18.0.8').active[0]).toMatchObject({ source: 'manual', rule: 'manual', evidence: [] });
    expect(a.daemon.status('forbidden').rules[0]!.withEvidence).toBe(1);

    // unban: the history says by whom, and the lines go with it
    a.clock.advance(1000);
    expect(await a.daemon.unban('198.18.0.7')).toBe(1);
    why = a.daemon.why('198.18.0.7');
    expect(why.active).toEqual([]);
    expect(why.ended).toHaveLength(1);
    expect(why.ended[0]!.ended).toEqual({ reason: 'unbanned', at: new Date(a.clock.now()).toISOString(), by: 'control' });
    expect(why.ended[0]!.evidence).toHaveLength(5);
    await a.daemon.stop();

    // restart: the ended ban and the manual one come back with what they had
    const b = setup({}, store, a.clock.now() + 5000);
    await b.daemon.start();
    const again = b.daemon.why('198.18.0.7');
    expect(again.ended).toEqual(why.ended);
    expect(b.daemon.why('198.18.0.8').active).toHaveLength(1);
    expect(b.daemon.why('::ffff:198.18.0.7'.replace('::ffff:', '')).ended).toHaveLength(1);
    await b.daemon.stop();
  });

  it('a ban that expires while running, and the reload that allowlists another, are in the history', async () => {
    const a = setup({ BANHAMMER_BANTIME: '10s' });
    await a.daemon.start();
    for (let i = 0; i < 5; i++) a.source().emit(line('198.18.0.20', a.clock.now()));
    for (let i = 0; i < 5; i++) a.source().emit(line('198.18.0.21', a.clock.now()));
    await settle();
    const reloadTo = loadConfig({ env: { BANHAMMER_IGNOREIP: '198.18.99.0/24,198.18.0.21', BANHAMMER_BANTIME: '10s' }, hostname: 'unit' });
    a.daemon.reload(reloadTo);
    a.clock.advance(11_000);
    await settle();
    expect(a.daemon.why('198.18.0.20').ended.map((e) => e.ended)).toEqual([{ reason: 'expired', at: new Date(a.clock.now() - 1000).toISOString(), by: null }]);
    const w21 = a.daemon.why('198.18.0.21');
    expect(w21.allowlisted).toBe(true);
    expect(w21.ended.map((e) => [e.ended!.reason, e.ended!.by])).toEqual([['allowlisted', 'reload']]);
    expect(a.daemon.why('198.18.0.99')).toMatchObject({ active: [], ended: [], failing: [], allowlisted: false, historySize: 1000 });
    await a.daemon.stop();
  });

  it('BANHAMMER_BAN_HISTORY bounds the history; 0 keeps none', async () => {
    const a = setup({ BANHAMMER_BAN_HISTORY: '2' });
    await a.daemon.start();
    for (const n of [1, 2, 3]) {
      for (let i = 0; i < 5; i++) a.source().emit(line(`198.18.1.${n}`, a.clock.now()));
      await settle();
      await a.daemon.unban(`198.18.1.${n}`);
    }
    expect(a.daemon.why('198.18.1.1').ended).toEqual([]);
    expect(a.daemon.why('198.18.1.3').ended).toHaveLength(1);
    expect(a.store.doc!.ended!.map((e) => e.ip)).toEqual(['198.18.1.2', '198.18.1.3']);
    await a.daemon.stop();
  });

  it('replay --explain picks the same lines as the live agent from the same log', async () => {
    const t0 = Date.UTC(2026, 11, 2, 12, 0, 0);
    const log = [
      line('198.18.2.1', t0, '/forbidden/a'),
      line('198.18.2.2', t0 + 1000, '/ok', 200),
      ...Array.from({ length: 5 }, (_, i) => line('198.18.2.1', t0 + 2000 + i * 1000, `/forbidden/${i}`)),
      ...Array.from({ length: 5 }, (_, i) => line('2001:db8::21', t0 + 3000 + i * 1000, `/forbidden/v6-${i}`)),
    ];
    const dir = await mkdtemp(join(tmpdir(), 'bh-explain-'));
    try {
      const file = join(dir, 'access.log');
      await writeFile(file, `${log.join('\n')}\n`);
      const config = loadConfig({ env: {}, hostname: 'unit' });
      const report = await replayFile(file, config, { explain: true });
      const plain = await replayFile(file, config, {});
      expect(plain.bans.map((b) => b.evidence)).toEqual([undefined, undefined]);

      const live = setup({}, new MemoryStore(), t0 + 9000);
      await live.daemon.start();
      for (const l of log) live.source().emit(l, file);
      await settle();
      for (const rb of report.bans) {
        const lb = live.daemon.why(rb.ip).active[0]!;
        expect(rb.evidence!.map((l) => l.line)).toEqual(lb.evidence.map((l) => l.line));
        expect(rb.evidence!.every((l) => l.file === file)).toBe(true);
      }
      expect(report.bans[0]!.evidence!.map((l) => l.line)).toEqual([log[0], ...log.slice(2, 6)]);
      await live.daemon.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
