/**
 * ApacheMapEnforcer (`apache-map`): bans at layer 7 through mod_rewrite RewriteMaps that the agent
 * replaces atomically; docker/apache/banhammer-map.conf answers 403 to listed clients. Apache notices
 * a new version of a map by its mtime, so no reload is needed, and with mod_remoteip REMOTE_ADDR is
 * the client named by a trusted proxy.
 *
 * One list (MapFile holds it), written three ways:
 * - the txt map at BANHAMMER_MAP_FILE, every entry, one line each, as before: what people `cat`,
 *   and what a copy of an older banhammer-map.conf (`txt:${BANHAMMER_MAP_FILE}`) still enforces.
 *   The shipped snippet no longer reads it: mod_rewrite reads a txt map linearly on every lookup it
 *   has not cached, and with Debian's Apache 2.4.71 (2026-12-05) 100,000 lines cost 4.5 to 6 ms per
 *   uncached request against 0.4 ms for an empty map (10,000: 0.8 ms): an attacker with an IPv6 /48
 *   could get that many addresses banned and tax every new client of the site.
 *   (test/integration/apache-map-dbm; with the SDBM map: 0.4 ms at 0, 10,000 and 100,000 bans.)
 * - an SDBM map, `dbm=sdbm:<BANHAMMER_MAP_FILE>.sdbm/current/map` (map.dir + map.pag), holding every
 *   entry it can. SDBM is compiled into APR, so every mod_rewrite reads it, and a lookup reads one
 *   1 KiB page found from the key's hash: 100,000 bans cost what none do (measured by
 *   test/integration/apache-map-dbm). The agent writes it itself (buildSdbm below): no httxt2dbm,
 *   nothing to install on either image, nothing to fall back from.
 * - `<BANHAMMER_MAP_FILE>.sdbm/current/overflow.map` (`txt:`), looked up only when the SDBM map has no
 *   entry for the client: the entries SDBM could not hold (none, unless someone crafts addresses
 *   whose hashes collide: see SDBM_MAX_DEPTH; reported through ApacheMapEnforcerOptions.onOverflow).
 *   It lives in the same version directory as the SDBM files, so the two change together.
 *
 * Entry format (both maps): key <address>, value <expiry as YYYYMMDDHHMMSS, local time>
 * (permanent: 99991231235959). The expiry travels with the entry because a ban must end on time
 * even when the agent is dead: the snippet compares it with %{TIME}, which mod_rewrite renders in
 * exactly this format. Apache has no epoch-seconds variable; %{TIME} is local time, and ap_expr's `<`
 * compares strings, which for two 14-digit stamps is time order. Apache and the agent agree on local
 * time when they run with the same TZ (one container: they do). Across a DST fall-back the same local
 * hour repeats: a ban ending in its second pass is written in the summer offset (timeStamp), so it
 * holds through the first pass; the agent removes expired entries itself within a second, and a dead
 * agent's ban ending there lasts at most an hour longer.
 *
 * Address forms: the canonical one (RFC 5952 for IPv6), and for IPv4-compatible IPv6 (::/96) also
 * `::a.b.c.d`, the spelling APR prints for it, so the lookup key always matches. An IPv4 ban is one
 * key: APR writes every IPv4-mapped address (`::ffff:a.b.c.d`: an IPv4 peer on Apache's dual-stack
 * socket, or a mapped address that mod_remoteip read from the header) as plain `a.b.c.d`
 * (apr_sockaddr_ip_getbuf drops the `::ffff:`), so REMOTE_ADDR is never the mapped spelling.
 *
 * How mod_rewrite reads an SDBM map (modules/mappers/mod_rewrite.c, lookup_map): on every lookup it
 * stats map.dir and map.pag (following symlinks) and takes the later mtime as the map's version; a
 * child answers from its cache while that version is the one it cached under, and otherwise opens
 * the pair (map.dir first, then map.pag, each by its path), fetches the key, and caches the answer,
 * a miss too, under the version it stat'ed before opening. So the replacement (SdbmMap.write):
 *   1. a new version directory `<map>.sdbm/v-<id>/` (mode 0755) with map.dir, map.pag and
 *      overflow.map, written, mode 0644, and their mtimes set past every earlier version's (a ms
 *      later at least); then the files, the version directory, and (with the new symlink in it)
 *      `<map>.sdbm/` fsynced, so a swap that survives a power loss never names a version that did not;
 *   2. one atomic rename of a new symlink over `<map>.sdbm/current` (-> v-<id>);
 *   3. versions other than the current one and the one before are removed.
 * A reader never sees a half-written file. The pair is swapped by one rename, so a reader can only
 * mix versions when the swap falls between its own two opens (microseconds): that one request may
 * then miss (a banned client served once) or find the previous version's entry. Its answer is cached
 * under the version it stat'ed before the swap, which is no longer current, so the child's next
 * lookup stats the new version and forgets it: no miss stays (the swap test rewrites the map
 * hundreds of times under requests). The version before is kept so that a reader that resolved the
 * symlink just before a swap still finds its files; one that is slower than two swaps fails to open,
 * which mod_rewrite logs and answers as a miss for that request, again not cached under a live version.
 * overflow.map is a map of its own (its own mtime, its own cache), swapped by the same rename: an
 * entry that moves between it and the SDBM map (only in a group of hash collisions that grew or
 * shrank) can be missed by the one request that reads the two maps across the swap.
 * Every map gets new mtimes at least once a minute (CACHE_REFRESH_MS), content unchanged.
 *
 * The agent has one thread, and at 500,000 bans (crafted colliding ones above all) building these
 * files took over a second of CPU: the pages (buildSdbmSteps), the .pag file's runs and every txt
 * map's text are built in slices of about 10 ms (yielding.ts), from the snapshot of the list the
 * write began with (MapFile), and SdbmMap's writes run one after the other, in the order asked for.
 */
import { chmod, lstat, mkdir, open, readdir, readlink, rename, rm, stat, symlink, unlink, utimes } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { steadyNow, systemClock, type Clock } from '../clock.js';
import { apacheProblems, type ApacheSettings } from '../config/apache.js';
import { BanhammerError } from '../errors.js';
import { parseCidr } from '../parse/ip.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch } from './enforcer.js';
import { MapFile, type MapCompanion, type MapEntry } from './map-file.js';
import { encodeChunks, runSync, runYielding, STEP_UNITS, type Steps } from '../yielding.js';

export interface ApacheMapEnforcerOptions {
  /** The txt map (BANHAMMER_MAP_FILE); its directory must exist. The SDBM map goes in `<path>.sdbm/`. */
  readonly path: string;
  readonly clock?: Clock;
  /** Longest time (ms) the map keeps one version (mtime) while nothing changes; default CACHE_REFRESH_MS. */
  readonly refreshMs?: number;
  /** Deepest split of the SDBM tree; default SDBM_MAX_DEPTH (tests lower it to fill overflow.map). */
  readonly sdbmMaxDepth?: number;
  /**
   * Told, after a write that changed it, how many bans the SDBM map could not hold (overflow.map,
   * read line by line by Apache: see SDBM_MAX_DEPTH), with a sentence for the log.
   */
  readonly onOverflow?: (entries: number, message: string) => void;
}

/**
 * mod_rewrite caches every lookup of a map (txt and dbm alike, hits and misses alike) in each child
 * process, and drops that cache only when the map's mtime changes: with no ban or unban for hours,
 * every client address a child was asked about stays in its memory (about 120 bytes each with
 * Debian's Apache 2.4: 30,000 addresses grew one child by 3.6 MB), and a client with an IPv6 /64 has
 * addresses without end. check() (every 2 s) therefore gives the maps new mtimes, content unchanged,
 * when they have kept theirs for this long; each child then starts a new cache, and each client's
 * next lookup reads the map once (with SDBM: one page).
 */
export const CACHE_REFRESH_MS = 60_000;

export const PERMANENT_STAMP = '99991231235959';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * `until` (ms) as Apache's %{TIME} would show that moment (local time), rounded up to a second. When
 * the clocks went back (DST ends) in the hour before it, the same local hour repeats and its first
 * pass reads the same as, or later than, an end in its second pass: written as read then, a ban was
 * not enforced for up to an hour before its end, the agent alive (review H55). The end is then
 * written in the offset in force an hour before it (the clocks go back at most an hour), which no
 * reading before the end reaches: the agent lifts the ban on time, and a dead agent's ban lasts at
 * most the shift longer, never shorter.
 */
export function timeStamp(until: number | null): string {
  if (until === null) return PERMANENT_STAMP;
  const ms = Math.ceil(until / 1000) * 1000;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime()) || d.getFullYear() > 9999) return PERMANENT_STAMP;
  if (d.getFullYear() < 1000) return '00000000000000';
  const aheadBefore = d.getTimezoneOffset() - new Date(ms - 3600_000).getTimezoneOffset(); // minutes
  if (aheadBefore > 0) {
    // Local time in the earlier (summer) offset: the UTC fields of the moment moved by that offset.
    const s = new Date(ms - new Date(ms - 3600_000).getTimezoneOffset() * 60_000);
    if (s.getUTCFullYear() <= 9999) return `${s.getUTCFullYear()}${pad(s.getUTCMonth() + 1)}${pad(s.getUTCDate())}${pad(s.getUTCHours())}${pad(s.getUTCMinutes())}${pad(s.getUTCSeconds())}`;
  }
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Every spelling under which Apache may look up this (canonical) address (REMOTE_ADDR as APR prints it). */
export function apacheKeys(entry: Pick<MapEntry, 'ip' | 'family'>): string[] {
  if (entry.family === 4 || !entry.ip.startsWith('::')) return [entry.ip];
  const compat = /^::([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(entry.ip);
  if (compat && entry.ip !== '::1') {
    const hi = parseInt(compat[1]!, 16);
    const lo = parseInt(compat[2]!, 16);
    if (hi !== 0) return [entry.ip, `::${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`];
  }
  return [entry.ip];
}

/** timeStamp, remembered per second (a stamp depends only on the second `until` rounds up to). */
function stampCache(): (until: number | null) => string {
  const cache = new Map<number | null, string>();
  return (until) => {
    const k = until === null ? null : Math.ceil(until / 1000);
    let s = cache.get(k);
    if (s === undefined) cache.set(k, (s = timeStamp(until)));
    return s;
  };
}

export function renderApacheMap(entries: readonly MapEntry[], now: number): string {
  return runSync(renderApacheMapParts(entries, now)).join('');
}

/**
 * renderApacheMap's text in parts (joined, the same text byte for byte), in pausable steps (see
 * yielding.ts): the header, then the lines of STEP_UNITS entries or so a part.
 */
export function* renderApacheMapParts(entries: readonly MapEntry[], now: number): Steps<string[]> {
  const parts = [
    `# banhammer apache-map: <client address> <ban expiry YYYYMMDDHHMMSS, local time>; written ${timeStamp(now)}.\n` +
      '# Rewritten atomically by the agent; edits are lost. See banhammer-map.conf.\n',
  ];
  const stamp = stampCache();
  let lines: string[] = [];
  for (const e of entries) {
    const s = stamp(e.until);
    for (const key of apacheKeys(e)) lines.push(`${key} ${s}`);
    if (lines.length >= STEP_UNITS) {
      parts.push(lines.join('\n') + '\n');
      lines = [];
      yield;
    }
  }
  if (lines.length > 0) parts.push(lines.join('\n') + '\n');
  return parts;
}

/** SDBM's page (PBLKSIZ): one lookup reads one page. */
export const SDBM_PAGE_BYTES = 1024;
/** SDBM's .dir block (DBLKSIZ). */
const SDBM_DIR_BLOCK_BYTES = 4096;

/**
 * Deepest split of the SDBM tree the agent writes (hash bits a page number may use; SDBM itself
 * reads up to 31). The .pag file is sparse: a page of depth d sits at (hash mod 2^d) KiB, so the
 * file's apparent size is at most 2^20 KiB (1 GiB of holes, never allocated), its real size one
 * KiB per page written; the .dir bitmap is at most 256 KiB. 100,000 addresses of one /48 took 5,603
 * pages (5.5 MiB) and a 4 KiB .dir (depth 14 at most), built in about 150 ms; a million honest bans
 * need depth ~18 (a 2^-20 slice of the hash space holds one key on average, a page 16 or more).
 * The cap was 24: 19 crafted keys sharing their low 24 hash bits split the tree down to depth 24,
 * a .pag of 16 GiB apparent size (8 KiB real) that backups, `du --apparent-size`, copies without
 * sparse support and APR's own firstkey/nextkey walk pay for in full; 20 keeps that at 1 GiB.
 * Only keys sharing the low 20 bits of their SDBM hash, more of them than one page holds (at least
 * 16), go past it: SDBM cannot separate them, so those beyond the page go to overflow.map
 * (SdbmMap.overflow counts them).
 * The hash is public and linear (a polynomial in the key's bytes modulo 2^32), so colliding
 * addresses cost an attacker nothing but the bans: with a table of the hash of the last group of
 * four hex digits, the last two groups alone give about 225 addresses per 24-bit hash value (a /64
 * holds 2^40 of them), for as many values as he likes, from a second of arithmetic
 * (test/unit/enforce-sdbm-review/colliding-keys.ts), not 2^24 trials each (at 20 bits, 16 times
 * as many: his cost is the bans either way). A ban he
 * gets this way lands in overflow.map once 17 others share its page, and each line there is read
 * by every uncached lookup of every client SDBM does not list (the txt map's linear cost, which
 * the SDBM map exists to avoid, for his bans only). No bound is put on it: a ban left out would be
 * a banned client served while `status` lists him. SdbmMap.overflow is what to watch: the
 * enforcer reports every change of it (ApacheMapEnforcerOptions.onOverflow). A page is never lost
 * and the map never fails to build; no rewrite rule can hash the key otherwise (mod_rewrite's own
 * transformations of it, captures in another order, case, are linear again).
 */
export const SDBM_MAX_DEPTH = 20;

/**
 * APR's sdbm_hash: n = c + 65599 * n over the key's bytes, modulo 2^32 (keys are ASCII). A string is
 * read as its latin1 bytes (one byte a char), as the map writes it, without encoding it first.
 */
export function sdbmHash(key: Uint8Array | string): number {
  let n = 0;
  if (typeof key === 'string') for (let i = 0; i < key.length; i++) n = ((key.charCodeAt(i) & 0xff) + Math.imul(n, 65599)) >>> 0;
  else for (let i = 0; i < key.length; i++) n = (key[i]! + Math.imul(n, 65599)) >>> 0;
  return n;
}

/** An SDBM database as bytes: the .dir bitmap, the .pag pages by page number, and the entries left out. */
export interface SdbmImage {
  readonly dir: Buffer;
  readonly pages: ReadonlyMap<number, Buffer>;
  /** Entries with a key that no page could hold (see SDBM_MAX_DEPTH); overflow.map holds them. */
  readonly overflow: readonly MapEntry[];
  /** Keys written. */
  readonly keys: number;
}

/**
 * Lays `entries` out as SDBM does (apr-util dbm/sdbm): a key's page is found by walking the .dir
 * bitmap from bit 0, taking hash bit `depth` at each set bit (left child 2b+1, right 2b+2) until a
 * clear bit; the page number is the hash's low `depth` bits. Every page is packed as sdbm_pair.c's
 * putpair does (shorts in this machine's byte order: n, then each pair's key and value offsets;
 * keys and values from the end of the page down). Built in one pass from the sorted entries, so the
 * same list always gives the same bytes.
 */
export function buildSdbm(entries: readonly MapEntry[], maxDepth = SDBM_MAX_DEPTH): SdbmImage {
  return runSync(buildSdbmSteps(entries, maxDepth));
}

/**
 * buildSdbm in pausable steps (see yielding.ts; SdbmMap.write runs it in slices). The pairs are
 * kept in typed arrays (hash, bytes) and split by a stable in-place partition of their indices, a
 * range at a time from an explicit stack (left before right, as a recursion would): the same pages,
 * byte for byte, with no array or Buffer per pair and no step longer than STEP_UNITS pairs.
 */
export function* buildSdbmSteps(entries: readonly MapEntry[], maxDepth = SDBM_MAX_DEPTH): Steps<SdbmImage> {
  const keys: string[] = [];
  const vals: string[] = [];
  const owner: number[] = [];
  const stamp = stampCache();
  for (let e = 0; e < entries.length; e++) {
    const entry = entries[e]!;
    const val = stamp(entry.until);
    for (const k of apacheKeys(entry)) {
      keys.push(k);
      vals.push(val);
      owner.push(e);
    }
    if ((e & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
  }
  const n = keys.length;
  const hash = new Uint32Array(n);
  /** Bytes a pair uses in a page: two offsets (shorts), its key and its value (latin1: one byte a char). */
  const bytes = new Uint32Array(n);
  const idx = new Int32Array(n);
  let total = 2; // n, the page's first short
  for (let i = 0; i < n; i++) {
    hash[i] = sdbmHash(keys[i]!);
    bytes[i] = 4 + keys[i]!.length + vals[i]!.length;
    total += bytes[i]!;
    idx[i] = i;
    if ((i & (STEP_UNITS - 1)) === STEP_UNITS - 1) yield;
  }
  const tmp = new Int32Array(n);
  const dirBits: number[] = [];
  const pages = new Map<number, Buffer>();
  const over = new Uint8Array(entries.length);
  const depthCap = Math.max(0, Math.min(maxDepth, 31));
  // Ranges of idx still to place: [lo, hi, bytes of a page holding them all, depth, dbit, pagno].
  const stack: number[] = [0, n, total, 0, 0, 0];
  let ops = 0;
  while (stack.length > 0) {
    const pagno = stack.pop()!;
    const dbit = stack.pop()!;
    const depth = stack.pop()!;
    const used = stack.pop()!;
    const hi = stack.pop()!;
    const lo = stack.pop()!;
    if (used <= SDBM_PAGE_BYTES) {
      if (hi > lo) pages.set(pagno, packPage(keys, vals, idx, lo, hi));
      ops += hi - lo;
      if (ops >= STEP_UNITS) {
        ops = 0;
        yield;
      }
      continue;
    }
    if (depth >= depthCap) {
      // What one page holds, in order; the rest to overflow.map.
      let kept = lo;
      let fill = 2;
      for (let i = lo; i < hi; i++) {
        const p = idx[i]!;
        if (fill + bytes[p]! <= SDBM_PAGE_BYTES) {
          tmp[kept++] = p;
          fill += bytes[p]!;
        } else over[owner[p]!] = 1;
        if ((++ops & (STEP_UNITS - 1)) === 0) yield;
      }
      pages.set(pagno, packPage(keys, vals, tmp, lo, kept));
      continue;
    }
    dirBits.push(dbit);
    // Stable partition of idx[lo, hi) by hash bit `depth`: left ones moved down in place, right
    // ones through tmp to the end.
    let w = lo;
    let r = lo;
    let leftBytes = 2;
    let rightBytes = 2;
    for (let i = lo; i < hi; i++) {
      const p = idx[i]!;
      if ((hash[p]! >>> depth) & 1) {
        tmp[r++] = p;
        rightBytes += bytes[p]!;
      } else {
        idx[w++] = p;
        leftBytes += bytes[p]!;
      }
      if ((++ops & (STEP_UNITS - 1)) === 0) yield;
    }
    idx.set(tmp.subarray(lo, r), w);
    // Right pushed first: the left range is placed first.
    stack.push(w, hi, rightBytes, depth + 1, 2 * dbit + 2, pagno + 2 ** depth);
    stack.push(lo, w, leftBytes, depth + 1, 2 * dbit + 1, pagno);
  }
  // Whole 4 KiB blocks (DBLKSIZ): SDBM reads the bitmap a block at a time and takes a short read
  // (EOF inside the block) for a block of zeros, which would hide every split.
  // The highest bit by a loop, not Math.max(...dirBits): a spread of more than ~125,000 arguments
  // overflows the stack, and crafted collisions (see SDBM_MAX_DEPTH) make that many splits from a
  // few hundred thousand bans: every write would fail and no new ban would reach Apache.
  let maxBit = -1;
  for (const b of dirBits) if (b > maxBit) maxBit = b;
  const dirBytes = maxBit < 0 ? 0 : Math.floor(maxBit / 8) + 1;
  const dir = Buffer.alloc(Math.ceil(dirBytes / SDBM_DIR_BLOCK_BYTES) * SDBM_DIR_BLOCK_BYTES);
  for (let i = 0; i < dirBits.length; i++) {
    const b = dirBits[i]!;
    dir[b >>> 3]! |= 1 << (b & 7);
    if ((i & (8 * STEP_UNITS - 1)) === 0) yield;
  }
  const overflow: MapEntry[] = [];
  for (let e = 0; e < entries.length; e++) {
    if (over[e] === 1) overflow.push(entries[e]!);
    if ((e & (8 * STEP_UNITS - 1)) === 0) yield;
  }
  return { dir, pages, overflow, keys: n };
}


/** The page holding pairs idx[lo, hi), packed as putpair does (see buildSdbm). */
function packPage(keys: readonly string[], vals: readonly string[], idx: Int32Array, lo: number, hi: number): Buffer {
  const page = Buffer.alloc(SDBM_PAGE_BYTES);
  const le = endianness() === 'LE';
  const short = (i: number, v: number): void => void (le ? page.writeUInt16LE(v, 2 * i) : page.writeUInt16BE(v, 2 * i));
  let off = SDBM_PAGE_BYTES;
  let n = 0;
  for (let i = lo; i < hi; i++) {
    const key = keys[idx[i]!]!;
    const val = vals[idx[i]!]!;
    off -= key.length;
    page.write(key, off, 'latin1');
    short(n + 1, off);
    off -= val.length;
    page.write(val, off, 'latin1');
    short(n + 2, off);
    n += 2;
  }
  short(0, n);
  return page;
}

/** What SdbmMap wrote last, to tell it from a change made outside. */
interface SdbmVersion {
  readonly name: string;
  readonly files: readonly { ino: bigint; size: bigint; mtimeNs: bigint }[];
}

/** A version directory's name as SdbmMap.write makes it (`v-<time>-<pid>-<seq>`): one entry of the root. */
const VERSION_NAME = /^v-[0-9a-z]+-[0-9]+-[0-9]+$/;

/** The files of a version; mod_rewrite's cache version of each map is its files' latest mtime. */
const SDBM_FILES = ['map.dir', 'map.pag', 'overflow.map'] as const;

/**
 * What Apache reads for an apache-map enforcer, in `<map file>.sdbm/` (see the module comment for
 * the versioned directories and the one-rename swap): the SDBM map and its overflow txt map. A
 * MapCompanion of the txt MapFile, which holds the list.
 */
export class SdbmMap implements MapCompanion {
  /** The directory holding the versions and the `current` symlink. */
  readonly root: string;
  private seq = 0;
  private last: SdbmVersion | null = null;
  /** mtime (µs) of the newest version written or touched; every new one is set past it. */
  private lastMtimeUs = 0n;
  /** Entries the last write could not put in the SDBM map (overflow.map holds them). */
  overflow = 0;
  /** The write in progress, if any (writes run one after the other). */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    readonly mapPath: string,
    private readonly maxDepth = SDBM_MAX_DEPTH,
    /** Called after a write that changed `overflow` (ApacheMapEnforcerOptions.onOverflow). */
    private readonly onOverflow?: (entries: number, message: string) => void,
  ) {
    this.root = `${mapPath}.sdbm`;
  }

  /** The path mod_rewrite is given (`dbm=sdbm:<this>`): map.dir and map.pag through the `current` symlink. */
  get readerPath(): string {
    return join(this.root, 'current', 'map');
  }

  /** The overflow txt map as mod_rewrite is given it (`txt:<this>`). */
  get overflowPath(): string {
    return join(this.root, 'current', 'overflow.map');
  }

  /**
   * Makes the directory (mode 0755) if need be and keeps a current version that has both files (a
   * crashed agent's bans stay enforced until the list is written again); writes an empty one when
   * there is none, since Apache refuses to start when a RewriteMap's file is missing. Removes
   * versions and temp links a killed writer left.
   */
  async init(): Promise<void> {
    await this.ensureRoot().catch((e: unknown) => {
      throw e instanceof BanhammerError ? e : this.fileError('cannot create', e);
    });
    let current: string | null = null;
    try {
      current = await readlink(join(this.root, 'current'));
      // Only a version the agent makes (a `v-` name in this directory): a link elsewhere, even to
      // files that look right, is someone else's, and Apache would read it until the next write.
      if (!VERSION_NAME.test(current)) throw new Error('not a version of ours');
      for (const f of SDBM_FILES) {
        const st = await stat(join(this.root, current, f), { bigint: true });
        if (!st.isFile()) throw new Error('not a file');
        if (st.mtimeNs / 1000n > this.lastMtimeUs) this.lastMtimeUs = st.mtimeNs / 1000n;
      }
    } catch {
      current = null;
    }
    if (current === null) await this.write([], Date.now());
    else await this.prune(new Set([current]));
  }

  /**
   * Replaces the map with `entries` (see the module comment). Writes run one after the other, in
   * the order they were asked for; the CPU-bound parts (the pages, the runs of the .pag file, the
   * overflow map's text) are built in slices (yielding.ts), from `entries`, which the caller must
   * not change meanwhile (MapFile hands a snapshot).
   */
  write(entries: readonly MapEntry[], now: number): Promise<void> {
    const run = this.writing.then(() => this.writeNow(entries, now));
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async writeNow(entries: readonly MapEntry[], now: number): Promise<void> {
    await this.ensureRoot();
    const image = await runYielding(buildSdbmSteps(entries, this.maxDepth));
    // overflow.map can be as big as the txt map (crafted keys fill it): rendered in slices, then
    // encoded a MiB at a time as it is written, as the .pag file's runs are made (writeFileAt).
    const overflowParts = await runYielding(renderApacheMapParts(image.overflow, now));
    const name = `v-${Date.now().toString(36)}-${process.pid}-${++this.seq}`;
    const vdir = join(this.root, name);
    const linked = this.last?.name ?? (await readlink(join(this.root, 'current')).catch(() => null));
    const previous = linked !== null && VERSION_NAME.test(linked) ? linked : null;
    const link = join(this.root, `.current.tmp-${process.pid}-${this.seq}`);
    try {
      await mkdir(vdir, { mode: 0o755 });
      await chmod(vdir, 0o755); // whatever the umask, as the files (writeFileAt)
      await writeFileAt(join(vdir, 'map.dir'), image.dir.length === 0 ? [] : [[0, image.dir]]);
      await writeFileAt(join(vdir, 'map.pag'), pageRuns(image.pages));
      await writeFileAt(join(vdir, 'overflow.map'), atOffsets(encodeChunks(overflowParts, 'latin1')));
      const files = await this.stampVersion(vdir);
      // Durable before it is served: each file (its bytes and the mtimes just set), then the
      // version directory (its three entries). Otherwise a power loss after the swap could leave
      // `current` naming a directory with empty or missing files: Apache refuses to start without a
      // map's files, or serves every banned client until the next write.
      await syncVersion(vdir);
      // A link of this name can be left by an earlier process that had our pid (a container's agent
      // has the same pid at every start) and was killed mid-write: it is ours to replace.
      await unlink(link).catch(() => undefined);
      await symlink(name, link);
      // The root too (the version directory's entry, the new link), before the rename that makes
      // them what Apache reads. A failure of any of these is thrown before the swap: the previous
      // version stays served and the version is removed below.
      await syncDir(this.root);
      await this.displaceCurrentDirectory();
      await rename(link, join(this.root, 'current')).catch(async (e: unknown) => {
        await unlink(link).catch(() => undefined);
        throw e;
      });
      this.last = { name, files };
    } catch (e) {
      // Before the swap (nothing after it throws): the link, if made, was not renamed.
      await unlink(link).catch(() => undefined);
      await rm(vdir, { recursive: true, force: true }).catch(() => undefined);
      throw e; // MapFile.write reports a file system error as it reports its own (BH_ERR_FILE, what to do)
    }
    // Past the rename, vdir is what Apache reads: nothing may remove it. A failed directory fsync
    // leaves the swap done; only its durability across a power loss is in doubt, and the agent
    // writes the whole map again at start (as MapFile does for the txt map).
    await syncDir(this.root).catch(() => undefined);
    await this.prune(new Set(previous === null ? [name] : [name, previous]));
    const before = this.overflow;
    this.overflow = image.overflow.length;
    if (this.overflow !== before && this.onOverflow !== undefined) {
      const message =
        this.overflow === 0
          ? `apache-map: every ban is in the SDBM map again (${this.overflowPath} is empty)`
          : `apache-map: ${this.overflow} ban(s) share their SDBM hash bits with too many others (crafted addresses, most likely) and are in ${this.overflowPath}, which Apache reads line by line for every client it has not cached: each line costs every new client's request; they are enforced all the same`;
      try {
        this.onOverflow(this.overflow, message);
      } catch {
        // a report that fails must not fail a write that succeeded
      }
    }
  }

  async check(): Promise<string | null> {
    const last = this.last;
    if (last === null) return `SDBM map ${this.readerPath} was not written yet and was written`;
    try {
      if ((await readlink(join(this.root, 'current'))) !== last.name) return `SDBM map ${this.readerPath} was changed from outside and was rewritten`;
      for (let i = 0; i < SDBM_FILES.length; i++) {
        const st = await stat(join(this.root, last.name, SDBM_FILES[i]!), { bigint: true });
        const w = last.files[i]!;
        if (st.ino !== w.ino || st.size !== w.size || st.mtimeNs !== w.mtimeNs) return `SDBM map ${this.readerPath} was changed from outside and was rewritten`;
      }
    } catch {
      return `SDBM map ${this.readerPath} was missing and was re-created`;
    }
    return null;
  }

  /**
   * A new mtime (past the last one) for the current version's files, content unchanged: each child's
   * cache starts afresh. In turn with the writes (write()): a touch beside a write could end after it
   * and remember the version it replaced as the current one, and both would set mtimes from the same
   * last one.
   */
  touch(): Promise<void> {
    const run = this.writing.then(() => this.touchNow());
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async touchNow(): Promise<void> {
    const last = this.last;
    if (last === null) return;
    try {
      if ((await readlink(join(this.root, 'current'))) !== last.name) return; // check() rewrites it
      this.last = { name: last.name, files: await this.stampVersion(join(this.root, last.name)) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') return;
      throw this.fileError('cannot touch', e);
    }
  }

  /** Sets the version's files' mtimes to one moment past every earlier version's (µs, as Apache compares). */
  private async stampVersion(vdir: string): Promise<SdbmVersion['files']> {
    if (this.last === null) {
      // The first version of this process (teardown writes one without init): past the current one's.
      for (const f of SDBM_FILES) {
        const st = await stat(join(this.root, 'current', f), { bigint: true }).catch(() => null);
        if (st !== null && st.mtimeNs / 1000n > this.lastMtimeUs) this.lastMtimeUs = st.mtimeNs / 1000n;
      }
    }
    // A millisecond past the last one, checked: utimes' double can round back to it, and a file
    // system may keep coarser times than that (ext4 with 128-byte inodes, ext3: whole seconds; FAT:
    // two), where two writes in one second once got the same mtime and every write but the first
    // of each second failed. Each attempt moves further (1 ms, 2 ms, 1 s, 2 s, 4 s past the last):
    // an mtime a few seconds ahead of the clock harms nothing (mod_rewrite only tells them apart),
    // and the next version starts from it.
    const lastMs = Number(this.lastMtimeUs / 1000n);
    for (const step of [1, 2, 1000, 2000, 4000]) {
      const ms = Math.max(Date.now(), lastMs + step);
      for (const f of SDBM_FILES) await utimes(join(vdir, f), ms / 1000, ms / 1000);
      const sts = await Promise.all(SDBM_FILES.map((f) => stat(join(vdir, f), { bigint: true })));
      const us = sts.map((st) => st.mtimeNs / 1000n);
      if (us.every((u) => u > this.lastMtimeUs)) {
        this.lastMtimeUs = us.reduce((a, b) => (a > b ? a : b));
        return sts.map((st) => ({ ino: st.ino, size: st.size, mtimeNs: st.mtimeNs }));
      }
    }
    throw Object.assign(new Error('could not move the files\' mtime forward'), { code: 'EMTIME' });
  }

  /**
   * Makes the directory when it is missing. Something else in its place (a file, a symlink that
   * could lead the agent's writes elsewhere) is a BH_ERR_FILE, and so is a directory that another
   * user owns or that its group or everyone may write: the agent (root, usually) creates, renames
   * and removes entries in it, and whoever else can change them (the web server's user, planting
   * the directory before the agent first starts, say) could swap one for a symlink between two of
   * those steps and have root write or delete elsewhere, or plant versions Apache would read.
   * A file system error (the map's own directory missing or read-only) is thrown as it is, for
   * MapFile to report.
   */
  private async ensureRoot(): Promise<void> {
    let st;
    try {
      st = await lstat(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code !== 'ENOENT') throw e;
      const made = await mkdir(this.root, { mode: 0o755 }).then(
        () => true,
        (err: unknown) => {
          if ((err as NodeJS.ErrnoException)?.code !== 'EEXIST') throw err;
          return false;
        },
      );
      // 0755 whatever the umask: Apache's user must search it (a umask of 027 made it 0750, and
      // every lookup failed: every banned client served).
      if (made) await chmod(this.root, 0o755);
      st = await lstat(this.root); // made now, or by someone else meanwhile: checked as any other
    }
    if (!st.isDirectory()) throw this.fileError('cannot use', Object.assign(new Error('not a directory'), { code: st.isSymbolicLink() ? 'ELINK' : 'ENOTDIR' }));
    const uid = process.geteuid?.();
    const foreign = uid !== undefined && st.uid !== uid;
    if (foreign || (st.mode & 0o022) !== 0) {
      const why = foreign ? `it belongs to uid ${st.uid}, not to the agent's (${uid})` : `others than its owner may write it (mode ${(st.mode & 0o7777).toString(8)})`;
      throw this.fileError('cannot use', Object.assign(new Error(why), { code: 'EUNSAFE' }));
    }
  }

  /**
   * A `current` that is a directory (not the symlink the agent makes: someone's copy, a bind mount
   * target) cannot be renamed over, which would fail every write while Apache reads whatever it
   * holds: it is moved aside under a version's name, which the prune after the swap removes.
   */
  private async displaceCurrentDirectory(): Promise<void> {
    const current = join(this.root, 'current');
    const st = await lstat(current).catch(() => null);
    if (st === null || !st.isDirectory()) return;
    await rename(current, join(this.root, `v-displaced-${process.pid}-${this.seq}`));
  }

  /** Removes every version but `keep`, and temp links of writers that are gone. */
  private async prune(keep: ReadonlySet<string>): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    for (const n of names) {
      if (n.startsWith('v-') && !keep.has(n)) await rm(join(this.root, n), { recursive: true, force: true }).catch(() => undefined);
      else if (n.startsWith('.current.tmp-') && !n.startsWith(`.current.tmp-${process.pid}-`)) await unlink(join(this.root, n)).catch(() => undefined);
    }
  }

  private fileError(what: string, e: unknown): BanhammerError {
    const code = (e as NodeJS.ErrnoException)?.code;
    const why =
      code === 'ELINK'
        ? 'it is a symbolic link, not a directory'
        : code === 'ENOTDIR'
          ? 'it is not a directory'
          : code === 'EUNSAFE' && e instanceof Error
            ? e.message
            : (code ?? (e instanceof Error ? e.message : String(e)));
    return new BanhammerError('BH_ERR_FILE', `apache-map: ${what} the SDBM map in ${this.root}: ${why}`, {
      hint: `${this.root} must be a directory that the agent's user owns and alone can write (it creates it beside BANHAMMER_MAP_FILE, mode 0755) and Apache's user can read; remove whatever is there instead, or point BANHAMMER_MAP_FILE elsewhere; the bans are kept in memory and written on the next attempt`,
      data: { path: this.root, code: code ?? null },
      cause: e,
    });
  }
}

/** Pages joined in one run of the .pag file at most (a write each): 256 KiB. */
const RUN_PAGES = 256;

/**
 * Consecutive pages joined, as [offset, bytes] runs of RUN_PAGES pages at most, each made when the
 * writer asks for it (after the write of the one before): a quarter of a MiB copied at a time.
 */
function* pageRuns(pages: ReadonlyMap<number, Buffer>): Generator<[number, Buffer], void, void> {
  const nums = Uint32Array.from(pages.keys()).sort();
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && j + 1 - i < RUN_PAGES && nums[j + 1] === nums[j]! + 1) j++;
    const run = Buffer.allocUnsafe((j - i + 1) * SDBM_PAGE_BYTES);
    for (let k = i; k <= j; k++) pages.get(nums[k]!)!.copy(run, (k - i) * SDBM_PAGE_BYTES);
    yield [nums[i]! * SDBM_PAGE_BYTES, run];
    i = j + 1;
  }
}

/** Buffers one after the other from offset 0, as [offset, bytes] runs. */
function* atOffsets(chunks: Iterable<Buffer>): Generator<[number, Buffer], void, void> {
  let at = 0;
  for (const b of chunks) {
    yield [at, b];
    at += b.length;
  }
}

/**
 * A new file (exclusive, mode 0644 whatever the umask) holding `runs` at their offsets, holes
 * between; not fsynced yet (syncVersion does it once the mtimes are set). `runs` is read as the file
 * is written, one run after the write of the one before.
 */
async function writeFileAt(path: string, runs: Iterable<[number, Buffer]>): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.chmod(0o644);
    for (const [at, bytes] of runs) {
      for (let done = 0; done < bytes.length; ) done += (await fh.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

/** fsyncs a version's files (data and metadata: the mtimes stampVersion set), then the version directory. */
async function syncVersion(vdir: string): Promise<void> {
  for (const f of SDBM_FILES) {
    const fh = await open(join(vdir, f), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await syncDir(vdir);
}

/**
 * fsyncs a directory (its entries). A file system that cannot fsync a directory at all (EINVAL,
 * ENOTSUP: some FUSE and network file systems) offers no durability to wait for; failing every write
 * there would keep every new ban from Apache, so that one answer is taken as done.
 */
async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
  } finally {
    await dh.close();
  }
}

export class ApacheMapEnforcer implements Enforcer {
  readonly name = 'apache-map';
  readonly map: MapFile;
  readonly sdbm: SdbmMap;

  private readonly clock: Clock;
  private readonly refreshMs: number;

  constructor(opts: ApacheMapEnforcerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.refreshMs = opts.refreshMs ?? CACHE_REFRESH_MS;
    this.sdbm = new SdbmMap(opts.path, opts.sdbmMaxDepth, opts.onOverflow);
    // MapFile checks the path (absolute, no NUL) before the SDBM map is ever touched.
    this.map = new MapFile({ path: opts.path, render: renderApacheMap, renderParts: renderApacheMapParts, clock: this.clock, owner: this.name, companion: this.sdbm });
  }

  /**
   * The txt map (MapFile.init: kept when it exists, else written, the SDBM map with it), then the
   * SDBM map (kept when it has a current version, else an empty one): Apache refuses to start
   * while either map's file is missing.
   */
  async init(): Promise<void> {
    await this.map.init();
    await this.sdbm.init();
  }

  /** Bans the last write could not put in the SDBM map (in overflow.map: see SDBM_MAX_DEPTH). */
  get overflowEntries(): number {
    return this.sdbm.overflow;
  }

  /** Writes the updated maps; refused addresses are left out and returned. Rejects when a map cannot be written. */
  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const refused = await this.map.updateYielding(batch);
    await this.map.write();
    return { refused };
  }

  /** Repairs the maps (MapFile.check); otherwise starts a new version of both once they are refreshMs old (CACHE_REFRESH_MS). */
  async check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    const repaired = await this.map.check(expected);
    // A write in progress (or asked for) makes new versions of both anyway.
    if (repaired.length === 0 && !this.map.busy && steadyNow(this.clock) - this.map.versionAt >= this.refreshMs) {
      await this.sdbm.touch();
      await this.map.touch();
    }
    return repaired;
  }

  /** Writes empty maps: Apache keeps serving everyone (it refuses to start without a map's files). */
  shutdown(): Promise<void> {
    return this.map.clear();
  }
}

/**
 * The `Define`s with which the image's Apache configuration takes the agent's settings
 * (`banhammer apache-conf`, run by banhammer-entrypoint before Apache starts):
 *   Define BANHAMMER_REMOTEIP_HEADER <header>          always
 *   Define BANHAMMER_TRUSTED_PROXIES "<cidr> <cidr>…"  when trusted proxies are set (mod_remoteip)
 *   Define BANHAMMER_MAP_FILE <path>                   when the enforcer is apache-map
 * Values come from the resolved (validated) configuration. What Apache's config reader could split,
 * quote or substitute is refused with BH_ERR_CONFIG rather than written, by the one rule the
 * configuration loader applies too (config/apache.ts: what check-config accepts, this renders).
 */
export function renderApacheDefines(config: ApacheSettings): string {
  const problem = apacheProblems(config)[0];
  if (problem !== undefined) {
    throw new BanhammerError(
      'BH_ERR_CONFIG',
      `${problem.key} = ${JSON.stringify(problem.value)} (${problem.env}) cannot be written into Apache's configuration: ${problem.allowed}`,
      { data: { key: problem.key, value: problem.value } },
    );
  }
  const lines = [`Define BANHAMMER_REMOTEIP_HEADER ${config.remoteipHeader}`];
  if (config.trustedProxies.length > 0) {
    const cidrs = config.trustedProxies.map((p) => {
      const c = parseCidr(p)!; // apacheProblems refused any entry that is not one
      // Canonical: an IPv4-mapped network is written as the IPv4 network it names, which is what
      // mod_remoteip compares an IPv4 client with (it never matches one against an IPv6 network).
      return `${c.network}/${c.prefix}`;
    });
    lines.push(`Define BANHAMMER_TRUSTED_PROXIES "${cidrs.join(' ')}"`);
  }
  if (config.enforcer === 'apache-map') {
    lines.push(`Define BANHAMMER_MAP_FILE ${config.mapFile}`);
  }
  return lines.join('\n') + '\n';
}
