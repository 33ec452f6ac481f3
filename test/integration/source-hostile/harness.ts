// Shared by the hostile follower tests: a real Tailer (inotify + poll) on a temp dir, a writer that
// holds its own descriptor like a web server (O_APPEND, reopened by name when told), numbered lines
// from distinct test addresses, and the checks every scenario ends with: each complete line once,
// nothing else, the event loop never held long.
import { closeSync, openSync, writeSync } from 'node:fs';
import { expect } from 'vitest';
import type { BanhammerError } from '../../../src/errors.js';
import { Tailer, type TailerOptions } from '../../../src/source/tailer.js';

/** Line i: a 403 from its own address in 198.18.0.0/15 (the index is in the request too). */
export const line = (i: number, tag = 'n'): string =>
  `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255} - - [06/Dec/2026:10:00:00 +0000] "GET /wp-login.php?${tag}=${i} HTTP/1.1" 403 199 "-" "curl/8.0"`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A log writer: one descriptor, opened for append by name, reopened only when asked (SIGHUP-like). */
export class Writer {
  fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }
  reopen(path = this.path): void {
    closeSync(this.fd);
    this.fd = openSync(path, 'a');
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * The longest time the event loop was held by this process's own work (ms): a 5 ms timer measures
 * how late each tick comes, counted only as far as the process used CPU meanwhile, so a machine
 * busy with other processes (no CPU for us: late, but not our blocking) does not count as blocking.
 */
export class BlockMonitor {
  max = 0;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private cpu = process.cpuUsage();
  start(): void {
    this.reset();
    const tick = (): void => {
      const now = performance.now();
      const used = process.cpuUsage(this.cpu);
      const late = now - this.last - 5;
      const busy = (used.user + used.system) / 1000;
      this.max = Math.max(this.max, Math.min(late, busy));
      this.last = now;
      this.cpu = process.cpuUsage();
      this.timer = setTimeout(tick, 5);
    };
    this.timer = setTimeout(tick, 5);
  }
  /** Forget what was measured so far, the tick running included (the caller's own blocking). */
  reset(): void {
    this.max = 0;
    this.last = performance.now();
    this.cpu = process.cpuUsage();
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export interface Run {
  tailer: Tailer;
  got: string[];
  errors: BanhammerError[];
  warnings: string[];
  delay: BlockMonitor;
  /** Waits (bounded) until `pred` holds or `ms` passed; true if it held. */
  until(pred: () => boolean, ms?: number): Promise<boolean>;
  stop(): Promise<void>;
}

export async function follow(paths: string[], opts: Partial<TailerOptions> = {}): Promise<Run> {
  const got: string[] = [];
  const errors: BanhammerError[] = [];
  const warnings: string[] = [];
  const tailer = new Tailer({
    paths,
    onLine: (l) => got.push(l),
    onError: (e) => errors.push(e),
    onWarning: (m) => warnings.push(m),
    rotateWaitMs: 300,
    pollIntervalMs: 200,
    rescanIntervalMs: 300,
    ...opts,
  });
  await tailer.start();
  const delay = new BlockMonitor();
  delay.start();
  return {
    tailer,
    got,
    errors,
    warnings,
    delay,
    async until(pred, ms = 8000) {
      const t0 = Date.now();
      while (!pred() && Date.now() - t0 < ms) await sleep(10);
      return pred();
    },
    async stop() {
      delay.stop();
      await tailer.stop();
    },
  };
}

/** Every wanted line exactly once, nothing else; the event loop never blocked for maxDelayMs. */
export function expectExactlyOnce(run: Run, want: readonly string[], maxDelayMs = 100): void {
  const wantSet = new Set(want);
  const counts = new Map<string, number>();
  for (const l of run.got) counts.set(l, (counts.get(l) ?? 0) + 1);
  const missing = want.filter((l) => !counts.has(l));
  const twice = [...counts].filter(([, n]) => n > 1).map(([l]) => l);
  const foreign = run.got.filter((l) => !wantSet.has(l)).map((l) => (l.length > 200 ? `${l.slice(0, 200)}… (${l.length} chars)` : l));
  expect({ missing: missing.length, firstMissing: missing.slice(0, 3), twice: twice.slice(0, 3), foreign: foreign.slice(0, 3) }).toEqual({
    missing: 0,
    firstMissing: [],
    twice: [],
    foreign: [],
  });
  expect(run.errors.map((e) => e.message)).toEqual([]);
  expect(run.delay.max).toBeLessThan(maxDelayMs);
}
