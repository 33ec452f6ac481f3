/**
 * The contract between source and parse: a LineSource follows log files and hands over complete
 * lines, in file order, each exactly once. copytruncate is the exception it cannot fully hide: lines
 * written between the copy and the truncation exist nowhere any more, and a rotation recovered late
 * from its copy may arrive after the next one (file-follower.ts).
 *
 * - start() resolves once every configured path has been looked at (files present are open, or
 *   their absence noted); lines then arrive through onLine, synchronously, one at a time.
 * - positions() returns, per followed file, the byte offset just past the last line handed to
 *   onLine (a held partial line is not included), with the file's identity (device + inode). The
 *   daemon saves them (state-store) and passes them back as startPositions after a restart.
 * - stop() waits for any read in progress, closes every file and watcher, and delivers nothing
 *   afterwards; positions() stays valid after stop().
 * - onError receives BanhammerError('BH_ERR_FILE') for problems with one file (permissions, a
 *   directory where a file was expected); the source keeps retrying and never throws from timers.
 *   onWarning receives notes the operator should see (lines that could not be recovered after a
 *   rotation while stopped, watchers that fell back to polling).
 *
 * Start rule (first run vs. restart), per concrete file path P:
 * 1. A saved position whose identity (device+inode, and fingerprint) is the file now at P: resume at its offset (or at 0 if the
 *    file is now shorter, i.e. it was truncated while we were down).
 * 2. A saved position for P whose identity is not the file at P (rotated while we were down): look
 *    in P's directory for a regular file with that device+inode (e.g. access.log.1 after rename
 *    rotation); if found, read it from the saved offset to its end, alongside; if not found
 *    (compressed or deleted), warn that its remainder is lost. The file now at P is then read from
 *    its beginning, since it was created after the rotation.
 * 3. No saved position for P and P exists at start(): start at its end (old lines are not replayed);
 *    when the end is inside a line (still being written), at that line's beginning, or past it when
 *    it began more than maxLineBytes back: the rest of a line is never handed over as a line.
 * 4. A file that appears after start() (P created later, or a new glob match): read from its
 *    beginning, unless it is a file this source already read to its end and closed that still holds
 *    what was read (a symlink switched back, a log moved away and back, a rotated name a glob
 *    matches): read on from where it stopped (file-follower.ts ClosedFiles).
 */
export interface FilePosition {
  /** The configured (or glob-expanded) path the file was followed under. */
  readonly path: string;
  /** Device and inode, as decimal strings: 64-bit values (overlayfs xino) do not fit a double. */
  readonly dev: string;
  readonly ino: string;
  /** Byte offset just past the last line handed over. */
  readonly offset: number;
  /**
   * "<n>:<hex>": SHA-256 (first 32 hex digits) of the file's first n bytes (n ≤ 1024 and ≤ offset).
   * Inode numbers are reused once a file is deleted (ext4 does so at once), so on resume a file
   * only counts as the saved one if its first n bytes still hash the same. Absent when offset is 0.
   */
  readonly fingerprint?: string;
}

export interface LineSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  positions(): FilePosition[];
  /**
   * Bytes written to followed files but not read yet (a gauge for metrics), from their sizes as last
   * learned: never a synchronous look at a file system, which may hang (NFS, FUSE).
   */
  lagBytes(): number;
  /** Learns the files' sizes now, asynchronously: what lagBytes() and progress() tell afterwards is current. */
  lookAtSizes?(): Promise<void>;
  stats(): LineSourceStats;
  /** Per configured path (or glob), as written in the configuration: what metrics need for log lag. */
  progress?(): FileProgress[];
  /** Per configured path (or glob): its files now, each with its own lag (what `status` lists). */
  watched?(): WatchedEntry[];
}

export interface FileProgress {
  /** The configured path or glob, as written (a bounded set: one per configured entry). */
  readonly path: string;
  /** Lines handed to onLine from the files under it, since start. */
  readonly lines: number;
  /** Bytes written to its files but not read yet. */
  readonly unreadBytes: number;
}

export interface WatchedEntry {
  /** The configured path or glob, as written (the same entries, in the same order, as progress()). */
  readonly path: string;
  /**
   * The files read under it now (a path's file, a glob's matches, a rotated-away file still being
   * drained), each with its own unread bytes; empty while the path does not exist yet or the glob
   * matches nothing (the source waits for it).
   */
  readonly files: readonly { readonly path: string; readonly unreadBytes: number }[];
}

export interface LineSourceStats {
  /** Concrete files currently followed (excluding rotated files still being drained). */
  readonly files: number;
  readonly lines: number;
  /** Lines longer than maxLineBytes, delivered cut to their head (see line-splitter.ts). */
  readonly overlongLines: number;
  readonly rotations: number;
  readonly truncations: number;
}

export function isFilePosition(v: unknown): v is FilePosition {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    typeof p.path === 'string' &&
    typeof p.dev === 'string' &&
    /^\d+$/.test(p.dev) &&
    typeof p.ino === 'string' &&
    /^\d+$/.test(p.ino) &&
    typeof p.offset === 'number' &&
    Number.isSafeInteger(p.offset) &&
    p.offset >= 0 &&
    (p.fingerprint === undefined || (typeof p.fingerprint === 'string' && /^\d+:[0-9a-f]{32}$/.test(p.fingerprint)))
  );
}
