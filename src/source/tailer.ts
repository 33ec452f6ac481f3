/**
 * The LineSource for log files: paths and globs, followed with inotify-triggered reads plus a
 * fallback poll (see line-source.ts for the contract and the start rule, file-follower.ts for
 * rotation and truncation).
 *
 * Latency: each followed file's directory is watched (fs.watch, i.e. inotify on Linux); any event
 * naming the file triggers an immediate read, so a line is delivered milliseconds after it is
 * written. Watching the directory (not the file) also sees the file being created, renamed and
 * re-created. Where events do not arrive (NFS, some FUSE/overlay setups, inotify limits reached)
 * the pollIntervalMs timer still catches everything, just later. Idle cost: one stat() per file per
 * poll interval.
 *
 * Globs are re-expanded every rescanIntervalMs and whenever an entry is created or renamed in a
 * directory the glob reads; a new match is followed from its beginning. A glob-found file that
 * disappears is dropped once it is fully read. Explicit (non-glob) paths are followed forever,
 * including while they do not exist.
 *
 * Only regular files are read. A path or glob match that is a FIFO, socket, device or directory is
 * refused with one warning naming it and its type and is never opened (opening a FIFO would block
 * start() until a writer appears), so start() never waits on one.
 */
import { watch } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { BanhammerError } from '../errors.js';
import { FileFollower } from './file-follower.js';
import { expandGlob, hasMagic, matchesGlob } from './glob.js';
import type { FilePosition, FileProgress, LineSource, LineSourceStats, WatchedEntry } from './line-source.js';
import { DEFAULT_MAX_LINE_BYTES } from './line-splitter.js';

/** Watches one directory; onEvent gets 'rename' (entry created/removed/moved) or 'change'. */
export type WatchDir = (
  dir: string,
  onEvent: (kind: 'rename' | 'change', filename: string | null) => void,
  onError: (err: Error) => void,
) => { close(): void };

export const fsWatchDir: WatchDir = (dir, onEvent, onError) => {
  const w = watch(dir, { persistent: false }, (kind, filename) =>
    onEvent(kind === 'rename' ? 'rename' : 'change', filename === null ? null : String(filename)),
  );
  w.on('error', onError);
  return w;
};

export interface TailerOptions {
  /** Files or globs (`*`, `?`, `[...]` within a segment). Relative paths resolve against cwd. */
  readonly paths: readonly string[];
  /** Called synchronously per complete line; must not throw (a throw is reported via onError). */
  readonly onLine: (line: string, file: string) => void;
  /** Positions saved by a previous run (positions()). */
  readonly startPositions?: readonly FilePosition[];
  readonly onError?: (err: BanhammerError) => void;
  readonly onWarning?: (msg: string) => void;
  readonly clock?: Clock;
  /** Fallback poll for missed events, ms. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Glob re-expansion, ms. Default 5000. */
  readonly rescanIntervalMs?: number;
  /** How long a rotated-away file keeps being read after it stopped growing, ms. Default 5000. */
  readonly rotateWaitMs?: number;
  /** Longest line delivered; a longer one is delivered cut to its head (that many bytes) and counted. Default 256 KiB (line-splitter.ts). */
  readonly maxLineBytes?: number;
  /** Directory watcher; null disables event-driven reads (poll only). Default fs.watch. */
  readonly watchDir?: WatchDir | null;
}

/** Names logrotate and Docker give rotated files: .1, .2.gz, -20260101, .old. */
const ROTATED_NAME = /(\.\d+|\.gz|\.bz2|\.xz|\.zst|\.old|-\d{8}(\d{2})?)$/;

export class Tailer implements LineSource {
  private readonly o: TailerOptions;
  private readonly clock: Clock;
  private readonly patterns: { pattern: string; glob: boolean; label: string }[];
  private readonly followers = new Map<string, { f: FileFollower; fromGlob: boolean; label: string }>();
  /** Lines delivered per configured path (label: as written in the configuration). */
  private readonly linesBy = new Map<string, { n: number }>();
  private readonly watchers = new Map<string, { close(): void } | null>();
  private readonly globDirs = new Set<string>();
  private readonly counters = { lines: 0, rotations: 0, truncations: 0 };
  private droppedOverlong = 0;
  private pollTimer: TimerHandle | null = null;
  private rescanTimer: TimerHandle | null = null;
  private rescanning: Promise<void> | null = null;
  private rescanAgain = false;
  private started = false;
  private stopped = false;
  private watchWarned = false;
  /** Glob matches already warned about as not regular files. */
  private readonly refusedWarned = new Set<string>();
  private finalPositions: FilePosition[] | null = null;

  constructor(opts: TailerOptions) {
    if (opts.paths.length === 0) {
      throw new BanhammerError('BH_ERR_CONFIG', 'no log paths to follow', {
        hint: 'set at least one access log path or glob (e.g. /var/log/apache2/access.log)',
      });
    }
    for (const [k, v] of [
      ['pollIntervalMs', opts.pollIntervalMs],
      ['rescanIntervalMs', opts.rescanIntervalMs],
      ['rotateWaitMs', opts.rotateWaitMs],
      ['maxLineBytes', opts.maxLineBytes],
    ] as const) {
      if (v !== undefined && (!Number.isFinite(v) || v <= 0)) {
        throw new BanhammerError('BH_ERR_CONFIG', `${k} must be a positive number, got ${String(v)}`, { hint: `remove ${k} to use the default` });
      }
    }
    this.o = opts;
    this.clock = opts.clock ?? systemClock;
    const byPattern = new Map<string, string>();
    for (const p of opts.paths) {
      const pattern = isAbsolute(p) ? p : resolve(p);
      if (!byPattern.has(pattern)) byPattern.set(pattern, p);
    }
    this.patterns = [...byPattern].map(([pattern, label]) => ({ pattern, glob: hasMagic(pattern), label }));
    for (const { label } of this.patterns) this.linesBy.set(label, { n: 0 });
  }

  async start(): Promise<void> {
    if (this.started) throw new BanhammerError('BH_ERR_USAGE', 'the tailer was already started', { hint: 'create a new Tailer to start again' });
    this.started = true;
    const saved = this.o.startPositions ?? [];
    for (const { pattern, glob, label } of this.patterns) {
      if (!glob) {
        await this.addFollower(pattern, false, 'end', label);
        continue;
      }
      const { files, dirs, refused } = await expandGlob(pattern);
      for (const d of dirs) this.globDirs.add(d);
      this.warnRefused(pattern, refused);
      // Saved paths that match but are gone now may still name a rotated file to finish.
      const savedMatches = saved.filter((p) => matchesGlob(pattern, p.path)).map((p) => p.path);
      const rotatedLooking = files.filter((f) => ROTATED_NAME.test(f));
      if (rotatedLooking.length > 0) {
        this.o.onWarning?.(
          `log glob ${pattern} matches rotated files (${rotatedLooking.slice(0, 3).join(', ')}${rotatedLooking.length > 3 ? ', …' : ''}); after a rotation their lines would be read twice, narrow the glob to the live files (e.g. *access.log)`,
        );
      }
      for (const f of new Set([...files, ...savedMatches])) await this.addFollower(f, true, 'end', label);
    }
    this.syncWatchers();
    // Anything written between opening and watching is picked up here.
    for (const { f } of this.followers.values()) f.poke();
    this.armPoll();
    if (this.patterns.some((p) => p.glob)) this.armRescan();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pollTimer) this.clock.clearTimeout(this.pollTimer);
    if (this.rescanTimer) this.clock.clearTimeout(this.rescanTimer);
    for (const w of this.watchers.values()) w?.close();
    this.watchers.clear();
    await this.rescanning;
    for (const { f } of this.followers.values()) await f.stop();
    this.finalPositions = this.collectPositions();
  }

  positions(): FilePosition[] {
    return this.finalPositions ? [...this.finalPositions] : this.collectPositions();
  }

  lagBytes(): number {
    let n = 0;
    for (const { f } of this.followers.values()) n += f.lagBytes();
    return n;
  }

  progress(): FileProgress[] {
    return this.watched().map(({ path, files }) => ({ path, lines: this.linesBy.get(path)!.n, unreadBytes: files.reduce((n, f) => n + f.unreadBytes, 0) }));
  }

  watched(): WatchedEntry[] {
    const files = new Map<string, { path: string; unreadBytes: number }[]>();
    for (const [path, { f, label }] of this.followers) {
      // A path that does not exist yet (or a glob match gone and read to its end) has no file to list.
      if (!f.isFollowing() && !f.hasDraining()) continue;
      let list = files.get(label);
      if (list === undefined) files.set(label, (list = []));
      list.push({ path, unreadBytes: f.lagBytes() });
    }
    return this.patterns.map(({ label }) => ({ path: label, files: files.get(label) ?? [] }));
  }

  stats(): LineSourceStats {
    let overlong = this.droppedOverlong;
    let files = 0;
    for (const { f } of this.followers.values()) {
      overlong += f.overlongLines();
      if (f.isFollowing()) files++;
    }
    const { lines, rotations, truncations } = this.counters;
    return { files, lines, overlongLines: overlong, rotations, truncations };
  }

  /** Resolves once no read is in progress (for tests and orderly shutdown). */
  async settle(): Promise<void> {
    for (const { f } of this.followers.values()) await f.idle();
  }

  private collectPositions(): FilePosition[] {
    const out: FilePosition[] = [];
    for (const { f } of this.followers.values()) out.push(...f.positions());
    return out;
  }

  private async addFollower(path: string, fromGlob: boolean, startAt: 'end' | 'start', label: string): Promise<void> {
    if (this.followers.has(path)) return;
    const saved = (this.o.startPositions ?? []).filter((p) => p.path === path);
    const count = this.linesBy.get(label)!;
    const onLine = this.o.onLine;
    const f = new FileFollower({
      path,
      startAt,
      saved,
      onLine: (line, file) => {
        count.n++;
        onLine(line, file);
      },
      onError: (e) => this.o.onError?.(e),
      onWarning: (m) => this.o.onWarning?.(m),
      clock: this.clock,
      maxLineBytes: this.o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      rotateWaitMs: this.o.rotateWaitMs ?? 5000,
      counters: this.counters,
    });
    this.followers.set(path, { f, fromGlob, label });
    await f.init();
  }

  private warnRefused(pattern: string, refused: readonly { path: string; type: string }[]): void {
    for (const { path, type } of refused) {
      if (this.refusedWarned.has(path)) continue;
      this.refusedWarned.add(path);
      this.o.onWarning?.(`log glob ${pattern} matches ${path}, a ${type}, not a regular file: not opened and not followed (only regular files are)`);
    }
  }

  /** Watch every directory that holds a followed file or that a glob reads; drop the rest. */
  private syncWatchers(): void {
    if (this.stopped || this.o.watchDir === null) return;
    const want = new Set<string>(this.globDirs);
    for (const path of this.followers.keys()) want.add(dirname(path));
    for (const [dir, w] of this.watchers) {
      if (!want.has(dir)) {
        w?.close();
        this.watchers.delete(dir);
      }
    }
    const watchDir = this.o.watchDir ?? fsWatchDir;
    for (const dir of want) {
      if (this.watchers.get(dir)) continue;
      try {
        const w = watchDir(
          dir,
          (kind, name) => this.onDirEvent(dir, kind, name),
          () => {
            // Directory removed or watcher broken: forget it; the poll re-creates it when possible.
            this.watchers.get(dir)?.close();
            this.watchers.set(dir, null);
          },
        );
        this.watchers.set(dir, w);
      } catch (e) {
        this.watchers.set(dir, null);
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR' && !this.watchWarned) {
          this.watchWarned = true;
          this.o.onWarning?.(
            `cannot watch ${dir} for changes (${code ?? String(e)}); falling back to polling every ${this.o.pollIntervalMs ?? 1000} ms (raise fs.inotify.max_user_watches if this is ENOSPC)`,
          );
        }
      }
    }
  }

  private onDirEvent(dir: string, kind: 'rename' | 'change', name: string | null): void {
    if (this.stopped) return;
    for (const [path, { f }] of this.followers) {
      if (dirname(path) !== dir) continue;
      // Rotated-away files may still be written under another name: poke every follower of the
      // directory; a pass with nothing new costs a couple of fstat calls.
      if (name === null || name === basename(path) || kind === 'rename' || f.hasDraining()) f.poke();
    }
    if (kind === 'rename' && this.globDirs.has(dir)) this.rescan();
  }

  private rescan(): void {
    if (this.stopped) return;
    if (this.rescanning) {
      this.rescanAgain = true;
      return;
    }
    this.rescanning = (async () => {
      try {
        do {
          this.rescanAgain = false;
          await this.rescanOnce();
        } while (this.rescanAgain && !this.stopped);
      } catch (e) {
        this.o.onError?.(new BanhammerError('BH_ERR_FILE', `cannot expand log globs: ${(e as Error).message}`, { hint: 'check the log paths in the configuration', cause: e }));
      } finally {
        this.rescanning = null;
      }
    })();
  }

  private async rescanOnce(): Promise<void> {
    const matched = new Set<string>();
    this.globDirs.clear();
    for (const { pattern, glob, label } of this.patterns) {
      if (!glob) continue;
      const { files, dirs, refused } = await expandGlob(pattern);
      if (this.stopped) return;
      for (const d of dirs) this.globDirs.add(d);
      this.warnRefused(pattern, refused);
      for (const f of files) {
        matched.add(f);
        if (!this.followers.has(f)) {
          await this.addFollower(f, true, 'start', label);
          if (this.stopped) return;
          this.followers.get(f)?.f.poke();
        }
      }
    }
    // Drop glob-found files that no longer exist and have been read to the end.
    for (const [path, { f, fromGlob }] of [...this.followers]) {
      if (fromGlob && !matched.has(path) && !f.isFollowing() && !f.hasDraining()) {
        await f.stop();
        this.droppedOverlong += f.overlongLines();
        this.followers.delete(path);
      }
    }
    this.syncWatchers();
  }

  private armPoll(): void {
    this.pollTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      for (const { f } of this.followers.values()) f.poke();
      if ([...this.watchers.values()].some((w) => w === null)) this.syncWatchers();
      this.armPoll();
    }, this.o.pollIntervalMs ?? 1000);
  }

  private armRescan(): void {
    this.rescanTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      this.rescan();
      this.armRescan();
    }, this.o.rescanIntervalMs ?? 5000);
  }
}

/** The file LineSource. */
export function createTailer(opts: TailerOptions): Tailer {
  return new Tailer(opts);
}
