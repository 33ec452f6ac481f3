/**
 * A log on a file system that gives a new file the inode number of the one it replaces (FUSE file
 * systems that number inodes themselves, overlay or network mounts that reuse numbers): the follower
 * told files apart by device and inode only, so a delete-and-recreate or a rename rotation there
 * looked like "the same file", it kept reading the old (deleted or renamed) descriptor, and every
 * line of the new file was lost, for good: the agent stopped counting anyone. The file system is
 * emulated by reporting one inode number for every file named access.log* in the test's directory
 * (path stat and descriptor stat alike); everything else is real. The follower must still see that
 * the file at the path is another one (the descriptor's file was unlinked, or it was born at another
 * time) and read it from its start, and a plain append must stay an append.
 */
import { appendFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import { Tailer } from '../../../src/source/tailer.js';

const emulated = vi.hoisted(() => ({ dir: '' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const ours = (p: unknown): boolean => typeof p === 'string' && emulated.dir !== '' && p.startsWith(emulated.dir) && /\/access\.log[^/]*$/.test(p);
  const sameIno = <T extends { ino: number | bigint }>(st: T): T => {
    Object.defineProperty(st, 'ino', { value: typeof st.ino === 'bigint' ? 4242n : 4242, enumerable: true, writable: true });
    return st;
  };
  const stat = (async (p: Parameters<typeof real.stat>[0], o?: Parameters<typeof real.stat>[1]) => {
    const st = await real.stat(p, o as never);
    return ours(p) ? sameIno(st) : st;
  }) as typeof real.stat;
  const lstat = (async (p: Parameters<typeof real.lstat>[0], o?: Parameters<typeof real.lstat>[1]) => {
    const st = await real.lstat(p, o as never);
    return ours(p) ? sameIno(st) : st;
  }) as typeof real.lstat;
  const open = (async (p: Parameters<typeof real.open>[0], ...rest: unknown[]) => {
    const fh = await (real.open as (...a: unknown[]) => ReturnType<typeof real.open>)(p, ...rest);
    if (ours(p)) {
      const own = fh.stat.bind(fh);
      Object.defineProperty(fh, 'stat', { value: async (o?: unknown) => sameIno(await own(o as never)) });
    }
    return fh;
  }) as typeof real.open;
  return { ...real, default: { ...real, stat, lstat, open }, stat, lstat, open };
});

const WAIT = { timeout: 6000, interval: 10 };
let dir: string;
let tailers: Tailer[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h6-ino-'));
  emulated.dir = dir;
  tailers = [];
});
afterEach(async () => {
  for (const t of tailers) await t.stop();
  emulated.dir = '';
  await rm(dir, { recursive: true, force: true });
});

async function tail(path: string) {
  const h = { lines: [] as string[], errors: [] as BanhammerError[], warnings: [] as string[] };
  const t = new Tailer({ paths: [path], onLine: (l) => h.lines.push(l), onError: (e) => h.errors.push(e), onWarning: (m) => h.warnings.push(m), rotateWaitMs: 300 });
  tailers.push(t);
  await t.start();
  return { t, ...h };
}

const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}-${i}`);
const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');

describe('a file system that reports one inode number for a new file', () => {
  it('control: appends are read once, in order', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before start\n');
    const h = await tail(f);
    appendFileSync(f, text(range('a', 20)));
    await vi.waitFor(() => expect(h.lines).toEqual(range('a', 20)), WAIT);
    appendFileSync(f, text(range('b', 5)));
    await vi.waitFor(() => expect(h.lines).toEqual([...range('a', 20), ...range('b', 5)]), WAIT);
    expect(h.errors).toEqual([]);
  });

  it('delete and re-create (shorter than what was read): the new file is read from its start', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before start\n');
    const h = await tail(f);
    appendFileSync(f, text(range('old', 50)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(50), WAIT);
    unlinkSync(f);
    writeFileSync(f, text(range('new', 3)));
    await vi.waitFor(() => expect(h.lines.slice(50)).toEqual(range('new', 3)), WAIT);
  });

  it('delete and re-create, the new file already longer than the old one: read from its start, every line once', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before start\n');
    const h = await tail(f);
    appendFileSync(f, text(range('old', 3)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(3), WAIT);
    unlinkSync(f);
    writeFileSync(f, text(range('new', 40)));
    await vi.waitFor(() => expect(h.lines.slice(3)).toEqual(range('new', 40)), WAIT);
    appendFileSync(f, text(['new-more']));
    await vi.waitFor(() => expect(h.lines.at(-1)).toBe('new-more'), WAIT);
    expect(h.lines).toEqual([...range('old', 3), ...range('new', 40), 'new-more']);
  });

  it('rename rotation (logrotate create): lines written to the renamed file are read, then the new file from its start', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before start\n');
    const h = await tail(f);
    appendFileSync(f, text(range('old', 10)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(10), WAIT);
    await new Promise((r) => setTimeout(r, 20)); // a later birth time for the new file
    renameSync(f, `${f}.1`);
    appendFileSync(`${f}.1`, text(['old-late'])); // the writer has not reopened yet
    writeFileSync(f, text(range('new', 5)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(16), WAIT);
    expect(h.lines.slice(0, 10)).toEqual(range('old', 10));
    expect(new Set(h.lines.slice(10))).toEqual(new Set(['old-late', ...range('new', 5)]));
    expect(h.lines.slice(10).filter((l) => l.startsWith('new'))).toEqual(range('new', 5));
  });
});
