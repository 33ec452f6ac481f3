/**
 * With no saved position, a file present at start is followed from its end
 * (line-source.ts, start rule 3). When that end is not at a line boundary (the writer's line is
 * still being written: a write spanning pages is visible in pieces, a buffering writer flushed part
 * of it), the follower starts in the middle of a line and hands its rest over as a line of its own.
 * That rest starts inside a field the client wrote (referer, User-Agent), so it can be a complete
 * access line naming anyone: `198.18.7.7 - - [T] " " 403 5"` (the referer's closing quote, ` "`,
 * and a User-Agent of ` 403 5`).
 *
 * So the follower starts at the beginning of the unterminated last line (FileFollower.init,
 * lineStartBefore), or drops that line when its start is further back than the longest line kept.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Tailer } from '../../../src/source/tailer.js';

const T = '02/Dec/2026:10:00:00 +0000';
const WAIT = { timeout: 5000, interval: 10 };

let dir: string;
let tailer: Tailer | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-midline-'));
});
afterEach(async () => {
  await tailer?.stop();
  tailer = null;
  await rm(dir, { recursive: true, force: true });
});

describe('following a file from its end when the end is mid-line', () => {
  it('the rest of the line being written at start is never handed over as a line', async () => {
    const file = join(dir, 'access.log');
    const before = `198.18.0.41 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"\n`;
    const head = `198.18.0.40 - - [${T}] "GET /a HTTP/1.1" 404 196 "${'r'.repeat(3000)}`;
    writeFileSync(file, before + head);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), rotateWaitMs: 300, pollIntervalMs: 50 });
    await tailer.start();
    await tailer.settle();
    const rest = `198.18.7.7 - - [${T}] " " 403 5"`;
    appendFileSync(file, `${rest}\n`);
    const after = `198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`;
    appendFileSync(file, `${after}\n`);
    await vi.waitFor(() => expect(lines.length).toBeGreaterThan(0), WAIT);
    await vi.waitFor(() => expect(tailer!.lagBytes()).toBe(0), WAIT);
    await tailer.settle();
    // Never the rest alone; the line being written at start is read whole, from its beginning.
    expect(lines.some((l) => l.startsWith('198.18.7.7'))).toBe(false);
    expect(lines).toEqual([head + rest, after]);
  });

  it('a line begun further back than the longest line kept (maxLineBytes) is dropped, not read from the middle', async () => {
    const file = join(dir, 'access.log');
    const before = `198.18.0.41 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"\n`;
    writeFileSync(file, `${before}198.18.0.40 - - [${T}] "GET /a HTTP/1.1" 404 196 "${'r'.repeat(70_000)}`);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), rotateWaitMs: 300, pollIntervalMs: 50, maxLineBytes: 1024 });
    await tailer.start();
    await tailer.settle();
    appendFileSync(file, `198.18.7.7 - - [${T}] " " 403 5"\n`);
    const after = `198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`;
    appendFileSync(file, `${after}\n`);
    await vi.waitFor(() => expect(lines.length).toBeGreaterThan(0), WAIT);
    await vi.waitFor(() => expect(tailer!.lagBytes()).toBe(0), WAIT);
    await tailer.settle();
    expect(lines).toEqual([after]);
    // The position saved is past the dropped line, at a line boundary.
    const [pos] = tailer.positions();
    expect(pos!.offset).toBe(Buffer.byteLength(readFileSync(file, 'latin1'), 'latin1'));
  });

  it('a file that ends at a line boundary is followed from there, as before', async () => {
    const file = join(dir, 'access.log');
    writeFileSync(file, `198.18.0.41 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"\n`);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), rotateWaitMs: 300, pollIntervalMs: 50 });
    await tailer.start();
    await tailer.settle();
    const next = `198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`;
    appendFileSync(file, `${next}\n`);
    await vi.waitFor(() => expect(lines).toEqual([next]), WAIT);
  });

  it('a position saved inside such a line is resumed by dropping the rest of it, after a restart too', async () => {
    const file = join(dir, 'access.log');
    writeFileSync(file, `198.18.0.41 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"\n198.18.0.40 - - [${T}] "GET /a HTTP/1.1" 404 196 "${'r'.repeat(200_000)}`);
    const first = new Tailer({ paths: [file], onLine: () => {}, rotateWaitMs: 300, pollIntervalMs: 50, maxLineBytes: 1024 });
    await first.start();
    await first.settle();
    await first.stop();
    const saved = first.positions();
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), startPositions: saved, rotateWaitMs: 300, pollIntervalMs: 50, maxLineBytes: 1024 });
    await tailer.start();
    await tailer.settle();
    appendFileSync(file, `198.18.7.7 - - [${T}] " " 403 5"\n`);
    const after = `198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`;
    appendFileSync(file, `${after}\n`);
    await vi.waitFor(() => expect(lines.length).toBeGreaterThan(0), WAIT);
    await vi.waitFor(() => expect(tailer!.lagBytes()).toBe(0), WAIT);
    await tailer.settle();
    expect(lines).toEqual([after]);
  });

  it('copytruncate while such a line is being dropped: the copy is read on by dropping its rest too', async () => {
    const { copyFileSync, truncateSync } = await import('node:fs');
    const file = join(dir, 'access.log');
    writeFileSync(file, `198.18.0.41 - - [${T}] "GET / HTTP/1.1" 200 5 "-" "x"\n198.18.0.40 - - [${T}] "GET /a HTTP/1.1" 404 196 "${'r'.repeat(200_000)}`);
    const lines: string[] = [];
    tailer = new Tailer({ paths: [file], onLine: (l) => lines.push(l), rotateWaitMs: 300, pollIntervalMs: 50, maxLineBytes: 1024 });
    await tailer.start();
    await tailer.settle();
    // The writer ends the line; logrotate copies and truncates (synchronously: nothing is read in between).
    appendFileSync(file, `198.18.7.7 - - [${T}] " " 403 5"\n`);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    const after = `198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 403 5 "-" "x"`;
    appendFileSync(file, `${after}\n`);
    await vi.waitFor(() => expect(lines).toContain(after), WAIT);
    await tailer.settle();
    expect(lines.filter((l) => l.startsWith('198.18.7.7'))).toEqual([]);
  });
});
