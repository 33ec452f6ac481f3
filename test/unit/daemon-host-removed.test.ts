/**
 * Host mode, restart in between: bans restored for containers removed since can be lifted with
 * `unban --container` (full id, unique id prefix, or the name recorded with the ban), lifting that
 * container's bans only; an id prefix two of them share is refused, a reference that is neither a
 * container nor a scope the book holds is refused as before, and no new ban is made for a removed
 * container.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { FakeSource, RestartStore as Store } from '../fakes/agent-io.js';
import { containerConfig } from './docker/container-fixtures.js';

// R1 and R2 share their first 12 hex digits (and will be removed); L stays.
const R1 = 'd00dfeed0123' + '1'.repeat(52);
const R2 = 'd00dfeed0123' + '2'.repeat(52);
const L = 'e1'.repeat(32);
const IP = '198.19.160.9';


const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function agent(root: string, store: Store) {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new RecordingEnforcer();
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const config = loadConfig({ env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_DOCKER_CONTAINERS_DIR: root, BANHAMMER_INSTANCE: 'host' }, hostname: 'unit' });
  const daemon = new Daemon({ config, clock, logger: { debug() {}, info() {}, warn() {}, error() {} }, enforcer, store, createSource, hostAddresses: [] });
  return { daemon, enforcer };
}

/** Bans IP for R1, R2 and L, then restarts with R1 and R2 removed. */
async function restartedWithoutR(): Promise<ReturnType<typeof agent>> {
  const root = mkdtempSync(join(tmpdir(), 'bh-removed-'));
  roots.push(root);
  for (const [id, name] of [[R1, 'shop'], [R2, 'blog'], [L, 'live']] as const) {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: '198.19.161.2' } }));
  }
  const store = new Store();
  const first = agent(root, store);
  await first.daemon.start();
  for (const c of [R1, R2, L]) await first.daemon.ban(IP, { forMs: null, container: c });
  await first.daemon.stop({ removeFirewall: false });
  for (const id of [R1, R2]) rmSync(join(root, id), { recursive: true, force: true });
  const second = agent(root, store);
  await second.daemon.start();
  expect(second.enforcer.held.size).toBe(3);
  return second;
}

const keys = (e: RecordingEnforcer) => [...e.held.keys()].sort();
const message = (p: Promise<unknown>) => p.then(() => 'done', (e: Error) => e.message);

describe('unban --container of containers removed since their bans', () => {
  for (const [how, ref] of [['full id', R1], ['id prefix', R1.slice(0, 13)], ['recorded name', 'shop'], ['recorded name with Docker\'s slash', '/shop']] as const) {
    it(`by ${how}: lifts that container's ban only`, async () => {
      const a = await restartedWithoutR();
      expect(await a.daemon.unban(IP, { container: ref })).toBe(1);
      expect(keys(a.enforcer)).toEqual([`${IP} ${L}`, `${IP} ${R2}`].sort());
      await a.daemon.stop();
    });
  }

  it('refuses an id prefix two of them share, and lifts nothing', async () => {
    const a = await restartedWithoutR();
    expect(await message(a.daemon.unban(IP, { container: R1.slice(0, 12) }))).toMatch(/names more than one container .*nothing was done/);
    expect(a.enforcer.held.size).toBe(3);
    await a.daemon.stop();
  });

  it('refuses what is neither a container nor held, as before', async () => {
    const a = await restartedWithoutR();
    for (const ref of ['f'.repeat(64), 'f'.repeat(12), 'nobody']) expect(await message(a.daemon.unban(IP, { container: ref }))).toMatch(/^no container named/);
    // Lifted once: no longer held, so no longer a scope --container may name.
    expect(await a.daemon.unban(IP, { container: R2 })).toBe(1);
    expect(await message(a.daemon.unban(IP, { container: R2 }))).toMatch(/^no container named/);
    expect(keys(a.enforcer)).toEqual([`${IP} ${R1}`, `${IP} ${L}`].sort());
    await a.daemon.stop();
  });

  it('makes no new ban for a removed container, saying why', async () => {
    const a = await restartedWithoutR();
    expect(await message(a.daemon.ban('198.19.160.10', { forMs: null, container: R1 }))).toMatch(/is no longer in .*gets no new one/);
    expect(await message(a.daemon.ban('198.19.160.10', { forMs: null, container: 'f'.repeat(64) }))).toMatch(/^no container named/);
    expect(a.enforcer.held.size).toBe(3);
    // A container that is there is unchanged.
    await a.daemon.ban('198.19.160.10', { forMs: null, container: 'live' });
    expect(a.enforcer.held.has(`198.19.160.10 ${L}`)).toBe(true);
    await a.daemon.stop();
  });
});
