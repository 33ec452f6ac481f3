/**
 * Leftover (1) of issue 10's round 4: the state file decides what the kernel drops, so a state
 * directory or file that another user could write lets that user plant bans (frame an address) or
 * remove them (unban on the next restart). The careful agent refuses such a file, says so in its log
 * and in `status`, and keeps running with an empty book.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, unsafeOwnership } from '../../../src/decide/state-store.js';
import { Daemon, type DaemonState } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { validateState } from '../../../src/run.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { NOW, settle } from '../seams-variants/harness.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const uid = process.geteuid!();
const doc: DaemonState = {
  bans: [{ ip: '198.18.7.7', family: 4, rule: 'forbidden', at: NOW - 1000, until: NOW + 3600_000, failures: 5, nth: 1 }] as unknown as DaemonState['bans'],
  history: [],
  ended: [],
  positions: [],
};

function store(dir: string, warnings: string[], o: { uid?: number } = {}) {
  return new StateStore<DaemonState>({ dir, name: 'state-unit', version: 1, validate: validateState, onWarning: (m) => warnings.push(m), clock: new ManualClock(NOW), ...o });
}

/** A state dir holding a valid state file written by the agent itself, then `prepare` changes owner or mode. */
async function planted(prepare: (dir: string, file: string) => void, o: { uid?: number } = {}) {
  const parent = mkdtempSync(join(tmpdir(), 'bh-h1-trust-'));
  roots.push(parent);
  const dir = join(parent, 'state');
  const warnings: string[] = [];
  const s = store(dir, warnings, o);
  await s.save(doc);
  prepare(dir, s.file);
  const fresh = store(dir, warnings, o);
  const loaded = await fresh.load();
  return { loaded, warnings, fresh, dir };
}

describe.skipIf(uid !== 0)('a state file that someone else could have written is not restored', () => {
  it('control: our own 0600 file in a 0700 directory loads', async () => {
    const r = await planted(() => {});
    expect(r.loaded?.bans.map((b) => b.ip)).toEqual(['198.18.7.7']);
    expect(r.fresh.refused).toBeNull();
  });

  it('control: a root-owned 0755 directory (a Docker volume) and a 1777 sticky one still load our file', async () => {
    expect((await planted((d) => chmodSync(d, 0o755))).loaded).not.toBeNull();
    expect((await planted((d) => chmodSync(d, 0o1777))).loaded).not.toBeNull();
  });

  for (const [name, prepare] of [
    ['file mode 0666 (anyone may rewrite it)', (_d: string, f: string) => chmodSync(f, 0o666)],
    ['file mode 0620 (its group may rewrite it)', (_d: string, f: string) => chmodSync(f, 0o620)],
    ['file owned by another user (planted)', (_d: string, f: string) => chownSync(f, 4242, 4242)],
    ['directory mode 0777 without sticky bit (anyone may replace the file)', (d: string) => chmodSync(d, 0o777)],
    ['directory mode 0770 (its group may replace the file)', (d: string) => chmodSync(d, 0o770)],
    ['directory owned by another user', (d: string) => chownSync(d, 4242, 4242)],
  ] as const) {
    it(name, async () => {
      const r = await planted(prepare);
      expect(r.loaded).toBeNull();
      expect(r.fresh.refused).toMatch(/not restored/);
      expect(r.warnings.join('\n')).toMatch(/(owned by uid 4242|writable by)/);
      // Set aside as evidence, not deleted, and not left at the name the next start reads.
      expect(readdirSync(r.dir).some((n) => n.startsWith('state-unit.corrupt-'))).toBe(true);
      expect(readdirSync(r.dir)).not.toContain('state-unit.json');
    });
  }

  it('an agent running as another user: a root-owned directory is fine, a root-owned file is not its own', async () => {
    const ok = await planted((d, f) => { chownSync(f, 4242, 4242); chmodSync(d, 0o755); }, { uid: 4242 });
    expect(ok.loaded).not.toBeNull();
    const bad = await planted(() => {}, { uid: 4242 });
    expect(bad.loaded).toBeNull();
  });

  it('unsafeOwnership names the writer', () => {
    expect(unsafeOwnership({ uid: 0, mode: 0o100602 }, 0, { rootMayOwn: false, stickyHelps: false })).toMatch(/others \(mode 0602\)/);
    expect(unsafeOwnership({ uid: 0, mode: 0o41777 }, 0, { rootMayOwn: true, stickyHelps: true })).toBeNull();
  });

  it('the agent: the planted ban never reaches the kernel, the log warns and status says why', async () => {
    const r = await planted((_d, f) => chmodSync(f, 0o666));
    // A daemon over a store of that directory, as runAgent builds it.
    const warnings: string[] = [];
    const s = store(r.dir, warnings);
    // The set-aside file is the only copy: put a world-writable one back at the name.
    await s.save(doc);
    chmodSync(s.file, 0o666);
    const enforcer = new RecordingEnforcer();
    const logged: string[] = [];
    const d = new Daemon({
      config: loadConfig({ env: {}, hostname: 'unit' }),
      clock: new ManualClock(NOW),
      logger: { debug() {}, info() {}, error() {}, warn: (_o: object, m?: string) => void logged.push(m ?? '') },
      enforcer,
      store: s,
      createSource: (x) => new FakeSource(x.onLine),
      hostAddresses: [],
    });
    await d.start();
    await settle();
    expect([...enforcer.held.keys()]).toEqual([]);
    expect(warnings.join('\n')).toMatch(/is refused: it is writable by its group and others \(mode 0666\)/);
    // (health.stateRefused once /tmp/h1/status-state-refused.patch gives it a field of its own.)
    const h = d.status().health as { stateError: string | null; stateRefused?: string };
    expect(h.stateRefused ?? h.stateError).toMatch(/writable by its group and others.*not restored/);
    await d.stop();
  });

  it('a state file of a newer version (a downgrade) is set aside, and status says its bans were not restored', async () => {
    const r = await planted((_d, f) => {
      const text = readFileSync(f, 'utf8');
      writeFileSync(f, text.replace('"version":1', '"version":2'), { mode: 0o600 });
    });
    expect(r.loaded).toBeNull();
    expect(r.fresh.refused).toMatch(/version 2, expected 1.*not restored/);
  });
});
