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
 * - The agent has one thread: a big list (500,000 bans) is never handled in one block. write()
 *   reads the list, sorts it and renders it (with renderParts; the companion builds its own part
 *   likewise) in slices of about 10 ms (yielding.ts), check()'s comparison with the ban book and
 *   updateYielding() too; the event loop turns between two slices.
 * - A write renders one snapshot of the list, the list as it was when the write began: a change made
 *   while it runs is left out of it (setHeld/deleteHeld tell the snapshot's reader what a key held
 *   before) and goes to the next write; the file stays stale until then. Writes never overlap: a
 *   write asked for while one runs starts after it, and every call made meanwhile joins that one
 *   (so one change is never followed by two writes, nor a write by one it overtakes). A write or a
 *   check asked for during updateYielding() waits for the whole batch: none reads a batch half-applied.
 *   Checks run one after the other (the list ends as the book read last), and a change update() makes
 *   while a check compares the list with the book, an unban of an address the list lacks included,
 *   is kept over the book's (the newer word).
 */
import { readdir, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic, type AtomicWriteError } from '../fs/atomic-write.js';
import { steadyNow, type Clock } from '../clock.js';
import { BanhammerError } from '../errors.js';
import type { EnforcerBan, EnforcerBatch, RefusedEntry } from './enforcer.js';
import { clientAddress } from './iptables-args.js';
import { encodeChunks, runSync, runYielding, sortSteps, STEP_UNITS, type Steps } from '../yielding.js';

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
  /**
   * `render`'s text in parts (joined: the same text), in pausable steps (yielding.ts); write() uses it
   * when given, and writes the parts encoded a MiB or so at a time (encodeChunks), never one big
   * string at once.
   */
  readonly renderParts?: (entries: readonly MapEntry[], now: number) => Steps<readonly string[]>;
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

/**
 * One entry of the list, never changed (a change is a new object); `seq` orders insertions (a Map
 * iterates in insertion order). A write's snapshot hands these objects themselves (a MapEntry and
 * more), not copies: 500,000 copies per write were garbage the collector paused the agent for.
 */
interface Held extends MapEntry {
  readonly seq: number;
}

/**
 * A snapshot of `map` being read in slices (MapFile.snapshotSteps): for every key changed since it
 * began, the value it had then (null: absent) and whether the reader had already passed it.
 */
interface Reader {
  readonly map: Map<string, Held>;
  readonly before: Map<string, { value: Held | null; passed: boolean }>;
  /** seq of the last entry read (entries are met in increasing seq). */
  lastSeq: number;
}

const byIp = (a: MapEntry, b: MapEntry): number => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);

export class MapFile {
  readonly path: string;
  /** The list. Changed only through setHeld/deleteHeld/replaceHeld, which keep readers' snapshots. */
  private held = new Map<string, Held>();
  private heldSeq = 0;
  /** Snapshots being read in slices (see snapshotSteps). */
  private readonly readers = new Set<Reader>();
  /** updateYielding calls in progress (writes and repair checks wait for them). */
  private readonly updating = new Set<Promise<unknown>>();
  /** Counts changes of the list: a write that began at another count did not write the latest list. */
  private changes = 0;
  private tmpSeq = 0;
  /** Set when the file may not reflect `held` (a failed write, a change since, or leftovers adopted at init). */
  private stale = true;
  /** The write in progress, and the one asked for meanwhile (at most one: see write()). */
  private writing: Promise<void> | null = null;
  private nextWrite: Promise<void> | null = null;
  /** The last check asked for (checks run one after the other: see check()). */
  private checking: Promise<unknown> = Promise.resolve();
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
    return runSync(this.updateSteps(batch));
  }

  /**
   * update in slices (yielding.ts), for a big batch (every ban at start and at each re-send: 500,000
   * took 1.4 s in one block). A write or a repair check asked for meanwhile waits for it to end,
   * so that none reads the list half-updated.
   */
  async updateYielding(batch: EnforcerBatch): Promise<Rejected[]> {
    const run = runYielding(this.updateSteps(batch));
    this.updating.add(run);
    try {
      return await run;
    } finally {
      this.updating.delete(run);
    }
  }

  /** Waits until no updateYielding is in progress. */
  private async updated(): Promise<void> {
    while (this.updating.size > 0) await Promise.allSettled([...this.updating]);
  }

  private *updateSteps(batch: EnforcerBatch): Steps<Rejected[]> {
    const rejected: Rejected[] = [];
    this.stale = true;
    this.changes++;
    let ops = 0;
    for (const u of batch.unban) {
      if ((++ops & (STEP_UNITS - 1)) === 0) yield;
      // A key of the list is canonical and a client's (clientAddress made it): no need to parse it again.
      if (typeof u.ip === 'string' && this.held.has(u.ip)) {
        this.deleteHeld(u.ip);
        continue;
      }
      const c = clientAddress(u.ip);
      // An unban of a valid address that can never be a client has nothing to remove.
      if ('reason' in c) {
        if (c.reason === 'not a valid IP address') rejected.push(refusal(u, c.reason));
      } else this.deleteHeld(c.ip);
    }
    for (const b of batch.ban) {
      if ((++ops & (STEP_UNITS - 1)) === 0) yield;
      const known = typeof b.ip === 'string' ? this.held.get(b.ip) : undefined;
      const c = known !== undefined ? { ip: b.ip, family: known.family } : clientAddress(b.ip);
      if ('reason' in c) {
        rejected.push(refusal(b, c.reason));
        continue;
      }
      if (b.until !== null && !Number.isFinite(b.until)) {
        rejected.push(refusal(b, `invalid expiry ${String(b.until)}`));
        continue;
      }
      this.setHeld(c.ip, c.family, b.until);
    }
    this.stale = true;
    this.changes++;
    return rejected;
  }

  /**
   * Makes the list equal `expected` (the ban book's bans; expired, invalid and non-client ones left
   * out; an address twice keeps the later expiry). Returns what changed, or null when nothing did.
   * Does not write.
   */
  reconcile(expected: readonly EnforcerBan[], now = this.opts.clock.now()): string | null {
    return runSync(this.reconcileSteps(expected, now));
  }

  /**
   * reconcile in pausable steps (check() runs it in slices). The list is replaced at the end, at
   * once (one Map swapped for another); a key that update() changed while the steps ran keeps what
   * update() made of it (the newer word), and a list that clear() emptied meanwhile stays empty.
   */
  private *reconcileSteps(expected: readonly EnforcerBan[], now: number): Steps<string | null> {
    const start = this.held;
    const reader: Reader = { map: start, before: new Map(), lastSeq: Infinity };
    this.readers.add(reader);
    try {
      const want = new Map<string, { family: 4 | 6; until: number | null }>();
      let ops = 0;
      for (const b of expected) {
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
        if (b.until !== null && !(Number.isFinite(b.until) && b.until > now)) continue;
        // An address the list holds is canonical and a client's (clientAddress made it): parsing it
        // again would give it back (500,000 parses took over a second, at every check).
        const held = typeof b.ip === 'string' ? start.get(b.ip) : undefined;
        let ip: string;
        let family: 4 | 6;
        if (held !== undefined) {
          ip = b.ip;
          family = held.family;
        } else {
          const c = clientAddress(b.ip);
          if ('reason' in c) continue;
          ip = c.ip;
          family = c.family;
        }
        const prev = want.get(ip);
        if (prev && (prev.until === null || (b.until !== null && prev.until >= b.until))) continue;
        want.set(ip, { family, until: b.until });
      }
      let missing = 0;
      let stray = 0;
      let changed = 0;
      // Keys update() changed meanwhile are left as it made them, and not counted.
      for (const [ip, w] of want) {
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
        if (reader.before.has(ip)) continue;
        const h = start.get(ip);
        if (!h || (h.until !== null && h.until <= now)) missing++;
        else if (h.until !== w.until) changed++;
      }
      const expired: [string, Held][] = [];
      for (const [ip, h] of start) {
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
        if (h.until !== null && h.until <= now) expired.push([ip, h]);
        else if (!want.has(ip) && !reader.before.has(ip)) stray++;
      }
      if (missing + stray + changed === 0) {
        // Expired entries leave the list (as entries() drops them), unless changed meanwhile.
        for (const [ip, h] of expired) if (this.held.get(ip) === h) this.deleteHeld(ip);
        return null;
      }
      if (this.held !== start) return null; // cleared meanwhile: the newer word
      const next = new Map<string, Held>();
      for (const [ip, w] of want) {
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
        const changedSince = reader.before.has(ip);
        if (!changedSince) next.set(ip, { ip, family: w.family, until: w.until, seq: ++this.heldSeq });
      }
      if (this.held !== start) return null;
      // Keys update() touched meanwhile: as it left them (the map only iterates; nothing yields below).
      for (const ip of reader.before.keys()) {
        const h = start.get(ip);
        if (h !== undefined) next.set(ip, { ip, family: h.family, until: h.until, seq: ++this.heldSeq });
      }
      this.replaceHeld(next);
      const parts: string[] = [];
      if (missing > 0) parts.push(`${missing} missing ban(s) re-added`);
      if (stray > 0) parts.push(`${stray} entr${stray === 1 ? 'y' : 'ies'} nobody banned removed`);
      if (changed > 0) parts.push(`${changed} expir${changed === 1 ? 'y' : 'ies'} corrected`);
      return `map file ${this.path}: ${parts.join(', ')}`;
    } finally {
      this.readers.delete(reader);
    }
  }

  /** Active entries (expired ones dropped from the list), sorted by address. */
  entries(now = this.opts.clock.now()): MapEntry[] {
    const out: MapEntry[] = [];
    for (const [ip, v] of this.held) {
      if (v.until !== null && v.until <= now) this.deleteHeld(ip);
      else out.push({ ip, family: v.family, until: v.until });
    }
    return out.sort(byIp);
  }

  /**
   * Writes the current list atomically. On failure the list is kept and the file marked stale.
   * Writes never overlap: one asked for while another is in progress runs after it, and every call
   * made meanwhile joins that one (it writes the list as it is when it starts, so it holds every
   * change made before). A write renders one snapshot of the list, taken when it starts; changes
   * made while it is built (in slices: the event loop keeps turning) go to the next write.
   */
  write(): Promise<void> {
    if (this.nextWrite !== null) return this.nextWrite;
    if (this.writing === null) return this.startWrite();
    const next = this.writing.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      this.nextWrite = null;
      return this.startWrite();
    });
    this.nextWrite = next;
    return next;
  }

  /** Whether a write is in progress or asked for. */
  get busy(): boolean {
    return this.writing !== null || this.nextWrite !== null;
  }

  private startWrite(): Promise<void> {
    const run = this.writeOnce();
    this.writing = run;
    const done = (): void => {
      if (this.writing === run) this.writing = null;
    };
    run.then(done, done);
    return run;
  }

  private async writeOnce(): Promise<void> {
    this.stale = true;
    await this.updated();
    const at = this.changes;
    const now = this.opts.clock.now();
    const entries = await runYielding(this.snapshotSteps(now));
    if (this.opts.companion !== undefined) {
      try {
        await this.opts.companion.write(entries, now);
      } catch (e) {
        throw e instanceof BanhammerError ? e : this.fileError('cannot write', e);
      }
    }
    if (this.opts.renderParts !== undefined) {
      const parts = await runYielding(this.opts.renderParts(entries, now));
      await this.writeText(encodeChunks(parts, 'utf8'));
    } else await this.writeText(this.opts.render(entries, now));
    if (this.changes === at) this.stale = false;
  }

  /**
   * The active entries as the list holds them now, sorted by address, read in pausable steps; the
   * expired ones are dropped from the list (unless changed meanwhile). Changes made while it runs
   * are not in it: setHeld/deleteHeld tell the reader the value each key had before.
   */
  private *snapshotSteps(now: number): Steps<MapEntry[]> {
    const map = this.held;
    const reader: Reader = { map, before: new Map(), lastSeq: -1 };
    const out: Held[] = [];
    const expired: [string, Held][] = [];
    const take = (ip: string, v: Held): void => {
      if (v.until !== null && v.until <= now) expired.push([ip, v]);
      else out.push(v);
    };
    this.readers.add(reader);
    try {
      let ops = 0;
      for (const [ip, v] of map) {
        const b = reader.before.get(ip);
        if (b === undefined) take(ip, v);
        else if (!b.passed) {
          // Changed (or added) since the snapshot began, before the reader got here.
          b.passed = true;
          if (b.value !== null) take(ip, b.value);
        } // else: deleted after it was read, and added again: read already
        reader.lastSeq = v.seq;
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
      }
      // Deleted before the reader got to them (and not added again).
      for (const [ip, b] of reader.before) if (!b.passed && b.value !== null) take(ip, b.value);
    } finally {
      this.readers.delete(reader);
    }
    yield;
    for (let i = 0; i < expired.length; i++) {
      const [ip, v] = expired[i]!;
      if (this.held.get(ip) === v) this.deleteHeld(ip);
      if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
    }
    return yield* sortSteps(out, byIp);
  }

  /** Sets a key, telling readers what it was before (see snapshotSteps). */
  private setHeld(ip: string, family: 4 | 6, until: number | null): void {
    const prev = this.held.get(ip);
    this.noteChange(ip, prev);
    // A key already present keeps its place in the Map's order, and so its seq.
    this.held.set(ip, { ip, family, until, seq: prev !== undefined ? prev.seq : ++this.heldSeq });
  }

  private deleteHeld(ip: string): void {
    const prev = this.held.get(ip);
    // An unban of a key the list lacks is news too: a repair check in progress (reconcileSteps)
    // whose book still has it must not add it back (the unban is the newer word).
    this.noteChange(ip, prev);
    if (prev === undefined) return;
    this.held.delete(ip);
  }

  /** Replaces the whole list at once (readers keep reading the one they began with). */
  private replaceHeld(next: Map<string, Held>): void {
    this.held = next;
    this.stale = true;
    this.changes++;
  }

  private noteChange(ip: string, prev: Held | undefined): void {
    if (this.readers.size === 0) return;
    for (const r of this.readers) {
      if (r.map !== this.held || r.before.has(ip)) continue;
      r.before.set(ip, { value: prev ?? null, passed: prev !== undefined && prev.seq <= r.lastSeq });
    }
  }

  /**
   * Repairs (see the contract); returns one line per repair, empty when all was well. Checks run one
   * after the other: two comparisons with the ban book at once would end with whichever finished
   * first (the other one gives way to a list replaced meanwhile), not with the book read last.
   */
  check(expected?: () => readonly EnforcerBan[]): Promise<string[]> {
    const run = this.checking.then(() => this.checkOnce(expected));
    this.checking = run.catch(() => undefined);
    return run;
  }

  private async checkOnce(expected?: () => readonly EnforcerBan[]): Promise<string[]> {
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
    if (expected !== undefined) await this.updated();
    const listed = expected === undefined ? null : await runYielding(this.reconcileSteps(expected(), this.opts.clock.now()));
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
    if (this.stale || w === null || this.busy) return; // a write in progress makes a new version anyway
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
      this.versionAt = steadyNow(this.opts.clock);
    } catch (e) {
      if (errCode(e) === 'ENOENT') return; // removed meanwhile: the next check() re-creates it
      throw this.fileError('cannot touch', e);
    }
  }

  /** Forgets every ban and writes an empty map (the file stays). */
  async clear(): Promise<void> {
    this.replaceHeld(new Map());
    await this.write();
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * Temp files of a writer killed mid-write, never one this object may be writing: a container's
   * agent has the same pid at every start, so an earlier agent's temp can carry ours (left, it made
   * the write that reached its number fail: the temp is created exclusively).
   */
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
      if (!n.startsWith(prefix)) continue;
      const own = `${prefix}${process.pid}-`;
      // Ours: only those past the last number this object used (none yet at init) are stale.
      if (n.startsWith(own) && !(/^[0-9]+$/.test(n.slice(own.length)) && Number(n.slice(own.length)) > this.tmpSeq)) continue;
      await unlink(join(dir, n)).catch(() => undefined);
    }
  }

  /** Replaces the file atomically with `text` (a string, or Buffers made and written one after the other). */
  private async writeText(text: string | Iterable<Uint8Array>): Promise<void> {
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
    this.versionAt = steadyNow(this.opts.clock);
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
