/**
 * Stall review (H34): `banhammer status` over the control socket built the report of every ban and
 * rendered it (one JSON.stringify) in one block: 0.75 s at 500,000 bans, during which the agent read
 * no line and lifted no ban. The report is now built in slices (statusInSlices) and rendered in
 * slices, with the same answer. Counted: the bans the report reads between two turns of the event
 * loop (the daemon's firewall state is asked once per listed ban; performance.now() is made to move
 * 10 ms per reading, so that a time slice is one step), and JSON.stringify's inputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { encodeRequest, encodeResponse, PROTOCOL_VERSION } from '../../../src/control/protocol.js';
import { STEP_UNITS } from '../../../src/yielding.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const N = 12_000;
const v6 = (i: number) => `2001:db8::${((i >>> 16) + 1).toString(16)}:${(i & 0xffff).toString(16)}`;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function agent() {
  const clock = new ManualClock(T0);
  const store = new MemoryStore();
  const bans = [];
  for (let i = 0; i < N; i++) bans.push({ ip: v6(i), family: 6, rule: i % 4 === 0 ? 'manual' : 'forbidden', at: T0 - 1000, until: i % 3 === 0 ? null : T0 + 3600_000 + i, failures: 5, nth: 1, manual: i % 4 === 0 });
  store.doc = { bans, history: [], ended: [], positions: [] } as unknown as DaemonState;
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAX_BANS: '100000' }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: quiet, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [], reloadConfig: () => config });
  await daemon.start();
  cleanup.push(() => daemon.stop({ removeFirewall: false }));
  const dir = mkdtempSync(join(tmpdir(), 'bh-stall-status-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'control.sock');
  const server: ControlServer = await startControlServer({ socketPath, handler: daemon });
  cleanup.push(() => server.close());
  const ask = (req: object): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = createConnection(socketPath);
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        if (d[d.length - 1] === 10) {
          c.end();
          resolve(Buffer.concat(chunks).toString('utf8'));
        }
      });
      c.on('error', reject);
      c.write(encodeRequest(req as never));
    });
  return { daemon, ask };
}

describe('status over the control socket in slices (stall review)', () => {
  for (const rule of [undefined, 'forbidden', 'manual']) {
    it(`status${rule === undefined ? '' : ` ${rule}`}: the same answer, never more than about ${STEP_UNITS} bans read in one turn, never rendered in one JSON.stringify`, async () => {
      const a = await agent();
      const expected = encodeResponse({ v: PROTOCOL_VERSION, ok: true, result: a.daemon.status(rule) } as never);
      // Per turn of the event loop: the bans the report asked the firewall state of.
      let reads = 0;
      let most = 0;
      const d = a.daemon as unknown as { firewallState: (b: unknown) => unknown };
      const state = d.firewallState;
      d.firewallState = (b) => {
        reads++;
        most = Math.max(most, reads);
        return state(b);
      };
      let stop = false;
      const probe = (): void => {
        reads = 0;
        if (!stop) setImmediate(probe);
      };
      setImmediate(probe);
      const stringify = JSON.stringify;
      let whole = false;
      vi.spyOn(JSON, 'stringify').mockImplementation(((v: unknown, ...rest: unknown[]) => {
        if ((v as { result?: { rules?: unknown } } | null)?.result?.rules !== undefined) whole = true;
        return (stringify as (...x: unknown[]) => string)(v, ...rest);
      }) as typeof JSON.stringify);
      // A clock that moves 10 ms at every reading: every pause point of a step function ends its slice
      // (runYielding slices by time; this makes a slice one step, STEP_UNITS units, on any machine).
      let fake = performance.now();
      vi.spyOn(performance, 'now').mockImplementation(() => (fake += 10));
      const got = await a.ask(rule === undefined ? { op: 'status' } : { op: 'status', rule });
      stop = true;
      vi.restoreAllMocks();
      expect(whole).toBe(false);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(STEP_UNITS + 1);
      // The same answer (the clock is a ManualClock: `now` and every `until` are the same).
      expect(got).toBe(expected);
    });
  }

  it('a small status and brief status are answered as before', async () => {
    const a = await agent();
    const brief = JSON.parse(await a.ask({ op: 'status', brief: true })) as { result: { rules: { name: string; currentlyBanned: number; bannedIps: string[] }[] } };
    expect(brief.result.rules.map((r) => [r.name, r.currentlyBanned, r.bannedIps.length])).toEqual([
      ['forbidden', N - N / 4, 0],
      ['manual', N / 4, 0],
    ]);
  });
});
