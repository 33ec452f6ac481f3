/**
 * A small, crash-safe JSON document store (bans, ban history, read positions) under one directory.
 *
 * Contract:
 * - The document lives in `<dir>/<name>.json` as `{ "version": <n>, "savedAt": <ms>, "data": <doc> }`.
 * - save() writes `<name>.json.tmp-<pid>-<seq>` in the same directory, fsyncs it, renames it over the
 *   target and fsyncs the directory, so a kill -9 (or power loss) at any moment leaves either the old
 *   or the new complete file. The directory is created (mode 0700) when missing.
 * - Concurrent save() calls never interleave: writes are serialised, and a save that is still
 *   waiting when a newer one arrives is folded into it (every caller resolves once a document at
 *   least as new as its own is durable). The last call wins.
 * - load(): missing file → null. A corrupt or invalid file (bad JSON, wrong envelope, wrong version,
 *   validate() throws, larger than maxBytes — read no further than that) is renamed aside to `<name>.corrupt-<timestamp>`, reported through
 *   onWarning, and load() returns null: a bad file must never crash-loop the agent; so is a symbolic
 *   link at the file's place that cannot be followed (a loop: ELOOP). Temp files left
 *   by a killed writer are removed. Only an unusable directory (permissions, not a directory, I/O
 *   error) throws, as BanhammerError('BH_ERR_STATE').
 * - Trust: the file decides what the kernel drops, so one that someone else could have written is
 *   not restored. A state file not owned by this process's user, or writable by its group or by
 *   others, or a directory not owned by this user or root and writable by its group or others
 *   (without the sticky bit, anyone could replace or delete our file), is refused: load() warns
 *   (onWarning), sets the file aside (its content is evidence) and returns null; `refused` says why
 *   (as for any file set aside) until the next load. Saving goes on (mode 0600, our owner), so a fixed
 *   directory holds a trusted file again.
 */
import { lstat, mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { NotRegularFileError, readRegularFile } from '../fs/read-regular.js';
import { join } from 'node:path';
import { writeFileAtomic, type AtomicWriteError } from '../fs/atomic-write.js';
import { BanhammerError } from '../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { encodeChunks, runYielding, STEP_UNITS, type Steps } from '../yielding.js';

export interface StateStoreOptions<T> {
  /** Directory holding the file (BANHAMMER_STATE_DIR). */
  readonly dir: string;
  /** File stem: [A-Za-z0-9._-]+, e.g. "bans" → bans.json. */
  readonly name: string;
  /** Schema version written into the envelope; a file with another version is set aside. */
  readonly version: number;
  /** Turns the parsed `data` into a T, throwing when it is not one. */
  readonly validate: (raw: unknown) => T;
  readonly onWarning: (msg: string) => void;
  /** For the timestamps of savedAt and of set-aside files. */
  readonly clock?: Clock;
  /** A larger file is not read but set aside (default DEFAULT_MAX_STATE_BYTES). */
  readonly maxBytes?: number;
  /** The user the files must belong to (default: this process's effective uid; tests pin it). */
  readonly uid?: number;
}

/**
 * The largest state file read: far above what the agent writes (100,000 bans with their lines, the
 * history and positions stay well under 64 MiB), far below what would exhaust its memory.
 */
export const DEFAULT_MAX_STATE_BYTES = 256 << 20;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const STATE_HINT = 'mount a writable volume at BANHAMMER_STATE_DIR and check its owner and permissions';

export class StateStore<T> {
  readonly file: string;
  private readonly opts: StateStoreOptions<T>;
  private readonly clock: Clock;
  private tmpSeq = 0;
  /** Newest document waiting to be written, with everyone waiting for it. */
  private pending: { doc: T; waiters: { resolve: () => void; reject: (e: unknown) => void }[] } | null = null;
  private writing = false;
  /**
   * Why the last load() restored nothing from a file that was there (set aside: corrupt, of another
   * version, or written by someone else), or null: the agent runs without its saved bans, which
   * `status` must say, not only the log at start.
   */
  refused: string | null = null;

  constructor(opts: StateStoreOptions<T>) {
    if (!NAME_RE.test(opts.name)) {
      throw new BanhammerError('BH_ERR_STATE', `invalid state file name "${opts.name}"`, {
        hint: 'use letters, digits, dot, dash and underscore only',
        data: { name: opts.name },
      });
    }
    if (!Number.isSafeInteger(opts.version) || opts.version < 1) {
      throw new BanhammerError('BH_ERR_STATE', `invalid state version ${String(opts.version)} for "${opts.name}"`, {
        hint: 'versions are positive integers',
        data: { version: opts.version },
      });
    }
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.file = join(opts.dir, `${opts.name}.json`);
  }

  async load(): Promise<T | null> {
    await this.removeStaleTemps();
    this.refused = null;
    const distrust = await this.distrust();
    if (distrust !== null) return this.setAside(`is refused: ${distrust}, so someone else could have planted or removed bans in it`);
    let text: string;
    const max = this.opts.maxBytes ?? DEFAULT_MAX_STATE_BYTES;
    try {
      text = await readRegularFile(this.file, max);
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT') return null;
      // Not a file the agent wrote (a FIFO would stall the start, /dev/zero fill the memory): set aside.
      if (e instanceof NotRegularFileError) {
        return this.setAside(code === 'EFBIG' ? `is ${e.size ?? 'more than'} bytes, more than the ${max} a state file may have` : code === 'EISDIR' ? 'is a directory' : 'is not a regular file');
      }
      // A symbolic link that cannot be followed (a loop, or through a file as if it were a
      // directory): the file is bad, not the directory, so it is set aside like any corrupt file
      // rather than failing every start (the agent exited 2 and its supervisor restarted it for ever).
      if ((code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') && (await isSymlink(this.file))) {
        return this.setAside(`is a symbolic link that cannot be followed (${code})`);
      }
      throw stateError(`cannot read state file ${this.file}: ${code ?? String(e)}`, e, this.file);
    }
    // A file that grew past the limit between stat and read (it is ours; still refuse it).
    if (text.length > max) return this.setAside(`is more than the ${max} bytes a state file may have`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return this.setAside(`is not valid JSON (${(e as Error).message})`);
    }
    if (!isEnvelope(raw)) return this.setAside('does not hold a {version, data} document');
    if (raw.version !== this.opts.version) {
      return this.setAside(`has version ${String(raw.version)}, expected ${this.opts.version}`);
    }
    try {
      return this.opts.validate(raw.data);
    } catch (e) {
      return this.setAside(`failed validation (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  save(doc: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.pending) {
        this.pending.doc = doc;
        this.pending.waiters.push({ resolve, reject });
      } else {
        this.pending = { doc, waiters: [{ resolve, reject }] };
      }
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending) {
        const job = this.pending;
        this.pending = null;
        try {
          await this.writeDurably(job.doc);
          for (const w of job.waiters) w.resolve();
        } catch (e) {
          for (const w of job.waiters) w.reject(e);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeDurably(doc: T): Promise<void> {
    const { dir } = this.opts;
    // Rendered in slices (jsonSteps), never in one JSON.stringify: 500,000 bans took 0.35 s of one
    // block, at every save (review H34). The same bytes; the document must not change meanwhile
    // (the agent hands a snapshot).
    const parts = await runYielding(jsonSteps({ version: this.opts.version, savedAt: this.clock.now(), data: doc }, []));
    parts.push('\n');
    const body = encodeChunks(parts, 'utf8');
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw stateError(`cannot create state directory ${dir}: ${errCode(e) ?? String(e)}`, e, dir);
    }
    const tmp = join(dir, `${this.opts.name}.json.tmp-${process.pid}-${++this.tmpSeq}`);
    try {
      await writeFileAtomic(this.file, body, { tmp, mode: 0o600 });
    } catch (e) {
      const err = e as AtomicWriteError;
      if (err.step === 'sync-dir') throw stateError(`cannot fsync state directory ${dir}: ${err.code ?? String(err.cause)}`, err.cause, dir);
      throw stateError(`cannot write state file ${this.file}: ${err.code ?? String(err.cause)}`, err.cause, this.file);
    }
  }

  /** See Trust in the header: why the state may hold what another user wrote, or null. */
  private distrust(): Promise<string | null> {
    return trustProblem(this.opts.dir, this.file, this.opts.uid);
  }

  private async setAside(why: string): Promise<null> {
    this.refused = `state file ${this.file} ${why}; its bans and read positions were not restored`;
    const stamp = new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-');
    const target = join(this.opts.dir, `${this.opts.name}.corrupt-${stamp}`);
    try {
      await rename(this.file, target);
      this.opts.onWarning(`state file ${this.file} ${why}; moved it to ${target} and starting with empty ${this.opts.name} state`);
    } catch (e) {
      this.opts.onWarning(
        `state file ${this.file} ${why}; could not move it aside (${errCode(e) ?? String(e)}), starting with empty ${this.opts.name} state and it will be overwritten on the next save`,
      );
    }
    return null;
  }

  /** Temp files of a writer killed mid-save; never of this process's own in-flight saves. */
  private async removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.opts.dir);
    } catch (e) {
      const code = errCode(e);
      if (code === 'ENOENT') return;
      throw stateError(`cannot read state directory ${this.opts.dir}: ${code ?? String(e)}`, e, this.opts.dir);
    }
    const prefix = `${this.opts.name}.json.tmp-`;
    const mine = `${prefix}${process.pid}-`;
    for (const n of names) {
      if (n.startsWith(prefix) && !n.startsWith(mine)) await unlink(join(this.opts.dir, n)).catch(() => undefined);
    }
  }
}

/**
 * Why `file` in `dir` may hold what a user other than `uid` (default: this process's effective uid)
 * wrote, or null (see Trust in the header). For every file the agent restores from its state
 * directory (the share outbox too). A file or directory that does not exist is no risk: nothing is
 * restored from it; one that cannot be read fails where it is read.
 */
export async function trustProblem(dir: string, file: string, uid: number | undefined = process.geteuid?.()): Promise<string | null> {
  if (uid === undefined) return null; // (no users on this platform)
  let d;
  let f;
  try {
    d = await stat(dir);
    f = await stat(file);
  } catch {
    return null;
  }
  if (!f.isFile()) return null; // (set aside by the read, as any file that is not regular)
  const dirProblem = unsafeOwnership(d, uid, { rootMayOwn: true, stickyHelps: true });
  if (dirProblem !== null) return `its directory ${dir} ${dirProblem}`;
  const fileProblem = unsafeOwnership(f, uid, { rootMayOwn: false, stickyHelps: false });
  return fileProblem === null ? null : `it ${fileProblem}`;
}

/**
 * Why a file or directory with this owner and mode could have been written by another user than
 * `uid`, or null. Root may own the directory (a volume mounted by Docker), never the file of an
 * agent that runs as another user; the sticky bit keeps others from replacing or deleting a file
 * they do not own, and the file's own owner is checked too.
 */
export function unsafeOwnership(st: { uid: number; mode: number }, uid: number, o: { rootMayOwn: boolean; stickyHelps: boolean }): string | null {
  if (st.uid !== uid && !(o.rootMayOwn && st.uid === 0)) return `is owned by uid ${st.uid}, not by this agent's user (uid ${uid})`;
  const writable = st.mode & 0o022;
  if (writable === 0 || (o.stickyHelps && (st.mode & 0o1000) !== 0)) return null;
  const who = writable === 0o022 ? 'its group and others' : writable === 0o020 ? 'its group' : 'others';
  return `is writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
}

/** Is `path` itself a symbolic link (lstat; false when it cannot be read at all)? */
async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}

function isEnvelope(v: unknown): v is { version: unknown; data: unknown } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'version' in v && 'data' in v;
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function stateError(message: string, cause: unknown, path: string): BanhammerError {
  return new BanhammerError('BH_ERR_STATE', message, { hint: STATE_HINT, data: { path, code: errCode(cause) }, cause });
}

/**
 * JSON.stringify(value) as parts, in pausable steps (src/yielding.ts): objects and arrays are
 * walked `depth` levels deep (the envelope, the state, its lists) and each element below is rendered
 * whole, with a pause point every STEP_UNITS elements. The parts joined are JSON.stringify's text
 * (keys in the same order, undefined, functions and symbols left out of objects and null in arrays,
 * toJSON honoured).
 */
export function* jsonSteps(value: unknown, out: string[], depth = 3): Steps<string[]> {
  let n = 0;
  const whole = (v: unknown, level: number): boolean => level >= depth || typeof v !== 'object' || v === null || typeof (v as { toJSON?: unknown }).toJSON === 'function';
  function* walk(v: object, level: number): Steps<void> {
    if (Array.isArray(v)) {
      out.push('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out.push(',');
        const x: unknown = v[i];
        if (!whole(x, level + 1)) yield* walk(x as object, level + 1);
        else {
          out.push(JSON.stringify(x) ?? 'null');
          if ((++n & (STEP_UNITS - 1)) === 0) yield;
        }
      }
      out.push(']');
      return;
    }
    out.push('{');
    let first = true;
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      out.push(first ? `${JSON.stringify(k)}:` : `,${JSON.stringify(k)}:`);
      first = false;
      if (!whole(x, level + 1)) yield* walk(x as object, level + 1);
      else {
        out.push(JSON.stringify(x));
        if ((++n & (STEP_UNITS - 1)) === 0) yield;
      }
    }
    out.push('}');
  }
  if (whole(value, 0)) out.push(JSON.stringify(value) ?? 'null');
  else yield* walk(value as object, 0);
  return out;
}
