/**
 * The LineSource for log files: paths and globs, followed with inotify-triggered reads plus a
 * fallback poll (see line-source.ts for the contract and the start rule, file-follower.ts for
 * rotation and truncation).
 *
 * Latency: each followed file's directory is watched (fs.watch, i.e. inotify on Linux); any event
 * naming the file triggers an immediate read, so a line is delivered milliseconds after it is
 * written. Watching the directory (not the file) also sees the file being created, renamed and
 * re-created. A path that is a symlink into another directory (a log on a volume, Kubernetes'
 * /var/log/containers/*.log) is written there, and inotify reports writes in the directory of the
 * file itself only: that directory is watched too, and re-resolved whenever the link may have
 * changed. A directory that does not exist yet cannot be watched: its nearest existing ancestor is
 * (for entries created there), so a log whose directory is created later is read at once too.
 * Where events do not arrive (NFS, some FUSE/overlay setups, inotify limits reached) the
 * pollIntervalMs timer still catches everything, just later. Idle cost: one stat() and one (asynchronous)
 * realpath() per file per poll interval.
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
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { BanhammerError } from '../errors.js';
import { FileFollower, type ClosedFiles, type DeliveredFiles } from './file-follower.js';
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
  /**
   * Called before the first line of a file read on from a position in startPositions, with the last
   * whole lines before it (file-follower.ts FileFollowerOptions.onResume).
   */
  readonly onResume?: (before: string[], file: string) => void;
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
  /** Followed paths that resolve (through symlinks) into another directory: the file they name now. */
  private readonly realPaths = new Map<string, string>();
  /** Nearest existing ancestors of watched directories that do not exist yet. */
  private readonly ancestorWatchers = new Map<string, { close(): void } | null>();
  /** Device and inode of each watched directory when its watch was made (see syncWatchers). */
  private readonly watchedIds = new Map<string, string>();
  /** The syncWatchers() pass running, and whether another was asked for meanwhile. */
  private syncing: Promise<void> | null = null;
  private resyncWanted = false;
  private readonly globDirs = new Set<string>();
  private readonly counters = { lines: 0, rotations: 0, truncations: 0 };
  /** One file followed under several names (links, overlapping globs) is delivered once. */
  private readonly delivered: DeliveredFiles = new Map();
  /** Files read to their end and closed: a path naming one again reads it on, not again (ClosedFiles). */
  private readonly closed: ClosedFiles = new Map();
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
    await this.syncWatchers();
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
    await this.syncing;
    for (const w of this.watchers.values()) w?.close();
    this.watchers.clear();
    for (const w of this.ancestorWatchers.values()) w?.close();
    this.ancestorWatchers.clear();
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

  /** Learns every followed file's size now (asynchronously: see FileFollower.lagBytes). */
  async lookAtSizes(): Promise<void> {
    await Promise.all([...this.followers.values()].map(({ f }) => f.lookAtSizes()));
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
      delivered: this.delivered,
      closed: this.closed,
      ...(this.o.onResume !== undefined ? { onResume: this.o.onResume } : {}),
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

  /**
   * Watch every directory that holds a followed file (or the file a followed symlink names) or that
   * a glob reads; drop the rest. Directories that do not exist yet are waited for through their
   * nearest existing ancestor.
   */
  private syncWatchers(): Promise<void> {
    if (this.syncing !== null) {
      this.resyncWanted = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.resyncWanted = false;
          await this.syncWatchersOnce();
        } while (this.resyncWanted && !this.stopped);
      } catch (e) {
        this.o.onWarning?.(`watching the log directories failed (${e instanceof Error ? e.message : String(e)}); the poll still reads every file`);
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  /**
   * One pass of syncWatchers(). Every look at the file system (realpath, stat) is asynchronous: it
   * runs every poll, and on a hung mount (NFS, FUSE) a synchronous one would stop the whole agent,
   * its bans and its control socket with it, where an asynchronous one only waits itself. After
   * each wait a stopped tailer goes no further.
   */
  private async syncWatchersOnce(): Promise<void> {
    if (this.stopped || this.o.watchDir === null) return;
    const want = new Set<string>(this.globDirs);
    const realPaths = new Map<string, string>();
    for (const path of [...this.followers.keys()]) {
      want.add(dirname(path));
      const real = await resolvedPath(path);
      if (real !== null && real !== path) {
        realPaths.set(path, real);
        want.add(dirname(real));
      }
    }
    const ids = new Map<string, string | null>();
    for (const dir of want) ids.set(dir, await dirId(dir));
    if (this.stopped) return;
    this.realPaths.clear();
    for (const [path, real] of realPaths) this.realPaths.set(path, real);
    for (const [dir, w] of this.watchers) {
      if (!want.has(dir)) {
        w?.close();
        this.watchers.delete(dir);
        this.watchedIds.delete(dir);
      } else if (w !== null && ids.get(dir) !== this.watchedIds.get(dir)) {
        // Removed (and maybe made again): an inotify watch dies with its directory without an
        // error, and every later line would wait for the poll. Watch what is there now.
        w.close();
        this.watchers.set(dir, null);
      }
    }
    const watchDir = this.o.watchDir ?? fsWatchDir;
    // Bounded: `mkdir -p` may create the next level while we set up the watch on the one above.
    for (let round = 0; round < 4; round++) {
      for (const dir of want) {
        if (this.watchers.get(dir)) continue;
        const id = round === 0 ? (ids.get(dir) ?? null) : await dirId(dir);
        if (this.stopped) return;
        const w = this.tryWatch(watchDir, dir, this.watchers, (kind, name) => this.onDirEvent(dir, kind, name));
        this.watchers.set(dir, w);
        if (w !== null && id !== null) this.watchedIds.set(dir, id);
        else this.watchedIds.delete(dir);
      }
      const ancestors = new Set<string>();
      for (const dir of want) {
        if (this.watchers.get(dir)) continue;
        const a = await existingAncestor(dir);
        if (a !== null) ancestors.add(a);
      }
      if (this.stopped) return;
      for (const [a, w] of this.ancestorWatchers) {
        if (!ancestors.has(a)) {
          w?.close();
          this.ancestorWatchers.delete(a);
        }
      }
      let added = false;
      for (const a of ancestors) {
        if (this.ancestorWatchers.get(a)) continue;
        // Only entries created, removed or moved matter there ('change' is some other file written).
        const w = this.tryWatch(watchDir, a, this.ancestorWatchers, (kind) => kind === 'rename' && this.onAncestorEvent());
        this.ancestorWatchers.set(a, w);
        added ||= w !== null;
      }
      // A level created before its ancestor's watch was up sends that watch nothing: look again.
      if (!added) break;
      let levelMissed = false;
      for (const d of want) if (!this.watchers.get(d) && (await isDirectory(d))) levelMissed = true;
      if (!levelMissed || this.stopped) break;
    }
  }

  private tryWatch(
    watchDir: WatchDir,
    dir: string,
    map: Map<string, { close(): void } | null>,
    onEvent: (kind: 'rename' | 'change', name: string | null) => void,
  ): { close(): void } | null {
    try {
      return watchDir(dir, onEvent, () => {
        // Directory removed or watcher broken: forget it; the poll re-creates it when possible.
        map.get(dir)?.close();
        map.set(dir, null);
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && !this.watchWarned) {
        this.watchWarned = true;
        this.o.onWarning?.(
          `cannot watch ${dir} for changes (${code ?? String(e)}); falling back to polling every ${this.o.pollIntervalMs ?? 1000} ms (raise fs.inotify.max_user_watches if this is ENOSPC)`,
        );
      }
      return null;
    }
  }

  /** Something changed above a directory that did not exist: watch what exists now, and look. */
  private onAncestorEvent(): void {
    if (this.stopped) return;
    void this.syncWatchers();
    for (const { f } of this.followers.values()) if (!f.isFollowing()) f.poke();
    if (this.globDirs.size > 0) this.rescan();
  }

  private onDirEvent(dir: string, kind: 'rename' | 'change', name: string | null): void {
    if (this.stopped) return;
    let relink = false;
    for (const [path, { f }] of this.followers) {
      const own = dirname(path) === dir;
      const real = this.realPaths.get(path);
      const target = real !== undefined && dirname(real) === dir;
      if (!own && !target) continue;
      // Rotated-away files may still be written under another name: poke every follower of the
      // directory; a pass with nothing new costs a couple of fstat calls.
      const named = name === null || (own && name === basename(path)) || (target && name === basename(real));
      if (named || kind === 'rename' || f.hasDraining()) f.poke();
      // The path itself was created, replaced or re-pointed: the file it names may live elsewhere now.
      if (own && kind === 'rename' && (name === null || name === basename(path))) relink = true;
    }
    if (relink) void this.syncWatchers();
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
    await this.syncWatchers();
  }

  private armPoll(): void {
    this.pollTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      for (const { f } of this.followers.values()) f.poke();
      // Also re-resolves symlinks: a link re-pointed where no event reached us moves its watch.
      void this.syncWatchers();
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

/** What `path` names after every symlink is followed; null when it does not resolve (yet). */
async function resolvedPath(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch {
    return null;
  }
}

/** The nearest ancestor of `dir` that exists as a directory (null: none, e.g. a relative root). */
async function existingAncestor(dir: string): Promise<string | null> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (await isDirectory(d)) return d;
    if (dirname(d) === d) return null;
  }
}

/** A directory's device and inode, or null when it is not there. */
async function dirId(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The file LineSource. */
export function createTailer(opts: TailerOptions): Tailer {
  return new Tailer(opts);
}
