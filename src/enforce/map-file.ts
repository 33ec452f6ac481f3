/**
 * MapFile: the ban list of a layer-7 enforcer (apache-map, nginx-map), held in memory and mirrored
 * into one file that the web server reads.
 *
 * Contract:
 * - apply(batch) validates every address again (clientAddress: a valid address that can be a
 *   client; unspecified, multicast and broadcast addresses, anything else, and invalid expiries are
 *   refused, never written), updates the in-memory list, then rewrites the whole file. The refused
 *   ones are returned (ApplyResult.refused) after the rest was written.
 * - The file is replaced atomically: `<file>.tmp-<pid>-<n>` in the same directory is written,
 *   chmod 0644 (the web server's user must read it), fsynced, renamed over the target, and the
 *   directory is fsynced. A reader sees the old or the new file, never a half-written one.
 * - The directory is never created: a missing or unwritable directory is a BH_ERR_FILE naming it
 *   and saying what to do. The in-memory list is kept, and the next write (apply or check) retries.
 * - Entries whose expiry has passed are left out of every write (the daemon also unbans them).
 * - check(expected) first makes the in-memory list equal the ban book's unexpired bans (missing ones
 *   added, stray ones dropped), then rewrites the file when the list changed, the last write failed,
 *   or the file is missing or is not the one we wrote (inode, size or mtime changed), and says what
 *   it repaired.
 * - shutdown() writes an empty map and keeps the file: a web server whose configuration names the
 *   file keeps serving (Apache refuses to start without a txt map's file, nginx without an include).
 * - touch() gives the file a new mtime (past the old one, as every write does) and leaves its content:
 *   a new version for a reader that caches per mtime (mod_rewrite). versionAt says when the file last
 *   got a new version from this object (a write or a touch).
 * - With a companion (apache-map's SDBM map, the representation Apache reads beside the file),
 *   write() hands the companion every active entry before it writes the file; a companion that
 *   fails fails the write (the list is kept and the file marked stale, as for the file itself).
 *   check() also asks the companion whether it is still what it wrote, and rewrites both when it is
 *   not. nginx-map has none.
 */
import { readdir, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic, type AtomicWriteError } from '../fs/atomic-write.js';
import type { Clock } from '../clock.js';
import { BanhammerError } from '../errors.js';
import type { EnforcerBan, EnforcerBatch, RefusedEntry } from './enforcer.js';
import { clientAddress } from './iptables-args.js';

export interface MapEntry {
  readonly ip: string;
  readonly family: 4 | 6;
  /** Absolute expiry (ms since the epoch), or null for permanent. */
  readonly until: number | null;
}

/** Turns the active entries (sorted by address) into the file's text. */
export type MapRenderer = (entries: readonly MapEntry[], now: number) => string;

/** A second representation of the list beside the file (see the contract). */
export interface MapCompanion {
  /** Replaces its whole content with `entries` (sorted). */
  write(entries: readonly MapEntry[], now: number): Promise<void>;
  /** Null when it is still what the last write made; otherwise why it must be rewritten. */
  check(): Promise<string | null>;
}

export interface MapFileOptions {
  readonly path: string;
  readonly render: MapRenderer;
  readonly clock: Clock;
  /** Names the enforcer in messages (apache-map, nginx-map). */
  readonly owner: string;
  /** apache-map's SDBM map; none for nginx-map. */
  readonly companion?: MapCompanion;
}

/** An address left out of the map, and why. */
export type Rejected = RefusedEntry;

const refusal = (e: { ip: unknown; family: 4 | 6; scope?: string | undefined }, reason: string): RefusedEntry => ({
  ip: String(e.ip),
  family: e.family,
  ...(e.scope !== undefined ? { scope: e.scope } : {}),
  reason,
});

const MAP_MODE = 0o644;

export class MapFile {
  readonly path: string;
  private readonly held = new Map<string, { family: 4 | 6; until: number | null }>();
  private tmpSeq = 0;
  /** Set when the file may not reflect `held` (a failed write, or leftovers adopted at init). */
  private stale = true;
  /** Identity of the file we wrote last, to notice it being replaced from outside. */
  private written: { ino: bigint; size: bigint; mtimeNs: bigint } | null = null;
  /** Clock time of the last write or touch that succeeded (-Infinity before the first). */
  versionAt = -Infinity;

  constructor(private readonly opts: MapFileOptions) {
    if (!opts.path.startsWith('/') || opts.path.includes('\0')) {
      throw new BanhammerError('BH_ERR_CONFIG', `${opts.owner}: map file ${JSON.stringify(opts.path)} must be an absolute path`, {
        hint: 'set BANHAMMER_MAP_FILE to an absolute path, e.g. /run/banhammer/banned.map',
        data: { path: opts.path },
      });
    }
    this.path = opts.path;
  }

  /**
   * Keeps an existing file as it is (a crashed agent's bans stay enforced until the restored list is
   * written, at the latest by the next check()); writes an empty map when there is none.
   */
  async init(): Promise<void> {
    await this.removeStaleTemps();
    try {
      const st = await stat(this.path);
      // A directory (Docker makes one where a bind mount's source file did not exist), a FIFO or a
      // device is never replaced: every write would fail while the web server reads no bans.
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'ENOTREG' });
      this.stale = true;
      return;
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw this.fileError('cannot read', e);
    }
    await this.write();
  }

  /** Updates the list from a batch; returns the addresses it refused. Does not write. */
  update(batch: EnforcerBatch): Rejected[] {
    const rejected: Rejected[] = [];
    for (const u of batch.unban) {
      const c = clientAddress(u.ip);
      // An unban of a valid address that can never be a client has nothing to remove.
      if ('reason' in c) {
        if (c.reason === 'not a valid IP address') rejected.push(refusal(u, c.reason));
      } else this.held.delete(c.ip);
    }
    for (const b of batch.ban) {
      const c = clientAddress(b.ip);
      if ('reason' in c) {
        rejected.push(refusal(b, c.reason));
        continue;
      }
      if (b.until !== null && !Number.isFinite(b.until)) {
        rejected.push(refusal(b, `invalid expiry ${String(b.until)}`));
        continue;
      }
      this.held.set(c.ip, { family: c.family, until: b.until });
    }
    this.stale = true;
    return rejected;
  }

  /**
   * Makes the list equal `expected` (the ban book's bans; expired, invalid and non-client ones left
   * out; an address twice keeps the later expiry). Returns what changed, or null when nothing did.
   * Does not write.
   */
  reconcile(expected: readonly EnforcerBan[], now = this.opts.clock.now()): string | null {
    const want = new Map<string, { family: 4 | 6; until: number | null }>();
    for (const b of expected) {
      if (b.until !== null && !(Number.isFinite(b.until) && b.until > now)) continue;
      const c = clientAddress(b.ip);
      if ('reason' in c) continue;
      const prev = want.get(c.ip);
      if (prev && (prev.until === null || (b.until !== null && prev.until >= b.until))) continue;
      want.set(c.ip, { family: c.family, until: b.until });
    }
    const have = new Map(this.entries(now).map((e) => [e.ip, e]));
    let missing = 0;
    let stray = 0;
    let changed = 0;
    for (const [ip, w] of want) {
      const h = have.get(ip);
      if (!h) missing++;
      else if (h.until !== w.until) changed++;
    }
    for (const ip of have.keys()) if (!want.has(ip)) stray++;
    if (missing + stray + changed === 0) return null;
    this.held.clear();
    for (const [ip, w] of want) this.held.set(ip, w);
    this.stale = true;
    const parts: string[] = [];
    if (missing > 0) parts.push(`${missing} missing ban(s) re-added`);
    if (stray > 0) parts.push(`${stray} entr${stray === 1 ? 'y' : 'ies'} nobody banned removed`);
    if (changed > 0) parts.push(`${changed} expir${changed === 1 ? 'y' : 'ies'} corrected`);
    return `map file ${this.path}: ${parts.join(', ')}`;
  }

  /** Active entries (expired ones dropped from the list), sorted by address. */
  entries(now = this.opts.clock.now()): MapEntry[] {
    const out: MapEntry[] = [];
    for (const [ip, v] of this.held) {
      if (v.until !== null && v.until <= now) this.held.delete(ip);
      else out.push({ ip, ...v });
    }
    return out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  }

  /** Writes the current list atomically. On failure the list is kept and the file marked stale. */
  async write(): Promise<void> {
    this.stale = true;
    const now = this.opts.clock.now();
    const entries = this.entries(now);
    if (this.opts.companion !== undefined) {
      try {
        await this.opts.companion.write(entries, now);
      } catch (e) {
        throw e instanceof BanhammerError ? e : this.fileError('cannot write', e);
      }
    }
    await this.writeText(this.opts.render(entries, now));
    this.stale = false;
  }

  /** Repairs (see the contract); returns one line per repair, empty when all was well. */
  async check(expected?: () => readonly EnforcerBan[]): Promise<string[]> {
    let why: string | null = null;
    if (this.stale) {
      why = `map file ${this.path} was rewritten (the last write had failed or was pending)`;
    } else {
      try {
        const st = await stat(this.path, { bigint: true });
        const w = this.written;
        if (w && (st.ino !== w.ino || st.size !== w.size || st.mtimeNs !== w.mtimeNs)) why = `map file ${this.path} was changed from outside and was rewritten`;
      } catch (e) {
        if (errCode(e) !== 'ENOENT') throw this.fileError('cannot read', e);
        why = `map file ${this.path} was missing and was re-created`;
      }
      if (why === null && this.opts.companion !== undefined) why = await this.opts.companion.check();
    }
    const listed = expected === undefined ? null : this.reconcile(expected());
    const repaired = [why, listed].filter((x): x is string => x !== null);
    if (repaired.length === 0) return [];
    await this.write();
    return repaired;
  }

  /**
   * Moves the file's mtime past its current one without rewriting it (see the contract). A file that
   * is not the one we wrote is left alone (check() rewrites it); rejects with BH_ERR_FILE when it
   * cannot be changed.
   */
  async touch(): Promise<void> {
    const w = this.written;
    if (this.stale || w === null) return;
    try {
      let st = await stat(this.path, { bigint: true });
      if (st.ino !== w.ino || st.size !== w.size || st.mtimeNs !== w.mtimeNs) return;
      const before = st.mtimeNs;
      // A millisecond past the old mtime, checked and bumped again as a write's mtime is (writeText).
      for (let bump = 1; st.mtimeNs / 1000n <= before / 1000n && bump <= 3; bump++) {
        const t = (Number(before / 1_000_000n) + bump) / 1000;
        await utimes(this.path, t, t);
        st = await stat(this.path, { bigint: true });
      }
      if (st.ino !== w.ino || st.size !== w.size) return; // replaced meanwhile: check() sees it
      this.written = { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
      this.versionAt = this.opts.clock.now();
    } catch (e) {
      if (errCode(e) === 'ENOENT') return; // removed meanwhile: the next check() re-creates it
      throw this.fileError('cannot touch', e);
    }
  }

  /** Forgets every ban and writes an empty map (the file stays). */
  async clear(): Promise<void> {
    this.held.clear();
    await this.write();
  }

  get size(): number {
    return this.held.size;
  }

  /** Temp files of a writer killed mid-write (never this process's own). */
  private async removeStaleTemps(): Promise<void> {
    const dir = dirname(this.path);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return; // reported by the write that follows
    }
    const prefix = `.${basename(this.path)}.tmp-`;
    for (const n of names) {
      if (n.startsWith(prefix) && !n.startsWith(`${prefix}${process.pid}-`)) await unlink(join(dir, n)).catch(() => undefined);
    }
  }

  private async writeText(text: string): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.tmp-${process.pid}-${++this.tmpSeq}`);
    const before = await stat(this.path, { bigint: true }).then((st) => st.mtimeNs, () => null);
    try {
      await writeFileAtomic(this.path, text, { tmp, mode: MAP_MODE });
    } catch (e) {
      const err = e as AtomicWriteError;
      // A failed directory fsync leaves the new file in place; only its durability across a power
      // loss is in doubt, and the agent rewrites the whole map from its state at start anyway.
      if (err.step === 'write') throw this.fileError('cannot write', err.cause);
    }
    try {
      // Apache re-reads a txt map only when its mtime differs from the one it read. File times tick
      // coarsely (a jiffy: consecutive writes usually get the same mtime), so a write right after
      // another one would go unseen: move the new file's mtime past the old one's.
      // utimes takes seconds as a double, which at today's epoch resolves about 240 ns: one
      // millisecond past the old time's millisecond can round back to it (a whole-millisecond old
      // time that an earlier bump set, say), so the result is checked and bumped again if need be.
      // Apache compares mtimes in microseconds (apr_time_t): a new one in the same microsecond is no change.
      let st = await stat(this.path, { bigint: true });
      for (let bump = 1; before !== null && st.mtimeNs / 1000n <= before / 1000n && bump <= 3; bump++) {
        const t = (Number(before / 1_000_000n) + bump) / 1000;
        await utimes(this.path, t, t);
        st = await stat(this.path, { bigint: true });
      }
      this.written = { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
    } catch {
      this.written = null;
    }
    this.versionAt = this.opts.clock.now();
  }

  private fileError(what: string, e: unknown): BanhammerError {
    const code = errCode(e);
    const dir = dirname(this.path);
    const kept = `the ${this.held.size} ban(s) are kept in memory and written on the next attempt`;
    let message: string;
    let hint: string;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      message = `${this.opts.owner}: ${what} map file ${this.path}: directory ${dir} does not exist`;
      hint = `create ${dir} (or mount a volume there) writable by the agent and readable by the web server, or point BANHAMMER_MAP_FILE elsewhere; ${kept}`;
    } else if (code === 'EISDIR' || code === 'ENOTREG') {
      message = `${this.opts.owner}: ${what} map file ${this.path}: it is ${code === 'EISDIR' ? 'a directory' : 'not a regular file'}, not the map file`;
      hint = `remove it (a bind mount whose source file did not exist makes a directory: mount the directory ${dir} instead, or create the source file first), or point BANHAMMER_MAP_FILE elsewhere; ${kept}`;
    } else if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      message = `${this.opts.owner}: ${what} map file ${this.path}: directory ${dir} is not writable (${code})`;
      hint = `make ${dir} writable by the agent's user (and not read-only), or point BANHAMMER_MAP_FILE elsewhere; ${kept}`;
    } else {
      message = `${this.opts.owner}: ${what} map file ${this.path}: ${code ?? (e instanceof Error ? e.message : String(e))}`;
      hint = `check ${dir} (free space, file system errors); ${kept}`;
    }
    return new BanhammerError('BH_ERR_FILE', message, { hint, data: { path: this.path, dir, code: code ?? null }, cause: e });
  }
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
