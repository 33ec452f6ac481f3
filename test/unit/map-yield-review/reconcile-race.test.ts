/**
 * H32: check()'s comparison with the ban book runs in slices (reconcileSteps) and keeps what
 * update() did meanwhile: the newer word. An unban of an address the list did not hold yet (the
 * book has it, the list missed it: the very thing the check re-adds) is such a word too, and two
 * checks asked for at once end with the book read last.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const v4 = (i: number): string => `198.${18 + ((i >>> 16) & 1)}.${(i >>> 8) & 255}.${i & 255}`;
const N = 60_000;
/**
 * Turns of the event loop until `ready` (the check's comparison under way), for at most 5 s: the
 * check reads the map's file first (the thread pool), which under a loaded machine takes longer than
 * any fixed count of turns (1,000 turns failed beside the whole unit tier).
 */
async function until(ready: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!ready() && Date.now() < end) await turn();
}

describe('reconcile racing update and another check', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h32-rec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function setup(): Promise<{ e: NginxMapEnforcer; path: string; bans: EnforcerBan[] }> {
    const clock = new ManualClock(Date.UTC(2026, 11, 6, 8, 0, 0));
    const path = join(dir, 'geo.conf');
    const e = new NginxMapEnforcer({ path, clock, runner: { run: async () => ({ stdout: '', stderr: '' }) } as never });
    await e.init();
    const bans: EnforcerBan[] = [];
    for (let i = 0; i < N; i++) bans.push({ ip: v4(i), family: 4, until: null } as EnforcerBan);
    e.map.update({ ban: bans, unban: [] });
    await e.map.write();
    return { e, path, bans };
  }

  it('an unban of an address the list lacks, made while the check runs, is not undone by the check', async () => {
    const { e, path, bans } = await setup();
    const x = '198.19.200.1';
    const book = [...bans, { ip: x, family: 4, until: null } as EnforcerBan];
    const checking = e.map.check(() => book);
    // Until the check's comparison is under way (it runs in slices of 8 ms: N entries take several).
    const readers = (e.map as unknown as { readers: Set<unknown> }).readers;
    await until(() => readers.size > 0);
    expect(readers.size).toBe(1);
    e.map.update({ ban: [], unban: [{ ip: x, family: 4 }] });
    await checking;
    await e.map.write();
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(`${x}/32`);
    expect(e.map.entries().some((m) => m.ip === x)).toBe(false);
  }, 15_000);

  it('of two checks asked for at once, the list ends as the book the later one read', async () => {
    const { e, path, bans } = await setup();
    const a = '198.19.200.2';
    const b = '198.19.200.3';
    // The first check reads a book with `a` (a big one: its comparison takes several slices); the
    // second, asked for meanwhile, reads the newer book: `a` unbanned, `b` banned.
    const first = e.map.check(() => [...bans, { ip: a, family: 4, until: null } as EnforcerBan]);
    const readers = (e.map as unknown as { readers: Set<unknown> }).readers;
    await until(() => readers.size > 0);
    expect(readers.size).toBe(1); // the first check's comparison is under way
    const second = e.map.check(() => [...bans, { ip: b, family: 4, until: null } as EnforcerBan]);
    await Promise.all([first, second]);
    const text = await readFile(path, 'utf8');
    expect(e.map.entries().length).toBe(N + 1);
    expect(text).toContain(`${b}/32`);
    expect(text).not.toContain(`${a}/32`);
  }, 15_000);
});
