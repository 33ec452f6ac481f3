/**
 * logrotate copytruncate with the names its options give the copy: lines written just before the copy
 * that the tailer had not read yet exist only in the copy once the file is truncated. The copy is
 * found by its name beside the file: `access.log.1`, `access.log-20261205` (dateext), and, with
 * logrotate's `extension .log` (keep the extension after the date), `access-20261205.log`.
 */
import { appendFileSync, copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import { Tailer } from '../../../src/source/tailer.js';
import { isCopyName } from '../../../src/source/file-follower.js';

const WAIT = { timeout: 8000, interval: 10 };
let dir: string;
let tailers: Tailer[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-h6-ct-'));
  tailers = [];
});
afterEach(async () => {
  for (const t of tailers) await t.stop();
  await rm(dir, { recursive: true, force: true });
});
const range = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}-${i}`);
const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');

describe('copytruncate, lines unread at the copy', () => {
  it.each(['access.log.1', 'access.log-20261205', 'access-20261205.log'])('copy named %s: the unread lines are read from it, every line once', async (copy) => {
    const f = join(dir, 'access.log');
    writeFileSync(f, 'before start\n');
    const h = { lines: [] as string[], errors: [] as BanhammerError[] };
    const t = new Tailer({ paths: [f], onLine: (l) => h.lines.push(l), onError: (e) => h.errors.push(e), onWarning: () => {}, rotateWaitMs: 300 });
    tailers.push(t);
    await t.start();
    appendFileSync(f, text(range('a', 40)));
    await vi.waitFor(() => expect(h.lines).toHaveLength(40), WAIT);
    await t.settle();
    // One synchronous burst: written, copied, truncated, written again before the tailer can look.
    appendFileSync(f, text(range('unread', 5)));
    copyFileSync(f, join(dir, copy));
    truncateSync(f, 0);
    appendFileSync(f, text(range('b', 3)));
    await vi.waitFor(() => expect(h.lines.length).toBeGreaterThanOrEqual(48), WAIT);
    await new Promise((r) => setTimeout(r, 300));
    await t.settle();
    expect(h.lines).toEqual([...range('a', 40), ...range('unread', 5), ...range('b', 3)]);
    expect(h.errors).toEqual([]);
  });
});

it('isCopyName: rotation suffixes before the extension count, sibling logs that share the stem do not', () => {
  for (const n of ['access.log.1', 'access.log-20261205', 'access-20261205.log', 'access.1.log', 'access-2026-12-05.log', 'access.log.2026-12-05_0800']) expect(isCopyName('access.log', n), n).toBe(true);
  for (const n of ['access.log', 'access_ssl.log', 'access-api.log', 'accesslog', 'access-1x.log', 'error-20261205.log', 'access-.log', 'access-20261205.txt']) expect(isCopyName('access.log', n), n).toBe(false);
  expect(isCopyName('current', 'current.1')).toBe(true);
  expect(isCopyName('current', 'cur-1')).toBe(false);
});

it('a busy sibling log sharing the stem (access-api.log) is never read as a copy when access.log is copytruncated', async () => {
  const f = join(dir, 'access.log');
  const sib = join(dir, 'access-api.log');
  writeFileSync(f, 'before start\n');
  writeFileSync(sib, text(range('api-old', 3)));
  const h = { lines: [] as string[], errors: [] as BanhammerError[] };
  const t = new Tailer({ paths: [f], onLine: (l) => h.lines.push(l), onError: (e) => h.errors.push(e), onWarning: () => {}, rotateWaitMs: 300 });
  tailers.push(t);
  await t.start();
  appendFileSync(f, text(range('a', 10)));
  await vi.waitFor(() => expect(h.lines).toHaveLength(10), WAIT);
  await t.settle();
  appendFileSync(f, text(range('unread', 2)));
  copyFileSync(f, join(dir, 'access-20261205.log'));
  truncateSync(f, 0);
  appendFileSync(sib, text(range('api', 5)));
  appendFileSync(f, text(range('b', 2)));
  await vi.waitFor(() => expect(h.lines.length).toBeGreaterThanOrEqual(14), WAIT);
  await new Promise((r) => setTimeout(r, 300));
  await t.settle();
  expect(h.lines).toEqual([...range('a', 10), ...range('unread', 2), ...range('b', 2)]);
});
