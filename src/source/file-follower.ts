/**
 * Follows one concrete path through rotation, truncation, deletion and re-creation.
 *
 * Reading is done through an open file descriptor, never by name, so bytes appended to a file
 * after it was renamed away are still read from the descriptor. After every read to end-of-file the
 * path is stat()ed:
 * - same device+inode, size below our read offset, or the bytes just before it changed (checked at
 *   every read: truncated and written past it again) → truncated in place (copytruncate): restart at 0;
 * - another device+inode → rotated (rename or delete-and-recreate): the old descriptor keeps being
 *   read ("draining") until it has not grown for rotateWaitMs (the writer may still append until it
 *   reopens its log), its last unterminated line is then delivered and it is closed; the new file
 *   is read from its beginning (or, if it is a file read to its end and closed before, from where
 *   that stopped: ClosedFiles), after any generation rotated away in between (findSkipped);
 * - missing → keep the descriptor (it may be the file's last word) until rotateWaitMs passes
 *   without the path coming back, then close it; a file appearing later is read as above, after any
 *   generation rotated away since the one closed (findSkipped from lastClosed).
 *
 * Only regular files are opened: a FIFO, socket, device or directory at the path is refused with one
 * warning naming its type (opening a FIFO for reading would block until a writer appears), and files
 * are opened O_NONBLOCK so a path swapped for a FIFO between the stat() and the open() cannot block
 * either.
 *
 * Nothing here waits on its own: the owner calls poke() on file-system events and on a fallback
 * poll timer. Reads are serialised (a poke during a read causes one more pass afterwards), so
 * delivery order is file order (a copytruncate generation recovered late from its copy excepted,
 * see recoverFromCopy). The start rule is documented in line-source.ts.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { constants, type BigIntStats, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { steadyNow, type Clock } from '../clock.js';
import { BanhammerError } from '../errors.js';
import type { FilePosition } from './line-source.js';
import { LineSplitter } from './line-splitter.js';

export interface FileFollowerOptions {
  readonly path: string;
  /** Where to start if the file exists when init() runs and no saved position applies. */
  readonly startAt: 'end' | 'start';
  /** Saved positions recorded under this path (any number, possibly of rotated files). */
  readonly saved: readonly FilePosition[];
  readonly onLine: (line: string, file: string) => void;
  readonly onError: (err: BanhammerError) => void;
  readonly onWarning: (msg: string) => void;
  readonly clock: Clock;
  readonly maxLineBytes: number;
  readonly rotateWaitMs: number;
  /** Counters shared with the owner. */
  readonly counters: { lines: number; rotations: number; truncations: number };
  /**
   * Shared by every follower of one source (see DeliveredFiles): one file followed under two names
   * (a symlink and its target, a hard link, a glob matching both) has each line delivered once.
   */
  readonly delivered?: DeliveredFiles;
  /**
   * Files this source read to their end and closed (see ClosedFiles), shared by its followers; a
   * follower without one keeps its own.
   */
  readonly closed?: ClosedFiles;
  /**
   * Called before any line is read of a file read from a position past its start that no parser of
   * this process read up to (a position saved before a restart, or the end of a file already there
   * at start), with the last whole lines before that position (oldest first, within
   * RESUME_CONTEXT_BYTES): what the parser needs to know of the lines in progress there (a split
   * Docker or syslog line: line-parser.ts LineParser.resume).
   */
  readonly onResume?: (before: string[], file: string) => void;
}

/**
 * Files read to their end and closed (drained after a rotation, or gone from the path), by device
 * and inode: where reading stopped, the fingerprint of the first bytes and the bytes just before
 * that offset. A path that comes to name such a file again (a symlink switched back to its earlier
 * target, a log moved away and back, a rotated name that a glob matches found after the drain
 * ended) is read on from there, not from its start: read again, every line in it counted twice and
 * each client there banned at half its rule's maxretry. Only while the file still holds those bytes
 * where they were read (not truncated and written again). Bounded: the most recent MAX_CLOSED.
 */
export type ClosedFiles = Map<string, { end: number; fingerprint: string | undefined; tail: Buffer }>;
const MAX_CLOSED = 256;

/**
 * How far each file content was delivered, by whichever follower read it first: key = device,
 * inode and the file's first line (so a file truncated and written again is new content), value =
 * the offset just past the last line delivered. A follower of the same file under another name skips
 * the lines up to there: read under two names, every line counted twice and each address banned at
 * half its rule's maxretry.
 */
export type DeliveredFiles = Map<string, { end: number; by: string; refs: number; warned: Set<string> }>;

interface OpenFile {
  readonly fh: FileHandle;
  readonly dev: string;
  readonly ino: string;
  /** Offset of the next byte to read. */
  readOffset: number;
  readonly splitter: LineSplitter;
  /** When it last grew (ms), for closing drained files. */
  lastGrowth: number;
  /** Its size when last looked at (asynchronously: see lagBytes), for the unread bytes. */
  size: number;
  /** The file's first bytes (up to HEAD_BYTES), for the fingerprint. */
  head: Buffer;
  /** The last bytes read, up to TAIL_BYTES, ending at readOffset: still there unless truncated. */
  tail: Buffer;
  /** Its key in DeliveredFiles, once its first line is known (undefined: not yet; null: not shared). */
  shared?: string | null;
  /**
   * Its modification and change times when last looked at with nothing of its content read (read
   * offset 0): see readCopiesOfUnread. Meaningful only while the read offset is 0.
   */
  unreadStamp?: string;
}

const READ_CHUNK = 64 * 1024;
/**
 * Bytes before a saved position read again at a restart (onResume). Docker writes the records of a
 * split line one after another, and a syslog driver the messages of a cut one: the piece a restart
 * may have separated from its rest is among the last few lines before the position, whatever the
 * other stream wrote meanwhile.
 */
export const RESUME_CONTEXT_BYTES = 256 * 1024;
const HEAD_BYTES = 1024;
const TAIL_BYTES = 256;
/** Never blocks on open (a FIFO without a writer); no effect on regular files. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
/** Compressed copies cannot be read on from an offset. */
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|z)$/i;

/**
 * Whether `name` beside the followed file `base` may be a rotated copy of it: named after it and a
 * rotation number or date (access.log.1, access.log-20261205: logrotate's `dateformat` has digits
 * only), or, with logrotate's `extension .log` (the extension kept after the rotation suffix), its
 * stem, a numeric rotation suffix and its extension (access.1.log, access-20261205.log,
 * access-2026-12-05.log). Not any name that merely shares the stem or the name: a sibling log
 * (access_ssl.log, access-api.log, access.log.ssl) is another file, whose lines must never be read
 * as ours, and an operator's access.log.bak or access.log.old is no rotation of it.
 */
export function isCopyName(base: string, name: string): boolean {
  if (name === base) return false;
  if (name.startsWith(base)) return /^[-._]?[0-9]/.test(name.slice(base.length));
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return false;
  const stem = base.slice(0, dot);
  const ext = base.slice(dot);
  if (!name.startsWith(stem) || !name.endsWith(ext) || name.length <= base.length) return false;
  return /^[-._][0-9][0-9._-]*$/.test(name.slice(stem.length, name.length - ext.length));
}
/** s6-log / multilog archives of a rotated `current`: @<TAI64N>.s (or .u). */
const ARCHIVE_NAME = /^@[0-9a-f]{24}\.[su]$/;
/** Most skipped generations read after one look (bounded: a rotation storm cannot hold us). */
const MAX_SKIPPED = 16;
/** Files tried as our copy after a truncation (newest first). */
const MAX_COPY_CANDIDATES = 16;
/** Contents read before a truncation remembered (see FileFollower.readGenerations). */
const MAX_READ_GENERATIONS = 4;
/** Copies remembered as accounted for (see FileFollower.copiesAccounted). */
const MAX_ACCOUNTED = 4096;
/** Re-listings for copies made while we were reading copies (bounded: a rotation storm cannot hold us). */
const CATCH_UP_ROUNDS = 3;

/**
 * Ascending order of two numbers or two names by their code units: the same on every machine,
 * whatever its locale (localeCompare would also load ICU's collation data, some megabytes, into an
 * agent that had none).
 */
const inOrder = <T extends bigint | string>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * What findSkipped needs of the generation a search starts after: its identity, birth time and
 * first bytes (kept after its descriptor is closed).
 */
interface Generation {
  readonly dev: string;
  readonly ino: string;
  readonly birth: bigint;
  readonly head: Buffer;
}

/** `f` as a Generation; null when its descriptor cannot be asked (closed under us). */
async function generationOf(f: OpenFile): Promise<Generation | null> {
  try {
    return { dev: f.dev, ino: f.ino, birth: (await f.fh.stat({ bigint: true })).birthtimeNs, head: f.head };
  } catch {
    return null;
  }
}

/** A file beside the followed one that may be a copy of it (copytruncate). */
interface CopyFile {
  readonly name: string;
  readonly dev: string;
  readonly ino: string;
  readonly mtime: bigint;
  readonly size: number;
}

/**
 * Which of two copy names logrotate made first, for copies with the same modification time:
 * a numbered copy is older the higher its number (access.log.2 before access.log.1), other names
 * (dateext) are older the lower they sort (access.log-20261205 before access.log-20261206).
 */
export function copyOrder(base: string, a: string, b: string): number {
  const dot = base.lastIndexOf('.');
  const stem = dot > 0 ? base.slice(0, dot) : null;
  const ext = dot > 0 ? base.slice(dot) : '';
  // access.log.N, or access.N.log with logrotate's `extension .log` (a date is no rotation number).
  const num = (n: string): number | null => {
    const m = /^\.([0-9]{1,6})$/.exec(n.startsWith(base) ? n.slice(base.length) : '') ?? (stem !== null && n.startsWith(stem) && n.endsWith(ext) ? /^\.([0-9]{1,6})$/.exec(n.slice(stem.length, n.length - ext.length)) : null);
    return m ? Number(m[1]) : null;
  };
  const na = num(a);
  const nb = num(b);
  if (na !== null && nb !== null) return nb - na;
  return inOrder(a, b);
}

/** What a path is, in words, for a refusal message. */
export function fileTypeName(st: Stats | BigIntStats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO (named pipe)';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

export class FileFollower {
  readonly path: string;
  private readonly o: FileFollowerOptions;
  private current: OpenFile | null = null;
  private draining: OpenFile[] = [];
  private missingSince: number | null = null;
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);
  private busy = false;
  private again = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Last error message reported, so a persistent problem is reported once, not every poll. */
  private lastError: string | null = null;
  private overlongClosed = 0;
  /**
   * Copies (copyId) already read, known to hold nothing unread, or older than ours at the first
   * truncation we saw (see recoverFromCopy). Kept while they are away from a listing: names shift
   * (.1 → .2, for every copy kept) while we list, so one listing can miss a copy, and one dropped
   * then was read whole again at the next, each of its lines counted twice. Bounded: the most
   * recent MAX_ACCOUNTED (a copy made again in the inode of a deleted one is another copyId).
   */
  private readonly copiesAccounted = new Set<string>();
  /** Whether a truncation found our copy since the file was opened: the copies older than it were accounted then. */
  private copiesBaselined = false;
  /**
   * The content read before the last truncation, and before earlier ones whose copy was not found
   * (the newest MAX_READ_GENERATIONS): its first bytes, the bytes before the read offset, where
   * delivered lines ended, and whether the rest of it was read (or known to be in no copy: our copy
   * was found). A copy listed later that holds both is that content, never read whole: its lines up
   * to there were delivered from the file itself. Our copy missed by the listing at the truncation
   * (logrotate shifting names meanwhile) was read whole at a later one, each line read before
   * counted twice; now it is read on from where delivery stopped, once.
   */
  private readGenerations: { head: Buffer; tail: Buffer; offset: number; committed: number; restRead: boolean }[] = [];
  /** The type the path was last refused as (warned once until a regular file is there again). */
  private refusedAs: string | null = null;
  /**
   * The path's file closed last because the path was missing, or not a regular file, for
   * rotateWaitMs (see Generation): while no file is open, the reference for the generations the
   * path held before the one that is there at the next look.
   */
  private lastClosed: Generation | null = null;
  private readonly closed: ClosedFiles;

  constructor(opts: FileFollowerOptions) {
    this.o = opts;
    this.path = opts.path;
    this.closed = opts.closed ?? new Map();
  }

  /** Apply the start rule: open what exists, locate rotated files named by saved positions. */
  async init(): Promise<void> {
    const saved = this.o.saved;
    let opened: { fh: FileHandle; st: BigIntStats } | null = null;
    try {
      opened = await this.openPath();
    } catch (e) {
      this.report(e);
    }
    // The saved position this file continues, if any (same identity, and same first bytes unless
    // it is now shorter than the saved offset, which means it was truncated in place).
    let mine: FilePosition | undefined;
    if (opened) {
      const { fh, st } = opened;
      const id = ident(st);
      const size = Number(st.size);
      let truncated = false;
      for (const p of saved) {
        if (p.dev !== id.dev || p.ino !== id.ino) continue;
        if (size < p.offset) {
          mine = p;
          truncated = true;
        } else if (await fingerprintMatches(fh, p.fingerprint)) {
          mine = p;
          // Its first bytes are a hole's NULs, and NULs where our read stopped (a line's end): every
          // generation a writer without O_APPEND leaves starts that way, and this is a later one
          // (truncated while we were stopped), which read on from there lost the copies' lines.
          truncated = await nulBefore(fh, p.offset);
        }
      }
      let offset: number;
      if (mine && !truncated) {
        offset = mine.offset;
      } else if (mine) {
        // copytruncate while we were stopped: the lines after the saved position are in its copy.
        const copy = await this.findCopyAtStart(mine);
        if (copy) this.draining.push(copy, ...(await this.copiesAfterAtStart(copy, { dev: id.dev, ino: id.ino, fh })));
        this.o.onWarning(
          `${this.path} is shorter than the saved read position (${mine.offset} bytes), or holds NULs there: it was truncated while banhammer was stopped; reading it from the beginning${copy ? `, after the rest of its copy ${copy.name} and the copies made after it` : ''}`,
        );
        offset = 0;
      } else if (saved.length > 0) {
        offset = 0; // created after a rotation that happened while we were stopped
      } else {
        offset = this.o.startAt === 'end' ? await lineStartBefore(fh, size, this.o.maxLineBytes) : await this.resumeOffset(fh, st);
      }
      // Its end is inside a line longer than any we deliver whole: never read its rest as a line
      // (makeOpen sees that the byte before is no newline).
      // Read on from a saved position, or from the end of a file that was there at start: the lines
      // before it were read by no parser of this process (onResume).
      this.current = await this.makeOpen(fh, st, offset < 0 ? size : offset, (mine !== undefined && !truncated) || (saved.length === 0 && this.o.startAt === 'end'));
    }
    for (const p of saved) {
      if (p === mine) continue;
      // Not found by identity: its copy, if it was truncated (and written again) while we were stopped.
      const rotated = await this.findRotated(p);
      const found = rotated ?? (await this.findCopyAtStart(p));
      if (found) {
        this.draining.push(found);
        if (rotated === null) this.draining.push(...(await this.copiesAfterAtStart(found, this.current)));
      } else {
        this.o.onWarning(
          `${this.path}: the file read before the restart (device ${p.dev}, inode ${p.ino}) was rotated away and is no longer in ${dirname(this.path)}; lines written to it after offset ${p.offset} were not read`,
        );
      }
    }
    // Rotated more than once while we were stopped: the generations in between, oldest first.
    if (!mine) await this.addSkippedSinceRestart();
  }

  /** Schedule a read pass (coalesced). */
  poke(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.loop();
  }

  /** Resolves when no read pass is running. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
    const files = this.openFiles();
    for (const f of files) {
      this.release(f);
      await f.fh.close().catch(() => undefined);
    }
    // Keep the records (closed handles are never read again) so positions() stays valid.
  }

  positions(): FilePosition[] {
    const out: FilePosition[] = [];
    for (const f of this.openFiles()) {
      const offset = f.splitter.committed;
      const n = Math.min(offset, f.head.length);
      out.push({ path: this.path, dev: f.dev, ino: f.ino, offset, ...(n > 0 ? { fingerprint: fingerprint(f.head.subarray(0, n)) } : {}) });
    }
    return out;
  }

  /**
   * Bytes written but not read yet, from each file's size as last looked at. Asked for by every
   * metrics sample and `status`, on the event loop: an fstat() there (as it was) is synchronous, and
   * on a log mount that hangs (NFS hard mount whose server is gone, a FUSE daemon that stopped
   * answering) it stopped the whole agent (bans, expiries, the control socket) at the next sample,
   * for as long as the mount hung. So the size is learned asynchronously: by every read pass, and by
   * a look started here (lookAtSizes) whose answer the next call sees; a mount that hangs leaves the
   * last size known (and one look waiting), never a blocked loop.
   */
  lagBytes(): number {
    if (this.stopped) return 0;
    void this.lookAtSizes();
    let lag = 0;
    for (const f of this.openFiles()) lag += Math.max(0, f.size - f.readOffset);
    return lag;
  }

  /** The look at the files' sizes under way (see lagBytes), if any. */
  private sizing: Promise<void> | null = null;

  /**
   * Learns the size of each open file, asynchronously; one look at a time (a call meanwhile gets the
   * look under way). What `status` waits for (a while at most) to show the lag as it is now.
   */
  lookAtSizes(): Promise<void> {
    if (this.sizing !== null) return this.sizing;
    const files = this.openFiles();
    if (this.stopped || files.length === 0) return Promise.resolve();
    const look = (async () => {
      for (const f of files) {
        try {
          f.size = (await f.fh.stat()).size;
        } catch {
          // closed meanwhile (drained, stopped): nothing to count
        }
      }
    })().finally(() => {
      this.sizing = null;
    });
    this.sizing = look;
    return look;
  }

  private openFiles(): OpenFile[] {
    return [...this.draining, ...(this.current ? [this.current] : [])];
  }

  overlongLines(): number {
    let n = this.overlongClosed;
    for (const f of this.openFiles()) n += f.splitter.overlongLines;
    return n;
  }

  isFollowing(): boolean {
    return this.current !== null;
  }

  /** True while rotated-away files are still being read. */
  hasDraining(): boolean {
    return this.draining.length > 0;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.pass();
          this.lastError = null;
        } catch (e) {
          this.report(e);
        }
      } while (this.again && !this.stopped);
    } finally {
      this.busy = false;
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async pass(): Promise<void> {
    // (Ages only, on the monotonic clock: a wall clock set back a day held a rotated file open that day.)
    const now = steadyNow(this.o.clock);
    for (const d of [...this.draining]) {
      if (this.stopped) return;
      const grew = await this.readToEnd(d);
      if (grew) d.lastGrowth = now;
      else if (now - d.lastGrowth >= this.o.rotateWaitMs) await this.finish(d);
    }
    if (this.stopped) return;
    if (this.current && this.current.readOffset === 0) await this.readCopiesOfUnread(this.current);
    if (this.current && (await this.readToEnd(this.current))) this.current.lastGrowth = now;

    let st: BigIntStats | null;
    try {
      st = await stat(this.path, { bigint: true });
    } catch (e) {
      if (errCode(e) !== 'ENOENT' && errCode(e) !== 'ENOTDIR') throw e;
      st = null;
    }
    if (this.stopped) return;
    if (st && !st.isFile()) {
      // Not something to follow: treated as missing (a current file drains as after a delete).
      this.refuse(st);
      st = null;
    }
    const cur = this.current;
    if (!st) {
      if (!cur) return;
      this.missingSince ??= now;
      if (now - this.missingSince >= this.o.rotateWaitMs && now - cur.lastGrowth >= this.o.rotateWaitMs) {
        this.current = null;
        this.lastClosed = await generationOf(cur);
        await this.finish(cur);
      }
      return;
    }
    this.missingSince = null;
    const id = ident(st);
    if (cur && cur.dev === id.dev && cur.ino === id.ino && (await this.isAtPath(cur, st))) {
      // Truncated since the read above: readToEnd notices and restarts at 0.
      if (Number(st.size) < cur.readOffset) await this.readToEnd(cur);
      return;
    }
    if (cur) {
      // Rotated: keep reading the old descriptor while the writer may still append to it.
      this.o.counters.rotations++;
      cur.lastGrowth = now;
      this.draining.push(cur);
      this.current = null;
    }
    const opened = await this.openPath();
    if (!opened || this.stopped) {
      await opened?.fh.close();
      return;
    }
    const oid = ident(opened.st);
    let dup: OpenFile | undefined;
    for (const d of this.draining) {
      if (d.dev === oid.dev && d.ino === oid.ino && (await this.isAtPath(d, opened.st))) {
        dup = d;
        break;
      }
    }
    if (dup) {
      // The old file came back under this name (renamed back): it is current again.
      this.draining = this.draining.filter((d) => d !== dup);
      await opened.fh.close();
      this.current = dup;
    } else {
      this.current = await this.makeOpen(opened.fh, opened.st, await this.resumeOffset(opened.fh, opened.st));
      this.copiesAccounted.clear();
      this.copiesBaselined = false;
      this.readGenerations = [];
      // Rotated more than once since the last look, or since the file closed last (the path was away
      // for rotateWaitMs, then a file was made, written and rotated away before this look): read the
      // generations in between first.
      const newestDraining = this.draining.at(-1);
      const before = cur !== null ? await generationOf(cur) : (this.lastClosed ?? (newestDraining !== undefined ? await generationOf(newestDraining) : null));
      this.lastClosed = null;
      if (before !== null) {
        for (const f of await this.findSkipped(before, this.current)) {
          this.o.counters.rotations++;
          f.lastGrowth = now;
          this.draining.push(f);
          await this.readToEnd(f);
        }
      }
    }
    await this.readToEnd(this.current);
  }

  /**
   * Is the file at the path (its stat `st`, of the same device and inode number) the one `f` reads?
   * Some file systems number inodes themselves (FUSE, some overlay and network mounts) and give a new
   * file the number of the one it replaced: read by number alone, a delete-and-recreate or a rename
   * rotation there kept the old descriptor, and every line of the new file was lost for good. So the
   * numbers alone do not decide when the descriptor's file was unlinked, was born at another time
   * (where the file system records birth times), or holds more than the path's file while the path's
   * is shorter than what was read: a truncation in place would show through the descriptor too.
   */
  private async isAtPath(f: OpenFile, st: BigIntStats): Promise<boolean> {
    let own: BigIntStats;
    try {
      own = await f.fh.stat({ bigint: true });
    } catch {
      return true;
    }
    if (own.nlink === 0n) return false;
    // A birth time equal to the change time may be libuv's stand-in where there is none: not used.
    const born = (x: BigIntStats): boolean => x.birthtimeNs > 0n && x.birthtimeNs !== x.ctimeNs;
    if (born(own) && born(st) && own.birthtimeNs !== st.birthtimeNs) return false;
    const read = BigInt(f.readOffset);
    return !(st.size < read && own.size >= read);
  }

  /** The file drained last (born last) and the current one: what was rotated in between, appended. */
  private async addSkippedSinceRestart(): Promise<void> {
    if (!this.current || this.draining.length === 0) return;
    let newest: OpenFile | null = null;
    let newestBirth = -1n;
    for (const d of this.draining) {
      try {
        const b = (await d.fh.stat({ bigint: true })).birthtimeNs;
        if (b > newestBirth) {
          newestBirth = b;
          newest = d;
        }
      } catch {
        /* closed under us: not a bound */
      }
    }
    const older = newest === null ? null : await generationOf(newest);
    if (older !== null) this.draining.push(...(await this.findSkipped(older, this.current)));
  }

  /**
   * Generations rotated away between two looks at the path (two rotations within one pass: a flood
   * filling Docker's max-size faster than a busy agent reads, or while the agent was stopped): the
   * files beside it that rename rotation names (Docker's and logrotate's `<name>.N`, s6-log's
   * archives of its `current`, @<TAI64N>.s), not held already, born after `older` and before
   * `newer` (file birth times; where the file system records none, nothing is searched), and not a
   * copy of `older` (starting with its first bytes). Opened at 0 (or where an earlier read of it
   * stopped: ClosedFiles), oldest first. Missed, every line
   * of such a generation was lost: a flood that rotates the log fast enough hid its own lines.
   */
  private async findSkipped(older: Generation, newer: OpenFile): Promise<OpenFile[]> {
    const lo = older.birth;
    let hi: bigint;
    try {
      hi = (await newer.fh.stat({ bigint: true })).birthtimeNs;
    } catch {
      return [];
    }
    // Birth times are as coarse as the kernel's clock tick: a generation born in the same tick as
    // either neighbour counts (the neighbours themselves are held, so never taken twice).
    if (lo <= 0n || hi < lo) return [];
    const dir = dirname(this.path);
    // Only names rotation gives (not an operator's `cp access.log access.log.save`, not a dated
    // copytruncate copy), and no file that starts as `older` does (a copy of lines already read):
    // read again, every line in it would count twice.
    const base = basename(this.path);
    const rotatedName = (n: string): boolean =>
      (base === 'current' && ARCHIVE_NAME.test(n)) || (n.length > base.length + 1 && n.startsWith(`${base}.`) && /^[0-9]+$/.test(n.slice(base.length + 1)));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const held = new Set([older, newer, ...this.draining, ...(this.current ? [this.current] : [])].map((f) => `${f.dev}:${f.ino}`));
    const found: { name: string; birth: bigint; mtime: bigint }[] = [];
    for (const n of names) {
      if (!rotatedName(n)) continue;
      let st: BigIntStats;
      try {
        st = await stat(join(dir, n), { bigint: true });
      } catch {
        continue;
      }
      if (!st.isFile() || held.has(`${st.dev}:${st.ino}`)) continue;
      if (st.birthtimeNs >= lo && st.birthtimeNs <= hi) found.push({ name: n, birth: st.birthtimeNs, mtime: st.mtimeNs });
    }
    found.sort((a, b) => inOrder(a.birth, b.birth) || inOrder(a.mtime, b.mtime) || inOrder(a.name, b.name));
    const out: OpenFile[] = [];
    for (const c of found.slice(0, MAX_SKIPPED)) {
      try {
        const fh = await open(join(dir, c.name), OPEN_FLAGS);
        const st = await fh.stat({ bigint: true });
        if (!st.isFile() || held.has(`${st.dev}:${st.ino}`) || (older.head.length > 0 && (await bytesAt(fh, 0, older.head)))) {
          await fh.close();
          continue;
        }
        held.add(`${st.dev}:${st.ino}`);
        out.push(await this.makeOpen(fh, st, await this.resumeOffset(fh, st)));
      } catch {
        continue;
      }
    }
    return out;
  }

  /** Reads to end-of-file, delivering complete lines; true if anything was read. */
  private async readToEnd(f: OpenFile): Promise<boolean> {
    let any = false;
    const size = (await f.fh.stat()).size;
    f.size = size;
    if (f === this.current) {
      if (await this.truncatedInPlace(f, size)) {
        await this.restartTruncated(f);
        any = true;
      }
    } else if (size < f.readOffset) {
      // A drained file truncated under us: nothing more will come from the old content.
      return false;
    }
    for (;;) {
      if (this.stopped) return any;
      // The live file may be truncated and written past our offset again between two reads of
      // this loop (a backlog of many chunks, logrotate's copytruncate meanwhile): each read takes
      // the last bytes read before too, which must still be there. Read on without looking, its
      // middle joined our held partial line (one client's address, another request's status) and
      // everything before our offset in the new content, and the old content's end, were lost.
      const back = f === this.current ? f.tail.length : 0;
      const { bytesRead: got } = await f.fh.read(this.buf, 0, READ_CHUNK, f.readOffset - back);
      // Once stop() was called nothing is delivered; unread bytes stay unread (positions hold).
      if (this.stopped) return any;
      if (back > 0 && (got < back || !this.buf.subarray(0, back).equals(f.tail))) {
        await this.restartTruncated(f);
        any = true;
        continue;
      }
      const bytesRead = got - back;
      if (bytesRead <= 0) return any;
      const chunk = this.buf.subarray(back, got);
      any = true;
      if (f.head.length < HEAD_BYTES && f.readOffset <= f.head.length && f.readOffset + bytesRead > f.head.length) {
        const from = f.head.length - f.readOffset;
        const take = Math.min(bytesRead - from, HEAD_BYTES - f.head.length);
        f.head = Buffer.concat([f.head, chunk.subarray(from, from + take)]);
      }
      f.readOffset += bytesRead;
      if (f.size < f.readOffset) f.size = f.readOffset;
      f.tail = keepTail(f.tail, chunk);
      f.splitter.push(chunk, (line, end) => this.deliverFrom(f, line, end));
    }
  }

  /**
   * Was the file truncated in place since we last read it? Either it is now shorter than our offset,
   * or it has new bytes but the ones just before our offset are not those we read: it was truncated
   * and written past our offset again before we looked (a busy writer, a slow pass). Only a
   * truncation followed by byte-identical content up to our offset escapes this (see the README).
   */
  private async truncatedInPlace(f: OpenFile, size: number): Promise<boolean> {
    if (size < f.readOffset) return true;
    if (size === f.readOffset || f.tail.length === 0) return false;
    const n = f.tail.length;
    const b = Buffer.allocUnsafe(n);
    const { bytesRead } = await f.fh.read(b, 0, n, f.readOffset - n);
    return bytesRead !== n || !b.equals(f.tail);
  }

  /** Copytruncate seen: finish the old content from the copy if there is one, then read from 0. */
  private async restartTruncated(f: OpenFile): Promise<void> {
    this.o.counters.truncations++;
    this.closed.delete(`${f.dev}:${f.ino}`);
    // Its times before the copies are listed: a generation written, copied and truncated from here
    // on changes them, and is looked for at the next look while nothing is read (readCopiesOfUnread).
    f.unreadStamp = await f.fh.stat({ bigint: true }).then(
      (st) => `${st.mtimeNs}:${st.ctimeNs}`,
      () => undefined,
    );
    await this.recoverFromCopy(f);
    f.readOffset = 0;
    f.head = Buffer.alloc(0);
    f.tail = Buffer.alloc(0);
    this.release(f); // new content: a new key once its first line is read
    f.splitter.reset(0);
    // A writer without O_APPEND writes on at its old offset: NULs up to there, then its lines.
    f.splitter.skipLeadingNul();
  }

  /**
   * logrotate's copytruncate copies the file (to access.log.1, access.log-DATE, …) and then
   * truncates it; lines written before the copy that we had not read yet are only in the copy now.
   * The copies beside the file are the regular, uncompressed files named after it (another inode).
   * Ours is the newest one that starts with the bytes we read first; if it also holds the bytes we
   * read last where we read them, it is read on from the last complete line we delivered.
   *
   * Falling behind by more than one rotation (a busy machine, rotation every few hundred ms), or a
   * rotation while we are busy here, leaves copies of generations we never saw: every copy newer than
   * ours at the first truncation that we have not accounted for yet (read, or found to be what the
   * file itself still holds) is read whole, oldest first, and the directory is listed again, a few
   * times at most, for copies made meanwhile. Only complete lines are delivered from a copy. When
   * ours is not there (compressed at once, moved elsewhere), nothing is read from the others, since
   * nothing tells which of them we have seen. Lines written between a copy and its truncation are in
   * neither file: no reader can recover those.
   */
  private async recoverFromCopy(f: OpenFile): Promise<void> {
    let copies = await this.listCopies(f);
    // Ours starts with the bytes we read first and, if it reaches our offset, holds the bytes we
    // read last where we read them. The first bytes alone do not tell generations apart when a
    // writer without O_APPEND leaves each one a hole of NULs up to its offset: every copy after the
    // first starts with NULs, and one more rotation before this look (a loaded machine) had the
    // newest copy taken for ours, ours never read on and the copies in between skipped.
    let ours = await this.findOurs(f, copies);
    if (ours === undefined && f.head.length > 0) {
      // logrotate shifts every name (.1 → .2 …) while we list: a listing can miss ours. Once more.
      copies = await this.listCopies(f);
      ours = await this.findOurs(f, copies);
    }
    if (f.head.length > 0 && f.tail.length > 0) {
      // Kept while its rest is unread (see readGenerations), the newest few.
      const keep = this.readGenerations.filter((g) => !g.restRead).slice(-(MAX_READ_GENERATIONS - 1));
      this.readGenerations = [...keep, { head: f.head, tail: f.tail, offset: f.readOffset, committed: f.splitter.committed, restRead: ours !== undefined }];
    }
    if (!ours) {
      for (const c of copies) this.account(c);
      this.copiesBaselined = true;
      return;
    }
    const mine = ours;
    this.account(mine);
    // Order is the listing's (modification time, then the name: see copyOrder), not a comparison of
    // times: two copies made within one tick of the file system's clock (4 ms on Linux, a second or
    // two on some file systems), a rotation storm under a flood, have the same time, and the one
    // after ours was taken for one before it (never read, all of its lines lost).
    const at = copies.indexOf(mine);
    if (!this.copiesBaselined) {
      // The first truncation seen: older copies predate it (rotations before we followed this file).
      this.copiesBaselined = true;
      for (const c of copies.slice(0, at)) this.account(c);
    }
    // Ours is read to its end (or was read from the file itself up to our offset): a copy of a part
    // of it (an operator's `cp access.log access.log.bak` between two rotations) holds nothing else,
    // and read whole, each of its lines counted twice.
    const oursFh = await this.openCopy(mine);
    const readWhole = async (c: CopyFile): Promise<void> => {
      this.account(c);
      await this.withCopy(c, (fh) => this.readWholeCopy(fh, oursFh === null ? [f.fh] : [f.fh, oursFh]));
    };
    try {
      await this.readFromCopies(f, mine, copies, at, readWhole);
    } finally {
      await oursFh?.close().catch(() => undefined);
    }
  }

  /** recoverFromCopy's reading: copies missed before ours, the rest of ours, copies made after it. */
  private async readFromCopies(f: OpenFile, mine: CopyFile, listed: CopyFile[], at: number, readWhole: (c: CopyFile) => Promise<void>): Promise<void> {
    let copies = listed;
    const unseen = (c: CopyFile): boolean => !this.copiesAccounted.has(copyId(c));
    // Generations missed before ours (a rotation while we were here last time), then ours, then later ones.
    for (const c of copies.slice(0, at)) if (unseen(c)) await readWhole(c);
    if (mine.size >= f.readOffset && f.tail.length > 0) {
      await this.withCopy(mine, async (fh) => {
        // Read as the content it copies (the same lines at the same offsets): another name of the
        // same file (a link, both configured) may have delivered some of them, or read them from
        // the copy itself; read on its own, each of those lines came twice.
        if (await bytesAt(fh, f.readOffset - f.tail.length, f.tail)) await this.readCopyLines(fh, f.splitter.committed, this.sharedKey(f));
        return true;
      });
    }
    // Every copy listed so far is accounted now: what a new listing has that is not, was made since.
    copies = copies.slice(at + 1);
    for (let round = 0; round <= CATCH_UP_ROUNDS; round++) {
      const newer = copies.filter(unseen);
      if (newer.length === 0) break;
      for (const c of newer) await readWhole(c);
      copies = await this.listCopies(f);
    }
  }

  /**
   * A truncation is recognised by what was read before it (the offset, the bytes before it): with
   * nothing read of the current content yet (just truncated, and read while still empty), there is
   * nothing to recognise it by, and a generation written, copied and truncated before the next look
   * (a flood filling a size-based rotation faster than a busy agent reads) was never read: every
   * line of it lost. So while nothing of the file is read, a change of its times since the last look
   * has the copies beside it listed: one not accounted for (recoverFromCopy accounts for every copy
   * it lists) was made since, and is read whole (readWholeCopy: unless the file itself still holds
   * it), oldest first. Only once a truncation was seen since the file was opened: before, nothing
   * tells the copies made before it from those made after.
   */
  private async readCopiesOfUnread(f: OpenFile): Promise<void> {
    if (!this.copiesBaselined) return;
    let st: BigIntStats;
    try {
      st = await f.fh.stat({ bigint: true });
    } catch {
      return;
    }
    const stamp = `${st.mtimeNs}:${st.ctimeNs}`;
    if (f.unreadStamp === stamp) return;
    f.unreadStamp = stamp;
    const copies = await this.listCopies(f);
    for (const c of copies) {
      if (this.stopped) return;
      if (this.copiesAccounted.has(copyId(c))) continue;
      this.account(c);
      await this.withCopy(c, (fh) => this.readWholeCopy(fh, [f.fh]));
    }
  }

  /** Records a copy as accounted for (copiesAccounted), the oldest dropped past MAX_ACCOUNTED. */
  private account(c: CopyFile): void {
    const id = copyId(c);
    this.copiesAccounted.delete(id);
    this.copiesAccounted.add(id);
    for (const old of this.copiesAccounted) {
      if (this.copiesAccounted.size <= MAX_ACCOUNTED) break;
      this.copiesAccounted.delete(old);
    }
  }

  /** Ours among `copies` (see recoverFromCopy): holding our first and last-read bytes, else our first. */
  private async findOurs(f: OpenFile, copies: readonly CopyFile[]): Promise<CopyFile | undefined> {
    const candidates = copies.slice(-MAX_COPY_CANDIDATES).reverse();
    const startsAsOurs = (fh: FileHandle): Promise<boolean> => bytesAt(fh, 0, f.head);
    const endsAsOurs = async (fh: FileHandle): Promise<boolean> => (await startsAsOurs(fh)) && (await bytesAt(fh, f.readOffset - f.tail.length, f.tail));
    if (f.head.length > 0 && f.tail.length > 0) {
      for (const c of candidates) if (c.size >= f.readOffset && (await this.withCopy(c, endsAsOurs))) return c;
    }
    for (const c of f.head.length > 0 ? candidates : []) if (await this.withCopy(c, startsAsOurs)) return c;
    return undefined;
  }

  /** Names beside this file that may be its copies (isCopyName), not compressed (empty when the directory cannot be read). */
  private async copyNames(): Promise<string[]> {
    const base = basename(this.path);
    try {
      return (await readdir(dirname(this.path))).filter((n) => isCopyName(base, n) && !COMPRESSED.test(n));
    } catch {
      return [];
    }
  }

  /** The possible copies of this file beside it, oldest first (by modification time, then name: copyOrder). */
  private async listCopies(f: { readonly dev: string; readonly ino: string } | null): Promise<CopyFile[]> {
    const dir = dirname(this.path);
    const out: CopyFile[] = [];
    const ids = new Set<string>();
    for (const n of await this.copyNames()) {
      try {
        const st = await stat(join(dir, n), { bigint: true });
        if (!st.isFile() || (f !== null && String(st.dev) === f.dev && String(st.ino) === f.ino)) continue;
        // Names shift while we list (.1 → .2): one file may be seen under two names.
        const id = `${st.dev}:${st.ino}`;
        if (ids.has(id)) continue;
        ids.add(id);
        out.push({ name: n, dev: String(st.dev), ino: String(st.ino), mtime: st.mtimeNs, size: Number(st.size) });
      } catch {
        // vanished: not a copy any more
      }
    }
    const base = basename(this.path);
    return out.sort((a, b) => inOrder(a.mtime, b.mtime) || copyOrder(base, a.name, b.name));
  }

  /**
   * Runs `use` on the copy opened by identity: logrotate may shift names (.1 → .2) while we work,
   * so when the name now holds another file the directory is searched for the inode. False when the
   * copy is gone or `use` fails.
   */
  private async withCopy(c: CopyFile, use: (fh: FileHandle) => Promise<boolean>): Promise<boolean> {
    const fh = await this.openCopy(c);
    if (!fh) return false;
    try {
      return await use(fh);
    } catch {
      return false;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** The copy opened by identity (see withCopy); null when it is gone. The caller closes it. */
  private async openCopy(c: CopyFile): Promise<FileHandle | null> {
    const dir = dirname(this.path);
    const tryOpen = async (name: string): Promise<FileHandle | null> => {
      try {
        const fh = await open(join(dir, name), OPEN_FLAGS);
        const st = await fh.stat({ bigint: true });
        if (st.isFile() && copyId(c) === copyIdOf(st)) return fh;
        await fh.close();
      } catch {
        // gone or unreadable
      }
      return null;
    };
    let fh = await tryOpen(c.name);
    if (!fh) {
      const base = basename(this.path);
      for (const n of await readdir(dir).catch(() => [] as string[])) {
        if (n === c.name || !isCopyName(base, n)) continue;
        // Opened only under its inode number (not every name in a large log directory).
        const st = await stat(join(dir, n), { bigint: true }).catch(() => null);
        if (st === null || String(st.ino) !== c.ino) continue;
        fh = await tryOpen(n);
        if (fh) break;
      }
    }
    return fh;
  }

  /**
   * Reads a copy of a rotation we did not see, unless one of `holders` (the followed file, our own
   * copy) holds its first and last bytes at the same offsets: then it is a copy of (part of) content
   * read there (logrotate copied but has not truncated yet; an operator's backup of the log), and
   * read again, each of its lines counted twice. False when skipped.
   */
  private async readWholeCopy(fh: FileHandle, holders: readonly FileHandle[]): Promise<boolean> {
    const size = Number((await fh.stat()).size);
    const n = Math.min(HEAD_BYTES, size);
    if (n === 0) return false;
    const mine = Buffer.allocUnsafe(n);
    const { bytesRead } = await fh.read(mine, 0, n, 0);
    if (bytesRead < n) return false;
    // Its last bytes too, where the copy has them: the first bytes alone are NULs in every
    // generation a writer without O_APPEND left (each a hole up to its offset), and such a
    // generation's copy was taken for the live file's content and skipped, all of its lines lost.
    const m = Math.min(TAIL_BYTES, size);
    const last = Buffer.allocUnsafe(m);
    const { bytesRead: lastRead } = await fh.read(last, 0, m, size - m);
    if (lastRead < m) return false;
    for (const h of holders) if ((await bytesAt(h, 0, mine)) && (await bytesAt(h, size - m, last))) return false;
    for (const g of this.readGenerations) {
      if (size < g.offset || !(await bytesAt(fh, 0, g.head)) || !(await bytesAt(fh, g.offset - g.tail.length, g.tail))) continue;
      // Content read before a truncation (see readGenerations): its rest, once.
      if (g.restRead) return false;
      g.restRead = true;
      return this.readCopyLines(fh, g.committed);
    }
    return this.readCopyLines(fh, 0);
  }

  /**
   * Delivers the complete lines of a copy from `from` on (a partial last line goes on, torn, in the
   * next file); `shared`: the DeliveredFiles key of the content it is a copy of, if known.
   */
  private async readCopyLines(fh: FileHandle, from: number, shared: string | null = null): Promise<boolean> {
    const st = await fh.stat({ bigint: true });
    const copy: OpenFile = {
      fh,
      dev: String(st.dev),
      ino: String(st.ino),
      readOffset: from,
      splitter: new LineSplitter(from, this.o.maxLineBytes),
      lastGrowth: 0,
      size: Number(st.size),
      head: Buffer.alloc(0),
      tail: Buffer.alloc(0),
      shared,
    };
    // A copy of a generation a writer without O_APPEND left starts with a hole of NULs, and a read
    // position inside that hole is no line's middle: the NULs are skipped, the first line kept.
    if (await inNulHole(fh, from)) copy.splitter.skipLeadingNul();
    else if (await midLine(fh, from)) copy.splitter.discardPartial();
    await this.readToEnd(copy);
    this.overlongClosed += copy.splitter.overlongLines;
    return true;
  }

  /** Delivers a line of `f` (ending at `end`) unless another name of the same file delivered it. */
  private deliverFrom(f: OpenFile, line: string, end: number): void {
    const key = this.sharedKey(f);
    const seen = key === null ? undefined : this.o.delivered?.get(key);
    if (seen !== undefined) {
      if (end <= seen.end) {
        // Once per pair of names, whichever of the two happens to read second: which follower reads
        // a write first varies from write to write.
        const pair = [seen.by, this.path].sort().join('\0');
        if (seen.by !== this.path && !seen.warned.has(pair)) {
          seen.warned.add(pair);
          this.o.onWarning(`log path ${this.path} is the same file as ${seen.by} (a link, or a glob matching both): each of its lines is read once`);
        }
        return;
      }
      seen.end = end;
      seen.by = this.path;
    }
    this.deliver(line);
  }

  /** The DeliveredFiles key of `f` (registered on first use), or null when it is not shared. */
  private sharedKey(f: OpenFile): string | null {
    if (f.shared !== undefined) return f.shared;
    const map = this.o.delivered;
    // A copy read after a truncation has no head: read once by the follower that found it.
    if (map === undefined || f.head.length === 0) return (f.shared = null);
    const nl = f.head.indexOf(0x0a);
    if (nl < 0 && f.head.length < HEAD_BYTES) return null; // first line not whole yet: ask again later
    const key = `${f.dev}:${f.ino}:${fingerprint(f.head.subarray(0, nl < 0 ? f.head.length : nl + 1))}`;
    const entry = map.get(key);
    if (entry) entry.refs++;
    else map.set(key, { end: 0, by: this.path, refs: 1, warned: new Set() });
    return (f.shared = key);
  }

  /** `f` is closed or holds new content: its key is dropped once no follower holds it. */
  private release(f: OpenFile): void {
    const key = f.shared;
    f.shared = undefined;
    if (key === undefined || key === null) return;
    const entry = this.o.delivered?.get(key);
    if (entry && --entry.refs <= 0) this.o.delivered?.delete(key);
  }

  private readonly deliver = (line: string): void => {
    this.o.counters.lines++;
    try {
      this.o.onLine(line, this.path);
    } catch (e) {
      this.report(e);
    }
  };

  private async finish(f: OpenFile): Promise<void> {
    await this.readToEnd(f);
    f.splitter.flushPartial((line, end) => this.deliverFrom(f, line, end));
    this.draining = this.draining.filter((d) => d !== f);
    this.overlongClosed += f.splitter.overlongLines;
    this.release(f);
    this.remember(f);
    await f.fh.close().catch(() => undefined);
  }

  /** Records a file read to its end and closed (ClosedFiles). */
  private remember(f: OpenFile): void {
    const key = `${f.dev}:${f.ino}`;
    this.closed.delete(key);
    // Nothing read, or the bytes before the end unknown: nothing to resume, nothing to check.
    if (f.readOffset === 0 || f.tail.length === 0) return;
    const n = Math.min(f.readOffset, f.head.length);
    this.closed.set(key, { end: f.readOffset, fingerprint: n > 0 ? fingerprint(f.head.subarray(0, n)) : undefined, tail: f.tail });
    for (const k of this.closed.keys()) {
      if (this.closed.size <= MAX_CLOSED) break;
      this.closed.delete(k);
    }
  }

  /**
   * Where to start reading a file that the path names now and that was not being read: where an
   * earlier read of it ended, if it was read to its end and closed and still holds what was read
   * (ClosedFiles), else its start.
   */
  private async resumeOffset(fh: FileHandle, st: BigIntStats): Promise<number> {
    const key = `${st.dev}:${st.ino}`;
    const c = this.closed.get(key);
    if (c === undefined) return 0;
    if (Number(st.size) >= c.end && (await fingerprintMatches(fh, c.fingerprint)) && (await bytesAt(fh, c.end - c.tail.length, c.tail))) return c.end;
    this.closed.delete(key); // other content now
    return 0;
  }

  /** `resumed`: no parser of this process read the lines before `offset` (see onResume). */
  private async makeOpen(fh: FileHandle, st: BigIntStats, offset: number, resumed = false): Promise<OpenFile> {
    const id = ident(st);
    const head = Buffer.alloc(Math.min(HEAD_BYTES, Number(st.size)));
    const { bytesRead } = head.length > 0 ? await fh.read(head, 0, head.length, 0) : { bytesRead: 0 };
    const tail = Buffer.alloc(Math.min(TAIL_BYTES, offset));
    const { bytesRead: tailRead } = tail.length > 0 ? await fh.read(tail, 0, tail.length, offset - tail.length) : { bytesRead: 0 };
    const splitter = new LineSplitter(offset, this.o.maxLineBytes);
    // From its start: NULs there are the hole a writer without O_APPEND left after a truncation
    // (read from the start after a restart, or a copy of such a generation), no line's start.
    if (offset === 0) splitter.skipLeadingNul();
    else if (await midLine(fh, offset)) splitter.discardPartial();
    if (resumed) await this.handOverLinesBefore(fh, offset);
    return {
      head: head.subarray(0, bytesRead),
      tail: tail.subarray(0, tailRead === tail.length ? tailRead : 0),
      fh,
      dev: id.dev,
      ino: id.ino,
      readOffset: offset,
      splitter,
      lastGrowth: steadyNow(this.o.clock),
      size: Number(st.size),
    };
  }

  /**
   * Hands the lines before `offset` to onResume, before any line of the file is read (a quiet file
   * holds none of them meanwhile). Files opened together at start under one path (a saved position's
   * rotated copy and the file now at the path) share the parser's stream: the one opened last
   * decides which lines it knows to be in progress.
   */
  private async handOverLinesBefore(fh: FileHandle, offset: number): Promise<void> {
    if (offset <= 0 || this.o.onResume === undefined) return;
    const before = await this.linesBefore(fh, offset);
    try {
      this.o.onResume(before, this.path);
    } catch (e) {
      this.report(e);
    }
  }

  /** The whole lines in the RESUME_CONTEXT_BYTES before `offset`, oldest first, decoded as they are delivered. */
  private async linesBefore(fh: FileHandle, offset: number): Promise<string[]> {
    const from = Math.max(0, offset - RESUME_CONTEXT_BYTES);
    const buf = Buffer.alloc(offset - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    const splitter = new LineSplitter(from, this.o.maxLineBytes);
    // A window that starts inside a line: that line's rest is no line.
    if (from > 0) splitter.discardPartial();
    const lines: string[] = [];
    splitter.push(buf.subarray(0, bytesRead), (line) => lines.push(line));
    return lines;
  }

  /**
   * Opens the path; null when it does not exist or is not a regular file (refused with a warning).
   * The type is checked before opening (opening a FIFO or a device is not harmless) and again on the
   * descriptor, which is opened non-blocking in case the path changed in between. The identity comes
   * from the open descriptor.
   */
  private async openPath(): Promise<{ fh: FileHandle; st: BigIntStats } | null> {
    let fh: FileHandle;
    try {
      const pre = await stat(this.path);
      if (!pre.isFile()) {
        this.refuse(pre);
        return null;
      }
      fh = await open(this.path, OPEN_FLAGS);
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return null;
      throw e;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) {
        this.refuse(st);
        await fh.close().catch(() => undefined);
        return null;
      }
      this.refusedAs = null;
      return { fh, st };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /** One warning per change of type: the path is not followed while it is not a regular file. */
  private refuse(st: Stats | BigIntStats): void {
    const type = fileTypeName(st);
    if (this.refusedAs === type) return;
    this.refusedAs = type;
    this.o.onWarning(
      `log path ${this.path} is a ${type}, not a regular file: not opened and not followed (only regular files are); point the log path at the access log file itself`,
    );
  }

  /**
   * The copy copytruncate left of a file truncated while we were stopped: the newest regular,
   * uncompressed file named after the path (another inode) that starts with the saved position's
   * fingerprinted bytes and reaches its offset; opened there, to be read on like a rotated file.
   * Its bytes past the offset were written after we stopped reading: read nowhere else.
   */
  private async findCopyAtStart(p: FilePosition): Promise<(OpenFile & { name: string }) | null> {
    if (p.fingerprint === undefined || p.offset <= 0) return null;
    const dir = dirname(this.path);
    const found: { name: string; mtime: bigint }[] = [];
    for (const n of await this.copyNames()) {
      try {
        const st = await stat(join(dir, n), { bigint: true });
        if (st.isFile() && Number(st.size) >= p.offset && !(String(st.dev) === p.dev && String(st.ino) === p.ino)) found.push({ name: n, mtime: st.mtimeNs });
      } catch {
        // vanished
      }
    }
    const base = basename(this.path);
    found.sort((a, b) => inOrder(b.mtime, a.mtime) || copyOrder(base, b.name, a.name));
    for (const c of found.slice(0, MAX_COPY_CANDIDATES)) {
      let fh: FileHandle;
      try {
        fh = await open(join(dir, c.name), OPEN_FLAGS);
      } catch {
        continue;
      }
      try {
        const st = await fh.stat({ bigint: true });
        // A copy with NULs where our read stopped is a later generation's (see init), not ours.
        if (st.isFile() && Number(st.size) >= p.offset && (await fingerprintMatches(fh, p.fingerprint)) && !(await nulBefore(fh, p.offset))) return { ...(await this.makeOpen(fh, st, p.offset, true)), name: c.name };
      } catch {
        // unreadable: not ours to read
      }
      await fh.close().catch(() => undefined);
    }
    return null;
  }

  /**
   * After a restart, the copies made after `ours` (the copy findCopyAtStart found: more than one
   * copytruncate while we were stopped), opened at their start, oldest first; read after ours, each
   * a generation never read. Missed, every line of them was lost. Not a copy of what the file holds
   * now (copied, not truncated yet: read from the file itself). Every copy listed is accounted for,
   * so a later truncation reads none of them again.
   */
  private async copiesAfterAtStart(ours: OpenFile, live: { dev: string; ino: string; fh: FileHandle } | null): Promise<OpenFile[]> {
    const copies = await this.listCopies(live);
    const at = copies.findIndex((c) => c.dev === ours.dev && c.ino === ours.ino);
    if (at < 0) return [];
    for (const c of copies) this.account(c);
    this.copiesBaselined = true;
    const out: OpenFile[] = [];
    for (const c of copies.slice(at + 1, at + 1 + MAX_SKIPPED)) {
      const fh = await this.openCopy(c);
      if (fh === null) continue;
      try {
        const st = await fh.stat({ bigint: true });
        if (live === null || !(await holdsWhole(live.fh, fh, Number(st.size)))) {
          out.push(await this.makeOpen(fh, st, 0));
          continue;
        }
      } catch {
        // unreadable: not ours to read
      }
      await fh.close().catch(() => undefined);
    }
    return out;
  }

  /** Finds a file with the saved identity in the path's directory, opened at the saved offset. */
  private async findRotated(p: FilePosition): Promise<OpenFile | null> {
    const dir = dirname(this.path);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return null;
    }
    // Likely names first (access.log.1, access.log-20260101), then the rest of the directory.
    const base = basename(this.path);
    names.sort((a, b) => Number(!a.startsWith(base)) - Number(!b.startsWith(base)) || inOrder(a, b));
    for (const n of names) {
      const full = join(dir, n);
      let st: BigIntStats;
      try {
        st = await stat(full, { bigint: true });
      } catch {
        continue;
      }
      if (!st.isFile() || String(st.dev) !== p.dev || String(st.ino) !== p.ino) continue;
      let fh: FileHandle;
      try {
        fh = await open(full, OPEN_FLAGS);
      } catch {
        return null;
      }
      const fst = await fh.stat({ bigint: true });
      if (!fst.isFile() || String(fst.dev) !== p.dev || String(fst.ino) !== p.ino || !(await fingerprintMatches(fh, p.fingerprint))) {
        await fh.close();
        return null;
      }
      const offset = Number(fst.size) < p.offset ? 0 : p.offset;
      return await this.makeOpen(fh, fst, offset, offset > 0);
    }
    return null;
  }

  private report(e: unknown): void {
    const err =
      e instanceof BanhammerError
        ? e
        : fileError(this.path, `cannot be read: ${errCode(e) ?? (e instanceof Error ? e.message : String(e))}`, 'check that the file is readable by the banhammer user (or mount the log directory into the container)', e);
    if (err.message === this.lastError) return;
    this.lastError = err.message;
    this.o.onError(err);
  }
}

function fingerprint(bytes: Buffer): string {
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
}

/**
 * Where the line that holds byte `size - 1` starts: just past the last newline before `size`, 0
 * when there is none, or -1 when none is within `max` bytes (a line longer than the splitter keeps).
 * Starting "at the end" of a file whose end is inside a line (the writer is still writing it, or
 * flushed part of it) must start at that line's beginning: its rest read as a line of its own
 * starts inside a field the client wrote (a referer, a User-Agent) and can name anyone.
 */
async function lineStartBefore(fh: FileHandle, size: number, max: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, size)));
  let end = size;
  while (end > 0 && size - end <= max) {
    const from = Math.max(0, end - buf.length);
    const { bytesRead } = await fh.read(buf, 0, end - from, from);
    if (bytesRead !== end - from) return size; // changed under us: as before
    const nl = buf.lastIndexOf(0x0a, bytesRead - 1);
    if (nl >= 0) return from + nl + 1;
    end = from;
  }
  return end === 0 ? 0 : -1;
}

/**
 * Is `offset` inside a line (the byte before it is no newline)? Reading must then start by dropping
 * the rest of that line (LineSplitter.discardPartial): read as a line of its own, it begins inside
 * text a client wrote and can name anyone. So it is whatever the offset came from: the end of a file
 * being written, a saved position left inside an overlong line, a copy read from such a position.
 */
async function midLine(fh: FileHandle, offset: number): Promise<boolean> {
  if (offset <= 0) return false;
  const b = Buffer.alloc(1);
  const { bytesRead } = await fh.read(b, 0, 1, offset - 1);
  return bytesRead === 1 && b[0] !== 0x0a;
}

/**
 * Is `offset` at the file's start, or in the hole of NULs a copy of a NUL-gap generation starts
 * with (its first byte and the one before `offset` are NUL)? Asked only of the positions a copy
 * is read from: its start, or where our delivered lines ended (a line boundary, or inside the
 * hole when its first line had not been read yet).
 */
async function inNulHole(fh: FileHandle, offset: number): Promise<boolean> {
  if (offset <= 0) return true;
  const b = Buffer.alloc(1);
  const { bytesRead } = await fh.read(b, 0, 1, 0);
  if (bytesRead < 1 || b[0] !== 0) return false;
  const before = Buffer.alloc(1);
  const { bytesRead: n } = await fh.read(before, 0, 1, offset - 1);
  return n === 1 && before[0] === 0;
}

/**
 * Is the byte before `offset` a NUL? Where a read stopped it is a line's end: a NUL there means
 * the file's hole (a writer without O_APPEND, after a truncation), so another generation's content.
 */
async function nulBefore(fh: FileHandle, offset: number): Promise<boolean> {
  if (offset <= 0) return false;
  const b = Buffer.alloc(1);
  const { bytesRead } = await fh.read(b, 0, 1, offset - 1);
  return bytesRead === 1 && b[0] === 0;
}

/** Does the file start with the bytes the fingerprint was taken of? (No fingerprint: yes.) */
async function fingerprintMatches(fh: FileHandle, fp: string | undefined): Promise<boolean> {
  if (fp === undefined) return true;
  const n = Number(fp.slice(0, fp.indexOf(':')));
  if (!Number.isSafeInteger(n) || n <= 0 || n > HEAD_BYTES) return false;
  const buf = Buffer.alloc(n);
  const { bytesRead } = await fh.read(buf, 0, n, 0);
  return bytesRead === n && fingerprint(buf) === fp;
}

/**
 * Does `holder` hold the first and the last bytes of `copy` (of `size` bytes) at the same offsets:
 * is `copy` a copy of (the start of) it?
 */
async function holdsWhole(holder: FileHandle, copy: FileHandle, size: number): Promise<boolean> {
  const n = Math.min(HEAD_BYTES, size);
  const m = Math.min(TAIL_BYTES, size);
  if (n === 0) return true;
  const first = Buffer.allocUnsafe(n);
  const last = Buffer.allocUnsafe(m);
  if ((await copy.read(first, 0, n, 0)).bytesRead < n || (await copy.read(last, 0, m, size - m)).bytesRead < m) return false;
  return (await bytesAt(holder, 0, first)) && (await bytesAt(holder, size - m, last));
}

/** Does the file hold exactly `want` at `offset`? */
async function bytesAt(fh: FileHandle, offset: number, want: Buffer): Promise<boolean> {
  if (offset < 0) return false;
  const b = Buffer.allocUnsafe(want.length);
  const { bytesRead } = await fh.read(b, 0, want.length, offset);
  return bytesRead === want.length && b.equals(want);
}

/** The last TAIL_BYTES of prev followed by chunk (copied: chunk is a reused buffer). */
function keepTail(prev: Buffer, chunk: Buffer): Buffer {
  if (chunk.length >= TAIL_BYTES) return Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES));
  const keep = Math.min(prev.length, TAIL_BYTES - chunk.length);
  return Buffer.concat([prev.subarray(prev.length - keep), chunk]);
}

/**
 * A copy's identity across listings: device, inode, modification time and size. Not the inode
 * alone: logrotate's `rotate N` deletes the oldest copy just before it makes the new one, which
 * ext4 gives the inode just freed, so a copy never read was taken for the accounted one it replaced
 * (every line of it lost whenever the agent was two rotations behind). A rename (.1 → .2) keeps all
 * four. Not the birth time: where statx is unavailable libuv reports the change time as the birth
 * time, which a rename changes, and every copy shifted was read whole again. A copy still being
 * written when listed (logrotate copying the next generation) is another one once it has grown:
 * looked at again, read whole unless the file or our copy still holds it (readWholeCopy).
 */
function copyId(c: CopyFile): string {
  return `${c.dev}:${c.ino}:${c.mtime}:${c.size}`;
}

function copyIdOf(st: BigIntStats): string {
  return copyId({ name: '', dev: String(st.dev), ino: String(st.ino), mtime: st.mtimeNs, size: Number(st.size) });
}

function ident(st: BigIntStats): { dev: string; ino: string } {
  return { dev: String(st.dev), ino: String(st.ino) };
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function fileError(path: string, what: string, hint: string, cause?: unknown): BanhammerError {
  return new BanhammerError('BH_ERR_FILE', `log file ${path} ${what}`, {
    hint,
    data: { path, code: errCode(cause) },
    ...(cause === undefined ? {} : { cause }),
  });
}
