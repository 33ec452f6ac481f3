import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, constants, copyFileSync, openSync, renameSync, truncateSync, unlinkSync, writeFileSync, writeSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import type { FilePosition } from '../../../src/source/line-source.js';
import { Tailer, type TailerOptions } from '../../../src/source/tailer.js';

// Generous bounds: these wait for events that normally take milliseconds.
const WAIT = { timeout: 8000, interval: 10 };

let dir: string;
let tailers: Tailer[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-tail-'));
  tailers = [];
});
afterEach(async () => {
  for (const t of tailers) await t.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  t: Tailer;
  lines: string[];
  files: string[];
  errors: BanhammerError[];
  warnings: string[];
}

async function tail(paths: string[], opts: Partial<TailerOptions> = {}): Promise<Harness> {
  const h: Omit<Harness, 't'> = { lines: [], files: [], errors: [], warnings: [] };
  const t = new Tailer({
    paths,
    onLine: (l, f) => {
      h.lines.push(l);
      h.files.push(f);
    },
    onError: (e) => h.errors.push(e),
    onWarning: (m) => h.warnings.push(m),
    rotateWaitMs: 300,
    ...opts,
  });
  tailers.push(t);
  await t.start();
  return { t, ...h };
}

/** Waits until every byte written is read and no read is running, then checks the exact lines. */
async function expectExactly(h: Harness, want: string[]): Promise<void> {
  await vi.waitFor(() => expect(h.lines.length).toBeGreaterThanOrEqual(want.length), WAIT);
  await vi.waitFor(() => expect(h.t.lagBytes()).toBe(0), WAIT);
  await h.t.settle();
  expect(h.lines).toEqual(want);
  expect(h.errors).toEqual([]);
}

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const append = (file: string, lines: string[]) => appendFileSync(file, lines.map((l) => l + '\n').join(''));

describe('Tailer', () => {
  it('starts at the end of an existing file and delivers appended lines in order', async () => {
    const f = join(dir, 'access.log');
    append(f, ['old-1', 'old-2']);
    const h = await tail([f]);
    const want = range('new', 200);
    for (const l of want) append(f, [l]);
    await expectExactly(h, want);
    expect(new Set(h.files)).toEqual(new Set([f]));
    expect(h.t.stats()).toMatchObject({ files: 1, lines: 200, rotations: 0, truncations: 0 });
  });

  it('waits for a file that does not exist yet and reads it from its beginning', async () => {
    const f = join(dir, 'later', 'access.log');
    const h = await tail([f]);
    mkdirSync(join(dir, 'later'));
    append(f, ['first', 'second']);
    await expectExactly(h, ['first', 'second']);
  });

  it('survives rename rotation with writes to the old file after the rename: every line once', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f]);
    // Like Apache before its graceful reload: one descriptor keeps appending across the rename.
    const fd = openSync(f, 'a');
    const want: string[] = [];
    const w = (l: string) => {
      writeSync(fd, l + '\n');
      want.push(l);
    };
    for (const l of range('before', 50)) w(l);
    renameSync(f, f + '.1');
    for (const l of range('old-after-rename', 20)) w(l);
    append(f, range('new', 30));
    want.push(...range('new', 30));
    for (const l of range('old-late', 5)) w(l);
    closeSync(fd);
    await vi.waitFor(() => expect(h.lines.length).toBe(want.length), WAIT);
    await vi.waitFor(() => expect(h.t.lagBytes()).toBe(0), WAIT);
    await h.t.settle();
    expect([...h.lines].sort()).toEqual([...want].sort());
    // File order within each file is kept.
    expect(h.lines.filter((l) => l.startsWith('new'))).toEqual(range('new', 30));
    expect(h.lines.filter((l) => !l.startsWith('new'))).toEqual(want.filter((l) => !l.startsWith('new')));
    // The old file is released after rotateWaitMs without growth; lines keep flowing.
    await vi.waitFor(() => expect(h.t.positions()).toHaveLength(1), WAIT);
    append(f, ['after-drain']);
    await vi.waitFor(() => expect(h.lines.at(-1)).toBe('after-drain'), WAIT);
    expect(h.t.stats().rotations).toBe(1);
  });

  it('survives copytruncate: every line once', async () => {
    const f = join(dir, 'access.log');
    append(f, ['ignored-old']);
    const h = await tail([f]);
    append(f, range('a', 40));
    await vi.waitFor(() => expect(h.lines).toHaveLength(40), WAIT);
    copyFileSync(f, f + '.1');
    truncateSync(f, 0);
    append(f, range('b', 3));
    await expectExactly(h, [...range('a', 40), ...range('b', 3)]);
    expect(h.t.stats().truncations).toBe(1);
  });

  it('survives delete-and-recreate', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f]);
    append(f, range('a', 10));
    await vi.waitFor(() => expect(h.lines).toHaveLength(10), WAIT);
    unlinkSync(f);
    append(f, range('b', 10));
    await expectExactly(h, [...range('a', 10), ...range('b', 10)]);
  });

  it('resumes after stop/start from saved positions: lines written while stopped arrive once', async () => {
    const f = join(dir, 'access.log');
    append(f, ['history']);
    const h1 = await tail([f]);
    append(f, range('a', 10));
    await expectExactly(h1, range('a', 10));
    appendFileSync(f, 'partial-sta');
    await vi.waitFor(() => expect(h1.t.lagBytes()).toBe(0), WAIT);
    await h1.t.stop();
    const saved: FilePosition[] = JSON.parse(JSON.stringify(h1.t.positions()));
    expect(saved).toHaveLength(1);
    // The saved offset ends before the line that was written but not yet delivered.
    expect(saved[0]!.offset).toBe('history\n'.length + range('a', 10).join('\n').length + 1);
    append(f, range('while-stopped', 5));
    const h2 = await tail([f], { startPositions: saved });
    append(f, ['after']);
    await expectExactly(h2, ['partial-sta' + 'while-stopped-0', ...range('while-stopped', 5).slice(1), 'after']);
  });

  it('after a restart, finishes a file rotated while stopped, then reads the new one from its start', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h1 = await tail([f]);
    append(f, range('a', 5));
    await expectExactly(h1, range('a', 5));
    await h1.t.stop();
    const saved = h1.t.positions();
    append(f, range('old-rest', 3));
    renameSync(f, f + '.1');
    append(f, range('new', 4));
    const h2 = await tail([f], { startPositions: saved });
    await expectExactly(h2, [...range('old-rest', 3), ...range('new', 4)]);
    expect(h2.warnings).toEqual([]);
  });

  it('after a restart, warns when the rotated file is gone and reads the new file from its start', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h1 = await tail([f]);
    append(f, ['a']);
    await expectExactly(h1, ['a']);
    await h1.t.stop();
    const saved = h1.t.positions();
    append(f, ['lost']);
    rmSync(f);
    append(f, ['new-1']);
    const h2 = await tail([f], { startPositions: saved });
    await expectExactly(h2, ['new-1']);
    expect(h2.warnings).toHaveLength(1);
    expect(h2.warnings[0]).toContain(f);
    expect(h2.warnings[0]).toMatch(/were not read/);
  });

  it('resumes at 0 when the same file was truncated while stopped', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h1 = await tail([f]);
    append(f, range('a', 5));
    await expectExactly(h1, range('a', 5));
    await h1.t.stop();
    truncateSync(f, 0);
    append(f, ['x']);
    const h2 = await tail([f], { startPositions: h1.t.positions() });
    await expectExactly(h2, ['x']);
    expect(h2.warnings[0]).toMatch(/truncated while banhammer was stopped/);
  });

  it('picks up a new file matching a glob while running, from its beginning', async () => {
    mkdirSync(join(dir, 'c1'));
    const existing = join(dir, 'c1', 'c1-json.log');
    append(existing, ['old']);
    const h = await tail([join(dir, '*', '*-json.log')], { rescanIntervalMs: 200 });
    append(existing, ['c1-new']);
    await vi.waitFor(() => expect(h.lines).toEqual(['c1-new']), WAIT);
    mkdirSync(join(dir, 'c2'));
    const added = join(dir, 'c2', 'c2-json.log');
    append(added, ['c2-first', 'c2-second']);
    await vi.waitFor(() => expect(h.lines).toEqual(['c1-new', 'c2-first', 'c2-second']), WAIT);
    expect(h.files.slice(1)).toEqual([added, added]);
    append(added, ['c2-third']);
    await expectExactly(h, ['c1-new', 'c2-first', 'c2-second', 'c2-third']);
  });

  it('holds a partial line until its newline, and its position stays before it', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f]);
    appendFileSync(f, 'done\nhalf-a-li');
    await vi.waitFor(() => expect(h.lines).toEqual(['done']), WAIT);
    await vi.waitFor(() => expect(h.t.lagBytes()).toBe(0), WAIT);
    await h.t.settle();
    expect(h.lines).toEqual(['done']);
    expect(h.t.positions()[0]!.offset).toBe(5);
    appendFileSync(f, 'ne\r\n');
    await expectExactly(h, ['done', 'half-a-line']);
    expect(h.t.positions()[0]!.offset).toBe(5 + 'half-a-line\r\n'.length);
  });

  it('delivers a line longer than the cap cut to its head, and counts it', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f], { maxLineBytes: 1024 });
    appendFileSync(f, 'x'.repeat(300 * 1024));
    appendFileSync(f, 'y'.repeat(1000) + '\nok\n');
    await expectExactly(h, ['x'.repeat(1024), 'ok']);
    expect(h.t.stats().overlongLines).toBe(1);
  });

  it('still delivers everything with file watching disabled (poll fallback)', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f], { watchDir: null, pollIntervalMs: 50 });
    append(f, range('p', 20));
    renameSync(f, f + '.1');
    append(f, range('q', 5));
    await vi.waitFor(() => expect(h.lines).toHaveLength(25), WAIT);
    await h.t.settle();
    expect(h.lines).toEqual([...range('p', 20), ...range('q', 5)]);
  });

  it('refuses a directory given as a log file with one warning naming it and its type', async () => {
    const d = join(dir, 'not-a-file');
    mkdirSync(d);
    const h = await tail([d], { pollIntervalMs: 20 });
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toContain(d);
    expect(h.warnings[0]).toContain('directory');
    await new Promise((r) => setTimeout(r, 150)); // several polls: still one warning, no error
    expect(h.warnings).toHaveLength(1);
    expect(h.errors).toEqual([]);
    expect(h.t.stats().files).toBe(0);
  });
});

describe('Tailer: only regular files are opened', () => {
  /** Opening a FIFO read-write never blocks and releases any reader stuck in open(): cleanup for old code. */
  const release = (fifo: string) => closeSync(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));

  async function startWithin(t: Tailer, ms: number): Promise<'started' | 'blocked'> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      t.start().then(() => 'started' as const),
      new Promise<'blocked'>((ok) => (timer = setTimeout(() => ok('blocked'), ms))),
    ]);
    clearTimeout(timer);
    return r;
  }

  function make(paths: string[], h: { lines: string[]; warnings: string[]; errors: BanhammerError[] }): Tailer {
    return new Tailer({
      paths,
      onLine: (l) => h.lines.push(l),
      onError: (e) => h.errors.push(e),
      onWarning: (m) => h.warnings.push(m),
      rotateWaitMs: 300,
      pollIntervalMs: 50,
    });
  }

  it('a FIFO as log path: start() resolves at once, one warning names it, the other file is followed', async () => {
    const fifo = join(dir, 'fifo.log');
    const f = join(dir, 'access.log');
    execFileSync('mkfifo', [fifo]);
    writeFileSync(f, '');
    const h = { lines: [] as string[], warnings: [] as string[], errors: [] as BanhammerError[] };
    const t = make([fifo, f], h);
    try {
      expect(await startWithin(t, 2000)).toBe('started');
      tailers.push(t);
      expect(h.warnings).toHaveLength(1);
      expect(h.warnings[0]).toContain(fifo);
      expect(h.warnings[0]).toContain('FIFO');
      append(f, ['one', 'two']);
      await vi.waitFor(() => expect(h.lines).toEqual(['one', 'two']), WAIT);
      // A writer on the FIFO changes nothing: it is never read.
      const w = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      writeSync(w, 'from-the-fifo\n');
      await new Promise((r) => setTimeout(r, 200));
      closeSync(w);
      expect(h.lines).toEqual(['one', 'two']);
      expect(h.warnings).toHaveLength(1);
      expect(h.errors).toEqual([]);
      expect(t.stats().files).toBe(1);
    } finally {
      release(fifo);
    }
  });

  it('a FIFO matched by a glob: start() resolves, one warning names it, the regular match is followed', async () => {
    const fifo = join(dir, 'b-access.log');
    const f = join(dir, 'a-access.log');
    execFileSync('mkfifo', [fifo]);
    writeFileSync(f, '');
    const h = { lines: [] as string[], warnings: [] as string[], errors: [] as BanhammerError[] };
    const t = make([join(dir, '*access.log')], h);
    try {
      expect(await startWithin(t, 2000)).toBe('started');
      tailers.push(t);
      expect(h.warnings).toHaveLength(1);
      expect(h.warnings[0]).toContain(fifo);
      expect(h.warnings[0]).toContain('FIFO');
      append(f, ['x']);
      await vi.waitFor(() => expect(h.lines).toEqual(['x']), WAIT);
      expect(t.stats().files).toBe(1);
      expect(h.warnings).toHaveLength(1);
    } finally {
      release(fifo);
    }
  });

  it('a log path replaced by a FIFO while running: one warning, nothing blocks, a regular file there again is followed', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    const h = await tail([f], { pollIntervalMs: 30, rotateWaitMs: 100 });
    append(f, ['before']);
    await vi.waitFor(() => expect(h.lines).toEqual(['before']), WAIT);
    unlinkSync(f);
    execFileSync('mkfifo', [f]);
    try {
      await vi.waitFor(() => expect(h.warnings.some((w) => w.includes(f) && w.includes('FIFO'))).toBe(true), WAIT);
      await new Promise((r) => setTimeout(r, 150));
      expect(h.warnings).toHaveLength(1);
    } finally {
      release(f);
    }
    unlinkSync(f);
    append(f, ['after']);
    await vi.waitFor(() => expect(h.lines).toEqual(['before', 'after']), WAIT);
    expect(h.errors).toEqual([]);
  });
});

describe('Tailer glob hygiene', () => {
  it('warns when a glob also matches rotated files', async () => {
    const f = join(dir, 'access.log');
    writeFileSync(f, '');
    writeFileSync(f + '.1', '');
    writeFileSync(f + '.2.gz', '');
    const h = await tail([join(dir, 'access.log*')]);
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toContain('access.log.1');
    const quiet = await tail([join(dir, '*access.log')]);
    expect(quiet.warnings).toEqual([]);
  });
});
