/**
 * Rotation tools and accidents the tailer meets, beyond those round 3 covered:
 *   - the followed file replaced by a directory or a unix socket (a bind mount gone wrong, a log
 *     shipper's socket put at the path): one warning naming the type, nothing blocks or throws, the
 *     old file's last lines are read, and a regular file there again is read from its start;
 *   - Apache's rotatelogs -t (truncates the one file at each interval instead of renaming it), with
 *     the file written past the old offset again before the tailer looks: no line lost;
 *   - cronolog-style dated names under a glob: each new day's file is read from its start, once.
 */
import { appendFileSync, mkdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import { Tailer } from '../../../src/source/tailer.js';

const WAIT = { timeout: 8000, interval: 10 };
let dir: string;
let tailers: Tailer[];
let servers: Server[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h6-repl-'));
  tailers = [];
  servers = [];
});
afterEach(async () => {
  for (const t of tailers) await t.stop();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

async function tail(paths: string[]) {
  const h = { lines: [] as string[], errors: [] as BanhammerError[], warnings: [] as string[] };
  const t = new Tailer({ paths, onLine: (l) => h.lines.push(l), onError: (e) => h.errors.push(e), onWarning: (m) => h.warnings.push(m), rotateWaitMs: 300 });
  tailers.push(t);
  await t.start();
  return { t, ...h };
}
const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}-${i}`);
const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the followed path replaced by another kind of file', () => {
  it.each(['directory', 'socket'] as const)('a %s: one warning naming it, no error, and a regular file there again is read from its start', async (kind) => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before\n');
    const h = await tail([f]);
    appendFileSync(f, text(range('old', 5)));
    await vi.waitFor(() => expect(h.lines).toEqual(range('old', 5)), WAIT);
    unlinkSync(f);
    if (kind === 'directory') mkdirSync(f);
    else {
      const srv = createServer(() => {});
      servers.push(srv);
      await new Promise<void>((r) => srv.listen(f, r));
    }
    await vi.waitFor(() => expect(h.warnings.join('\n')).toMatch(kind === 'directory' ? /directory/ : /socket/), WAIT);
    await sleep(1500); // several polls: still one warning, nothing thrown
    expect(h.warnings.filter((w) => w.includes(kind))).toHaveLength(1);
    expect(h.errors).toEqual([]);
    if (kind === 'directory') rmSync(f, { recursive: true });
    else {
      await new Promise((r) => servers.pop()!.close(r));
      rmSync(f, { force: true });
    }
    writeFileSync(f, text(range('new', 4)));
    await vi.waitFor(() => expect(h.lines).toEqual([...range('old', 5), ...range('new', 4)]), WAIT);
    expect(h.errors).toEqual([]);
  });
});

describe('rotation tools', () => {
  it('rotatelogs -t: the file truncated at the interval and written past the old offset before the next look: every line once', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f]);
    appendFileSync(f, text(range('gen1', 10)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(10), WAIT);
    await h.t.settle();
    // Truncation and a longer burst in one go (no await between: the tailer cannot look in between).
    truncateSync(f, 0);
    appendFileSync(f, text(range('gen2-longer-line', 30)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(40), WAIT);
    expect(h.lines).toEqual([...range('gen1', 10), ...range('gen2-longer-line', 30)]);
    expect(h.errors).toEqual([]);
  });

  it('cronolog-style dated names under a glob: each new file is read from its start, once', async () => {
    const glob = join(dir, 'access-*.log');
    writeFileSync(join(dir, 'access-20261204.log'), 'yesterday, before start\n');
    const h = await tail([glob]);
    appendFileSync(join(dir, 'access-20261204.log'), text(range('d4', 3)));
    await vi.waitFor(() => expect(h.lines).toEqual(range('d4', 3)), WAIT);
    writeFileSync(join(dir, 'access-20261205.log'), text(range('d5', 3)));
    appendFileSync(join(dir, 'access-20261204.log'), text(['d4-late']));
    await vi.waitFor(() => expect(h.lines).toHaveLength(7), WAIT);
    expect(new Set(h.lines)).toEqual(new Set([...range('d4', 3), 'd4-late', ...range('d5', 3)]));
    expect(h.lines.filter((l) => l.startsWith('d5'))).toEqual(range('d5', 3));
    expect(h.errors).toEqual([]);
  });
});
