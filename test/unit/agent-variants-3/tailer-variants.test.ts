/**
 * Audit of issue 3 (tailing), round 1 of variants (helper H3). The issue: "Detection latency must not
 * be bound by a 1 s poll"; survive rotation "with no line lost or read twice"; resume "from the saved
 * read position after a restart". README: lines not read yet when a copytruncate happened are read
 * from the copy. Latency cases set the fallback poll to 60 s, so only file events can deliver in time.
 */
import { appendFileSync, closeSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FilePosition } from '../../../src/source/line-source.js';
import { Tailer, type TailerOptions } from '../../../src/source/tailer.js';

const dirs: string[] = [];
const tailers: Tailer[] = [];
afterEach(async () => {
  for (const t of tailers.splice(0)) await t.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-h3-'));
  dirs.push(d);
  return d;
}
const FAST = { timeout: 1500, interval: 10 };
const SLOW = { timeout: 5000, interval: 10 };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function follow(paths: string[], opts: Partial<TailerOptions> = {}) {
  const lines: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const t = new Tailer({
    paths,
    onLine: (x) => lines.push(x),
    onWarning: (w) => warnings.push(w),
    onError: (e) => errors.push(e.message),
    rotateWaitMs: 300,
    pollIntervalMs: 60_000,
    rescanIntervalMs: 60_000,
    ...opts,
  });
  tailers.push(t);
  await t.start();
  await t.settle();
  return { t, lines, warnings, errors };
}

describe('latency: file events, not the poll, deliver the line', () => {
  it('a log path that is a symlink to a file in another directory (a log on a volume)', async () => {
    const d = tmp();
    mkdirSync(join(d, 'volume'));
    mkdirSync(join(d, 'log'));
    writeFileSync(join(d, 'volume', 'access.log'), 'old\n');
    symlinkSync(join(d, 'volume', 'access.log'), join(d, 'log', 'access.log'));
    const h = await follow([join(d, 'log', 'access.log')]);
    await pause(150);
    appendFileSync(join(d, 'volume', 'access.log'), 'new-1\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['new-1']), FAST);
    appendFileSync(join(d, 'volume', 'access.log'), 'new-2\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['new-1', 'new-2']), FAST);
  });

  it('a glob over symlinks into other directories (Kubernetes /var/log/containers/*.log → /var/log/pods/…)', async () => {
    const d = tmp();
    mkdirSync(join(d, 'pods', 'web'), { recursive: true });
    mkdirSync(join(d, 'containers'));
    writeFileSync(join(d, 'pods', 'web', '0.log'), 'old\n');
    symlinkSync(join(d, 'pods', 'web', '0.log'), join(d, 'containers', 'web.log'));
    const h = await follow([join(d, 'containers', '*.log')]);
    await pause(150);
    appendFileSync(join(d, 'pods', 'web', '0.log'), 'new\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['new']), FAST);
  });

  it('a symlink re-pointed to a file in a third directory: the new target is watched, every line once', async () => {
    const d = tmp();
    for (const x of ['v1', 'v2', 'log']) mkdirSync(join(d, x));
    writeFileSync(join(d, 'v1', 'a.log'), 'x\n');
    symlinkSync(join(d, 'v1', 'a.log'), join(d, 'log', 'access.log'));
    const h = await follow([join(d, 'log', 'access.log')]);
    await pause(150);
    appendFileSync(join(d, 'v1', 'a.log'), 'a1\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a1']), FAST);
    writeFileSync(join(d, 'v2', 'b.log'), 'b1\n');
    symlinkSync(join(d, 'v2', 'b.log'), join(d, 'log', 'tmp.lnk'));
    renameSync(join(d, 'log', 'tmp.lnk'), join(d, 'log', 'access.log'));
    await vi.waitFor(() => expect(h.lines).toEqual(['a1', 'b1']), FAST);
    await pause(150);
    appendFileSync(join(d, 'v2', 'b.log'), 'b2\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a1', 'b1', 'b2']), FAST);
    await pause(500); // the old target drained and closed: nothing read twice
    expect(h.lines).toEqual(['a1', 'b1', 'b2']);
  });

  it('a log whose directory does not exist yet: created later, its first line is read at once', async () => {
    const d = tmp();
    const h = await follow([join(d, 'later', 'access.log')]);
    await pause(150);
    mkdirSync(join(d, 'later'));
    writeFileSync(join(d, 'later', 'access.log'), 'first\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['first']), FAST);
  });

  it('a log two directory levels below what exists (mkdir -p), then appended to', async () => {
    const d = tmp();
    const h = await follow([join(d, 'a', 'b', 'access.log')]);
    await pause(150);
    mkdirSync(join(d, 'a', 'b'), { recursive: true });
    writeFileSync(join(d, 'a', 'b', 'access.log'), 'first\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['first']), FAST);
    await pause(100);
    appendFileSync(join(d, 'a', 'b', 'access.log'), 'second\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['first', 'second']), FAST);
  });
});

describe('latency after the log directory was removed and made again', () => {
  it('later lines still arrive by events, not at the 1 s poll (each within 300 ms)', async () => {
    const d = tmp();
    mkdirSync(join(d, 'logs'));
    const f = join(d, 'logs', 'access.log');
    writeFileSync(f, '');
    const h = await follow([f], { pollIntervalMs: 1000, rotateWaitMs: 200 });
    appendFileSync(f, 'a\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a']), FAST);
    rmSync(join(d, 'logs'), { recursive: true });
    await pause(2500); // the poll has seen it gone, the old file is finished
    mkdirSync(join(d, 'logs'));
    writeFileSync(f, 'b\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a', 'b']), FAST);
    for (let i = 0; i < 5; i++) {
      await pause(137);
      appendFileSync(f, `c${i}\n`);
      await vi.waitFor(() => expect(h.lines).toContain(`c${i}`), { timeout: 300, interval: 5 });
    }
    expect(h.lines).toEqual(['a', 'b', 'c0', 'c1', 'c2', 'c3', 'c4']);
  }, 15_000);
});

describe('copytruncate while the agent was stopped: unread lines come from the copy', () => {
  async function firstRun(f: string): Promise<FilePosition[]> {
    writeFileSync(f, '');
    const h = await follow([f], { pollIntervalMs: 100 });
    appendFileSync(f, 'a-0\na-1\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a-0', 'a-1']), SLOW);
    await h.t.stop();
    return JSON.parse(JSON.stringify(h.t.positions())) as FilePosition[];
  }

  it('truncated shorter than the saved position: the copy is read on from it, then the file', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    const saved = await firstRun(f);
    appendFileSync(f, 'a-2\na-3\n'); // written while stopped, never read
    copyFileSync(f, `${f}.1`);
    truncateSync(f, 0);
    appendFileSync(f, 'b-0\n');
    const h = await follow([f], { startPositions: saved, pollIntervalMs: 100 });
    await vi.waitFor(() => expect(h.lines).toEqual(['a-2', 'a-3', 'b-0']), SLOW);
    await pause(500);
    expect(h.lines).toEqual(['a-2', 'a-3', 'b-0']);
  });

  it('truncated and written past the saved position again: the same', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    const saved = await firstRun(f);
    appendFileSync(f, 'a-2\n');
    copyFileSync(f, `${f}-20261205`);
    truncateSync(f, 0);
    appendFileSync(f, 'b-0\nb-1\nb-2\nb-3\n'); // longer than the saved offset
    const h = await follow([f], { startPositions: saved, pollIntervalMs: 100 });
    await vi.waitFor(() => expect(h.lines).toEqual(['a-2', 'b-0', 'b-1', 'b-2', 'b-3']), SLOW);
    await pause(500);
    expect(h.lines).toEqual(['a-2', 'b-0', 'b-1', 'b-2', 'b-3']);
  });

  it('control: a copy with other first bytes (not ours) is never read', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    const saved = await firstRun(f);
    writeFileSync(`${f}.1`, 'z-0\nz-1\nz-2\nz-3\nz-4\n');
    truncateSync(f, 0);
    appendFileSync(f, 'b-0\n');
    const h = await follow([f], { startPositions: saved, pollIntervalMs: 100 });
    await vi.waitFor(() => expect(h.lines).toEqual(['b-0']), SLOW);
    await pause(500);
    expect(h.lines).toEqual(['b-0']);
  });
});

describe('copytruncate live', () => {
  it('a writer without O_APPEND (`app > access.log`) writes on at its old offset: the first line after the truncation is read', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    writeFileSync(f, '');
    const fd = openSync(f, 'w');
    try {
      const h = await follow([f], { pollIntervalMs: 100 });
      writeSync(fd, 'a-0\na-1\n');
      await vi.waitFor(() => expect(h.lines).toEqual(['a-0', 'a-1']), SLOW);
      copyFileSync(f, `${f}.1`);
      truncateSync(f, 0);
      writeSync(fd, 'b-0\n'); // at offset 8: a hole of 8 NULs before it
      writeSync(fd, 'b-1\n');
      await vi.waitFor(() => expect(h.lines).toEqual(['a-0', 'a-1', 'b-0', 'b-1']), SLOW);
    } finally {
      closeSync(fd);
    }
  });
});

describe('passing variants (regression checks)', () => {
  it('CRLF split between two reads, NUL inside a line, a partial last line completed in the renamed-away file', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    writeFileSync(f, '');
    const h = await follow([f], { pollIntervalMs: 50 });
    appendFileSync(f, 'c-0\r');
    await pause(120);
    appendFileSync(f, '\nn-\0-1\r\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['c-0', 'n-\0-1']), SLOW);
    appendFileSync(f, 'p-0 half');
    await pause(120);
    renameSync(f, `${f}.1`);
    writeFileSync(f, 'new-0\n');
    appendFileSync(`${f}.1`, ' rest\n'); // the writer finishes its line in the file it holds open
    await vi.waitFor(() => expect([...h.lines].sort()).toEqual(['c-0', 'n-\0-1', 'new-0', 'p-0 half rest'].sort()), SLOW);
    await pause(500);
    expect(h.lines.filter((x) => x.startsWith('p-0'))).toEqual(['p-0 half rest']);
  });
});

describe('one file under two names: each line once (counted twice, an address is banned at half its maxretry)', () => {
  const once = async (h: { lines: string[] }, want: string[]) => {
    await vi.waitFor(() => expect([...h.lines].sort()).toEqual([...want].sort()), SLOW);
    await pause(400);
    expect([...h.lines].sort()).toEqual([...want].sort());
  };

  it('a glob matching a file and a symlink to it (cronolog --symlink), with one warning', async () => {
    const d = tmp();
    writeFileSync(join(d, 'access.log.2026-12-05'), '');
    symlinkSync('access.log.2026-12-05', join(d, 'access.log'));
    const h = await follow([join(d, 'access*')], { pollIntervalMs: 50 });
    appendFileSync(join(d, 'access.log'), 'one\ntwo\n');
    await once(h, ['one', 'two']);
    appendFileSync(join(d, 'access.log'), 'three\n');
    await once(h, ['one', 'two', 'three']);
    expect(h.warnings.filter((w) => /same file/.test(w))).toHaveLength(1);
  });

  it('two configured paths, one a symlink to the other; and a hard link matched by a glob', async () => {
    const d = tmp();
    writeFileSync(join(d, 'real.log'), '');
    symlinkSync('real.log', join(d, 'alias.log'));
    const h = await follow([join(d, 'alias.log'), join(d, 'real.log')], { pollIntervalMs: 50 });
    appendFileSync(join(d, 'real.log'), 'a\n');
    await once(h, ['a']);
    const e = tmp();
    writeFileSync(join(e, 'x.log'), '');
    linkSync(join(e, 'x.log'), join(e, 'y.log'));
    const g = await follow([join(e, '*.log')], { pollIntervalMs: 50 });
    appendFileSync(join(e, 'y.log'), 'b\n');
    await once(g, ['b']);
  });

  it('a glob that also matches rotated names (access.log*) and no rotated file at start (so no warning then): a rename rotation reads the old lines once', async () => {
    const d = tmp();
    const f = join(d, 'access.log');
    writeFileSync(f, '');
    const h = await follow([join(d, 'access.log*')], { pollIntervalMs: 50, rescanIntervalMs: 100 });
    appendFileSync(f, 'a-0\na-1\n');
    await once(h, ['a-0', 'a-1']);
    renameSync(f, `${f}.1`);
    appendFileSync(`${f}.1`, 'a-2\n'); // the writer still holds the old file
    writeFileSync(f, 'b-0\n');
    await pause(600); // the rescan has found access.log.1 and read it from its start
    await once(h, ['a-0', 'a-1', 'a-2', 'b-0']);
  });

  it('the daily switch: a new dated file appears and the symlink moves to it; then a restart from saved positions', async () => {
    const d = tmp();
    writeFileSync(join(d, 'access.log.2026-12-05'), '');
    symlinkSync('access.log.2026-12-05', join(d, 'access.log'));
    const h = await follow([join(d, 'access*')], { pollIntervalMs: 50, rescanIntervalMs: 100 });
    appendFileSync(join(d, 'access.log'), 'd5-1\n');
    await once(h, ['d5-1']);
    writeFileSync(join(d, 'access.log.2026-12-06'), 'd6-1\n');
    symlinkSync('access.log.2026-12-06', join(d, 'next.lnk'));
    renameSync(join(d, 'next.lnk'), join(d, 'access.log'));
    appendFileSync(join(d, 'access.log'), 'd6-2\n');
    await once(h, ['d5-1', 'd6-1', 'd6-2']);
    await h.t.stop();
    const saved = JSON.parse(JSON.stringify(h.t.positions())) as FilePosition[];
    appendFileSync(join(d, 'access.log'), 'd6-3\n');
    const h2 = await follow([join(d, 'access*')], { pollIntervalMs: 50, startPositions: saved });
    appendFileSync(join(d, 'access.log'), 'd6-4\n');
    await once(h2, ['d6-3', 'd6-4']);
  });
});
