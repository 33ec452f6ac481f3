/**
 * Follows one concrete path through rotation, truncation, deletion and re-creation.
 *
 * Reading is done through an open file descriptor, never by name, so bytes appended to a file
 * after it was renamed away are still read from the descriptor. After every read to end-of-file the
 * path is stat()ed:
 * - same device+inode, size below our read offset → truncated in place (copytruncate): restart at 0;
 * - another device+inode → rotated (rename or delete-and-recreate): the old descriptor keeps being
 *   read ("draining") until it has not grown for rotateWaitMs (the writer may still append until it
 *   reopens its log), its last unterminated line is then delivered and it is closed; the new file
 *   is read from its beginning;
 * - missing → keep the descriptor (it may be the file's last word) until rotateWaitMs passes
 *   without the path coming back, then close it; a file appearing later is read from 0.
 *
 * Nothing here waits on its own: the owner calls poke() on file-system events and on a fallback
 * poll timer. Reads are serialised (a poke during a read causes one more pass afterwards), so
 * delivery order is file order. The start rule is documented in line-source.ts.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { fstatSync, type BigIntStats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
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
}

interface OpenFile {
  readonly fh: FileHandle;
  readonly dev: string;
  readonly ino: string;
  /** Offset of the next byte to read. */
  readOffset: number;
  readonly splitter: LineSplitter;
  /** When it last grew (ms), for closing drained files. */
  lastGrowth: number;
  /** The file's first bytes (up to HEAD_BYTES), for the fingerprint. */
  head: Buffer;
}

const READ_CHUNK = 64 * 1024;
const HEAD_BYTES = 1024;

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

  constructor(opts: FileFollowerOptions) {
    this.o = opts;
    this.path = opts.path;
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
          truncated = false;
        }
      }
      let offset: number;
      if (mine && !truncated) {
        offset = mine.offset;
      } else if (mine) {
        this.o.onWarning(
          `${this.path} is shorter than the saved read position (${mine.offset} bytes): it was truncated while banhammer was stopped; reading it from the beginning`,
        );
        offset = 0;
      } else if (saved.length > 0) {
        offset = 0; // created after a rotation that happened while we were stopped
      } else {
        offset = this.o.startAt === 'end' ? size : 0;
      }
      this.current = await this.makeOpen(fh, st, offset);
    }
    for (const p of saved) {
      if (p === mine) continue;
      const found = await this.findRotated(p);
      if (found) {
        this.draining.push(found);
      } else {
        this.o.onWarning(
          `${this.path}: the file read before the restart (device ${p.dev}, inode ${p.ino}) was rotated away and is no longer in ${dirname(this.path)}; lines written to it after offset ${p.offset} were not read`,
        );
      }
    }
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
    const files = [...this.draining, ...(this.current ? [this.current] : [])];
    for (const f of files) await f.fh.close().catch(() => undefined);
    // Keep the records (closed handles are never read again) so positions() stays valid.
  }

  positions(): FilePosition[] {
    const out: FilePosition[] = [];
    for (const f of [...this.draining, ...(this.current ? [this.current] : [])]) {
      const offset = f.splitter.committed;
      const n = Math.min(offset, f.head.length);
      out.push({ path: this.path, dev: f.dev, ino: f.ino, offset, ...(n > 0 ? { fingerprint: fingerprint(f.head.subarray(0, n)) } : {}) });
    }
    return out;
  }

  lagBytes(): number {
    if (this.stopped) return 0;
    let lag = 0;
    for (const f of [...this.draining, ...(this.current ? [this.current] : [])]) {
      try {
        lag += Math.max(0, fstatSync(f.fh.fd).size - f.readOffset);
      } catch {
        // closed between the check and the call: nothing to count
      }
    }
    return lag;
  }

  overlongLines(): number {
    let n = this.overlongClosed;
    for (const f of [...this.draining, ...(this.current ? [this.current] : [])]) n += f.splitter.overlongLines;
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
    const now = this.o.clock.now();
    for (const d of [...this.draining]) {
      if (this.stopped) return;
      const grew = await this.readToEnd(d);
      if (grew) d.lastGrowth = now;
      else if (now - d.lastGrowth >= this.o.rotateWaitMs) await this.finish(d);
    }
    if (this.stopped) return;
    if (this.current && (await this.readToEnd(this.current))) this.current.lastGrowth = now;

    let st: BigIntStats | null;
    try {
      st = await stat(this.path, { bigint: true });
    } catch (e) {
      if (errCode(e) !== 'ENOENT' && errCode(e) !== 'ENOTDIR') throw e;
      st = null;
    }
    if (this.stopped) return;
    const cur = this.current;
    if (!st) {
      if (!cur) return;
      this.missingSince ??= now;
      if (now - this.missingSince >= this.o.rotateWaitMs && now - cur.lastGrowth >= this.o.rotateWaitMs) {
        this.current = null;
        await this.finish(cur);
      }
      return;
    }
    this.missingSince = null;
    if (!st.isFile()) throw fileError(this.path, 'is not a regular file', 'point the log path at the access log file itself');
    const id = ident(st);
    if (cur && cur.dev === id.dev && cur.ino === id.ino) {
      if (Number(st.size) < cur.readOffset) {
        this.o.counters.truncations++;
        cur.readOffset = 0;
        cur.head = Buffer.alloc(0);
        cur.splitter.reset(0);
        await this.readToEnd(cur);
      }
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
    const dup = this.draining.find((d) => d.dev === oid.dev && d.ino === oid.ino);
    if (dup) {
      // The old file came back under this name (renamed back): it is current again.
      this.draining = this.draining.filter((d) => d !== dup);
      await opened.fh.close();
      this.current = dup;
    } else {
      this.current = await this.makeOpen(opened.fh, opened.st, 0);
    }
    await this.readToEnd(this.current);
  }

  /** Reads to end-of-file, delivering complete lines; true if anything was read. */
  private async readToEnd(f: OpenFile): Promise<boolean> {
    let any = false;
    const size = (await f.fh.stat()).size;
    if (size < f.readOffset) {
      // A drained file truncated under us: nothing more will come from the old content.
      return false;
    }
    for (;;) {
      if (this.stopped) return any;
      const { bytesRead } = await f.fh.read(this.buf, 0, READ_CHUNK, f.readOffset);
      // Once stop() was called nothing is delivered; unread bytes stay unread (positions hold).
      if (bytesRead === 0 || this.stopped) return any;
      any = true;
      if (f.head.length < HEAD_BYTES && f.readOffset <= f.head.length && f.readOffset + bytesRead > f.head.length) {
        const from = f.head.length - f.readOffset;
        const take = Math.min(bytesRead - from, HEAD_BYTES - f.head.length);
        f.head = Buffer.concat([f.head, this.buf.subarray(from, from + take)]);
      }
      f.readOffset += bytesRead;
      f.splitter.push(this.buf.subarray(0, bytesRead), this.deliver);
    }
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
    f.splitter.flushPartial(this.deliver);
    this.draining = this.draining.filter((d) => d !== f);
    this.overlongClosed += f.splitter.overlongLines;
    await f.fh.close().catch(() => undefined);
  }

  private async makeOpen(fh: FileHandle, st: BigIntStats, offset: number): Promise<OpenFile> {
    const id = ident(st);
    const head = Buffer.alloc(Math.min(HEAD_BYTES, Number(st.size)));
    const { bytesRead } = head.length > 0 ? await fh.read(head, 0, head.length, 0) : { bytesRead: 0 };
    return {
      head: head.subarray(0, bytesRead),
      fh,
      dev: id.dev,
      ino: id.ino,
      readOffset: offset,
      splitter: new LineSplitter(offset, this.o.maxLineBytes),
      lastGrowth: this.o.clock.now(),
    };
  }

  /** Opens the path; null when it does not exist. The identity comes from the open descriptor. */
  private async openPath(): Promise<{ fh: FileHandle; st: BigIntStats } | null> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return null;
      throw e;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw fileError(this.path, 'is not a regular file', 'point the log path at the access log file itself');
      return { fh, st };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
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
    names.sort((a, b) => Number(!a.startsWith(base)) - Number(!b.startsWith(base)) || a.localeCompare(b));
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
        fh = await open(full, 'r');
      } catch {
        return null;
      }
      const fst = await fh.stat({ bigint: true });
      if (String(fst.dev) !== p.dev || String(fst.ino) !== p.ino || !(await fingerprintMatches(fh, p.fingerprint))) {
        await fh.close();
        return null;
      }
      const offset = Number(fst.size) < p.offset ? 0 : p.offset;
      return await this.makeOpen(fh, fst, offset);
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

/** Does the file start with the bytes the fingerprint was taken of? (No fingerprint: yes.) */
async function fingerprintMatches(fh: FileHandle, fp: string | undefined): Promise<boolean> {
  if (fp === undefined) return true;
  const n = Number(fp.slice(0, fp.indexOf(':')));
  if (!Number.isSafeInteger(n) || n <= 0 || n > HEAD_BYTES) return false;
  const buf = Buffer.alloc(n);
  const { bytesRead } = await fh.read(buf, 0, n, 0);
  return bytesRead === n && fingerprint(buf) === fp;
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
