/**
 * Host mode: which container a log line came from, and that container's name and addresses, read
 * from Docker's own files — never from the Docker socket.
 *
 * Docker keeps one directory per container, `<containers dir>/<64-hex id>/`, holding the json-file
 * log `<id>-json.log` and `config.v2.json`, whose `Name` ("/web") and
 * `NetworkSettings.Networks.*.IPAddress` / `GlobalIPv6Address` say what the container is called and
 * where it can be reached (after Docker's DNAT). The directory is mounted read-only into the agent.
 *
 * - idOfLogFile(file): the container id of a json-file log path (its directory's name), else undefined.
 * - info(id): name and addresses, cached; the file is looked at again (one stat) at most once per
 *   `refreshMs`, and re-read when its identity, size or mtime changed (Docker rewrites it atomically
 *   whenever the container starts, stops or is renamed, so a restart's new address is seen). A missing
 *   or malformed file gives null and one warning per container, never a throw.
 * - byTag(tag): a syslog-driver tag → the container whose name equals it, or whose id starts with it
 *   (at least 12 hex characters, Docker's short id, and unambiguous).
 * - scopeOf(file, origin): the scope a line's failures and bans belong to: the container id, or
 *   undefined for host-wide (a tag that names no container, with a one-time warning).
 *
 * All reads are small synchronous reads of local files, done at most once per container per refresh
 * interval: the hot path (one call per line) only looks up maps.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { readRegularFileSync } from '../fs/read-regular.js';
import { basename, dirname, join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { canonicalIp } from '../parse/ip.js';

export const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;
/** Longest config.v2.json read (they hold the container's environment and labels). */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MIN_ID_PREFIX = 12;

export interface ContainerInfo {
  readonly id: string;
  /** Without Docker's leading slash. */
  readonly name: string;
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/** What the daemon and the docker-user enforcer need from the container directory. */
export interface ContainerResolver {
  /** Container id a line of `file` belongs to (json-file logs), or undefined. */
  idOfLogFile(file: string): string | undefined;
  info(id: string): ContainerInfo | null;
  /** A container by exact name or by id / unambiguous id prefix (≥ 12 hex), for syslog tags and `--container`. */
  find(nameOrId: string): ContainerInfo | null;
  /** Scope of a line: the container id, or undefined for host-wide. */
  scopeOf(file: string, origin: string | undefined): string | undefined;
  /** The containers directory in use, or null when none is known. */
  readonly dir: string | null;
}

export interface ContainerDirectoryOptions {
  /** Docker's containers directory; null: only json-file paths (their own directory) are known. */
  readonly dir: string | null;
  readonly clock?: Clock;
  readonly refreshMs?: number;
  readonly onWarning?: (msg: string) => void;
}

/**
 * The containers directory for a configuration: the explicit one, else the directory two levels above
 * a `*-json.log` path or glob (`/var/lib/docker/containers/*\/*-json.log` → `/var/lib/docker/containers`).
 */
export function containersDirFor(explicit: string | null, logPaths: readonly string[]): string | null {
  if (explicit !== null) return explicit;
  for (const p of logPaths) {
    if (basename(p).endsWith('-json.log') && p.startsWith('/')) {
      const d = dirname(dirname(p));
      if (!/[*?[]/.test(d)) return d;
    }
  }
  return null;
}

/** Parses a config.v2.json text; null when it is not one. */
export function parseContainerConfig(text: string, expectId?: string): ContainerInfo | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const id = typeof r.ID === 'string' ? r.ID : expectId;
  if (id === undefined || !CONTAINER_ID_RE.test(id) || (expectId !== undefined && id !== expectId)) return null;
  const name = typeof r.Name === 'string' ? r.Name.replace(/^\//, '') : '';
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  const add = (a: unknown): void => {
    if (typeof a !== 'string' || a === '') return;
    const c = canonicalIp(a);
    if (c === null) return;
    (c.family === 4 ? v4 : v6).add(c.ip);
  };
  const ns = r.NetworkSettings;
  if (typeof ns === 'object' && ns !== null) {
    const n = ns as Record<string, unknown>;
    add(n.IPAddress);
    add(n.GlobalIPv6Address);
    const nets = n.Networks;
    if (typeof nets === 'object' && nets !== null) {
      for (const net of Object.values(nets as Record<string, unknown>)) {
        if (typeof net !== 'object' || net === null) continue;
        const e = net as Record<string, unknown>;
        add(e.IPAddress);
        add(e.GlobalIPv6Address);
      }
    }
  }
  return { id, name: name === '' ? id.slice(0, 12) : name, v4: [...v4].sort(), v6: [...v6].sort() };
}

interface Cached {
  info: ContainerInfo | null;
  key: string;
  checkedAt: number;
}

export class ContainerDirectory implements ContainerResolver {
  readonly dir: string | null;
  private readonly clock: Clock;
  private readonly refreshMs: number;
  private readonly warn: (msg: string) => void;
  /** id → its directory (from json-file paths, or under `dir`). */
  private readonly dirs = new Map<string, string>();
  private readonly cache = new Map<string, Cached>();
  private readonly fileIds = new Map<string, string | null>();
  private readonly tagScopes = new Map<string, { id: string | undefined; at: number }>();
  private readonly warned = new Set<string>();
  private listedAt = -Infinity;
  private listed: string[] = [];

  constructor(opts: ContainerDirectoryOptions) {
    this.dir = opts.dir;
    this.clock = opts.clock ?? systemClock;
    this.refreshMs = opts.refreshMs ?? 1000;
    this.warn = opts.onWarning ?? (() => {});
  }

  idOfLogFile(file: string): string | undefined {
    const hit = this.fileIds.get(file);
    if (hit !== undefined) return hit ?? undefined;
    const d = dirname(file);
    const id = basename(d);
    const ok = CONTAINER_ID_RE.test(id) && basename(file).endsWith('-json.log');
    if (this.fileIds.size > 10_000) this.fileIds.clear();
    this.fileIds.set(file, ok ? id : null);
    if (!ok) return undefined;
    if (!this.dirs.has(id)) this.dirs.set(id, d);
    return id;
  }

  info(id: string): ContainerInfo | null {
    if (!CONTAINER_ID_RE.test(id)) return null;
    const now = this.clock.now();
    const c = this.cache.get(id);
    if (c !== undefined && now - c.checkedAt < this.refreshMs) return c.info;
    const dir = this.dirs.get(id) ?? (this.dir !== null ? join(this.dir, id) : null);
    if (dir === null) return null;
    const file = join(dir, 'config.v2.json');
    let st: Stats;
    try {
      st = statSync(file);
    } catch (e) {
      return this.remember(id, null, `missing:${code(e)}`, now, `cannot read ${file} (${code(e)}): bans from container ${id.slice(0, 12)} cannot be tied to its address until it is readable (mount Docker's containers directory read-only into the agent)`);
    }
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (c !== undefined && c.key === key) {
      c.checkedAt = now;
      return c.info;
    }
    if (st.size > MAX_CONFIG_BYTES) {
      return this.remember(id, null, key, now, `${file} is larger than ${MAX_CONFIG_BYTES} bytes; not read`);
    }
    let text: string;
    try {
      text = readRegularFileSync(file, MAX_CONFIG_BYTES);
    } catch (e) {
      return this.remember(id, null, `unreadable:${code(e)}`, now, `cannot read ${file} (${code(e)})`);
    }
    const info = parseContainerConfig(text, id);
    if (info === null) return this.remember(id, null, key, now, `${file} is not a Docker container configuration (bad JSON or another ID); ignored`);
    this.warned.delete(id);
    return this.remember(id, info, key, now);
  }

  find(nameOrId: string): ContainerInfo | null {
    const want = nameOrId.replace(/^\//, '');
    if (want === '') return null;
    const ids = this.knownIds();
    for (const id of ids) {
      const i = this.info(id);
      if (i !== null && i.name === want) return i;
    }
    if (CONTAINER_ID_RE.test(want)) return this.info(want) ?? (this.dirs.has(want) ? { id: want, name: want.slice(0, 12), v4: [], v6: [] } : null);
    if (want.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(want)) {
      const hits = ids.filter((id) => id.startsWith(want));
      if (hits.length === 1) return this.info(hits[0]!) ?? { id: hits[0]!, name: hits[0]!.slice(0, 12), v4: [], v6: [] };
    }
    return null;
  }

  scopeOf(file: string, origin: string | undefined): string | undefined {
    if (origin === undefined) return this.idOfLogFile(file);
    const now = this.clock.now();
    const hit = this.tagScopes.get(origin);
    // A tag that named no container is looked up again after a while (the container may be new).
    if (hit !== undefined && (hit.id !== undefined || now - hit.at < 5000)) return hit.id;
    let id: string | undefined;
    if (this.dir === null && this.dirs.size === 0) {
      this.warnOnce('tag-no-dir', `syslog tag ${JSON.stringify(origin)} cannot be tied to a container: no Docker containers directory is known (set BANHAMMER_DOCKER_CONTAINERS_DIR); bans from tagged lines are host-wide`);
    } else {
      id = this.find(origin)?.id;
      if (id === undefined) {
        this.warnOnce(`tag:${origin}`, `syslog tag ${JSON.stringify(origin)} names no container (by name or id) in ${this.dir ?? 'the known container directories'}; bans from its lines are host-wide`);
      }
    }
    if (this.tagScopes.size > 10_000) this.tagScopes.clear();
    this.tagScopes.set(origin, { id, at: now });
    return id;
  }

  /** Ids seen in log paths plus the containers directory's entries (listed at most every 5 s). */
  private knownIds(): string[] {
    const now = this.clock.now();
    if (this.dir !== null && now - this.listedAt >= 5000) {
      this.listedAt = now;
      try {
        this.listed = readdirSync(this.dir).filter((n) => CONTAINER_ID_RE.test(n));
      } catch (e) {
        this.listed = [];
        this.warnOnce(`dir:${code(e)}`, `cannot list Docker's containers directory ${this.dir} (${code(e)}); is Docker running and the directory mounted?`);
      }
    }
    return [...new Set([...this.dirs.keys(), ...this.listed])];
  }

  private remember(id: string, info: ContainerInfo | null, key: string, now: number, warning?: string): ContainerInfo | null {
    this.cache.set(id, { info, key, checkedAt: now });
    if (warning !== undefined && !this.warned.has(id)) {
      this.warned.add(id);
      this.warn(warning);
    }
    return info;
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(msg);
  }
}

function code(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : String(e);
}
