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
 * - byTag(tag): a syslog-driver tag → the one container whose syslog driver writes that tag (its
 *   hostconfig.json's LogConfig: driver syslog, tag option rendered with {{.ID}}, {{.FullID}},
 *   {{.Name}}; Docker's default is the short id). A container that logs elsewhere is never named by
 *   a tag, and a tag two containers write names neither (a tenant sets its own container's tag, and
 *   could set another's). Without a readable hostconfig.json: the container whose id starts with the
 *   tag (at least 12 hex characters, unambiguous), else whose name equals it. Looked up again every
 *   few seconds (renames, removals).
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
import { parseSyslogFrame } from '../parse/syslog.js';

export const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;
/** Longest config.v2.json read (they hold the container's environment and labels). */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MIN_ID_PREFIX = 12;
/** How long a syslog tag's container (or its having none) is believed before it is looked up again. */
const TAG_RECHECK_MS = 5000;

export interface ContainerInfo {
  readonly id: string;
  /** Without Docker's leading slash. */
  readonly name: string;
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

/** A scope the ban book holds bans for (a container removed since may still have bans restored at start). */
export interface HeldScope {
  readonly id: string;
  /** The container's name when the ban was made. */
  readonly name?: string | undefined;
}

/** What `--container REF` names: a container of the directory, a held scope no container answers to, several, or nothing. */
export type ContainerRef =
  | { readonly kind: 'container'; readonly info: ContainerInfo }
  | { readonly kind: 'held'; readonly id: string; readonly name: string }
  | { readonly kind: 'ambiguous'; readonly ids: readonly string[] }
  | { readonly kind: 'none' };

/**
 * `--container REF` among the directory's containers (find()), then among `held` (the ban book's
 * scopes), by the same rules: a full id, then a name (the one recorded with the bans), then an id
 * prefix of at least 12 hex characters that is one id's among every id known (the directory's and
 * the held ones). Never a scope that is neither a container nor held.
 */
export function resolveContainerRef(resolver: Pick<ContainerResolver, 'find' | 'info' | 'knownIds'>, ref: string, held: () => Iterable<HeldScope>): ContainerRef {
  const want = ref.replace(/^\//, '');
  const live = resolver.find(ref);
  // A container answering to an id prefix only, not to its whole id or name: the held ids count too.
  const byPrefix = live !== null && live.id !== want && live.name !== want;
  if (live !== null && !byPrefix) return { kind: 'container', info: live };
  if (want === '') return { kind: 'none' };
  const scopes = new Map<string, string | undefined>();
  for (const h of held()) if (CONTAINER_ID_RE.test(h.id) && !scopes.has(h.id)) scopes.set(h.id, h.name);
  if (live !== null) {
    const also = [...scopes.keys()].filter((id) => id !== live.id && id.startsWith(want));
    return also.length === 0 ? { kind: 'container', info: live } : { kind: 'ambiguous', ids: [live.id, ...also] };
  }
  // (A held scope whose container is there, renamed since its bans were made, is that container.)
  const shown = (id: string): ContainerRef => {
    const info = resolver.info(id);
    return info !== null ? { kind: 'container', info } : { kind: 'held', id, name: scopes.get(id) ?? id.slice(0, MIN_ID_PREFIX) };
  };
  if (scopes.has(want)) return shown(want);
  const named = [...scopes].filter(([, name]) => name === want).map(([id]) => id);
  if (named.length === 1) return shown(named[0]!);
  if (named.length > 1) return { kind: 'ambiguous', ids: named };
  if (want.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(want)) {
    const hits = [...new Set([...(resolver.knownIds?.() ?? []), ...scopes.keys()])].filter((id) => id.startsWith(want));
    if (hits.length > 1) return { kind: 'ambiguous', ids: hits };
    if (hits.length === 1 && scopes.has(hits[0]!)) return shown(hits[0]!);
  }
  return { kind: 'none' };
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
  /** Every container id known (seen in log paths or listed in the directory), for id-prefix look-ups. */
  knownIds?(): string[];
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

/** How a container logs, from its hostconfig.json: the driver, and the syslog driver's `tag` option (null: Docker's default). */
export interface LogSettings {
  readonly driver: string;
  readonly tag: string | null;
}

/** Longest hostconfig.json read (it holds mounts, devices and log options). */
const MAX_HOSTCONFIG_BYTES = 1024 * 1024;

/** The LogConfig of a hostconfig.json's text, or null when it holds none (or is not JSON). */
export function parseLogSettings(text: string): LogSettings | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const lc = typeof raw === 'object' && raw !== null ? (raw as { LogConfig?: unknown }).LogConfig : undefined;
  if (typeof lc !== 'object' || lc === null) return null;
  const { Type, Config } = lc as { Type?: unknown; Config?: unknown };
  if (typeof Type !== 'string') return null;
  const tag = typeof Config === 'object' && Config !== null ? (Config as { tag?: unknown }).tag : undefined;
  return { driver: Type, tag: typeof tag === 'string' && tag !== '' ? tag : null };
}

/**
 * The tag Docker's syslog driver writes for a container with tag option `template` (null: its default,
 * the short id): the fields `{{.ID}}`, `{{.FullID}}`, `{{.Name}}` and `{{.DaemonName}}`, and literal
 * text. Null for a template with anything else (it cannot be told which container it names).
 */
export function renderLogTag(template: string | null, c: { readonly id: string; readonly name: string }): string | null {
  const fields: Record<string, string> = { ID: c.id.slice(0, 12), FullID: c.id, Name: c.name, DaemonName: 'docker' };
  let unknown = false;
  const out = (template ?? '{{.ID}}').replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_m, expr: string) => {
    const f = /^\.([A-Za-z]+)$/.exec(expr)?.[1];
    if (f === undefined || !Object.hasOwn(fields, f)) {
      unknown = true;
      return '';
    }
    return fields[f]!;
  });
  return unknown || out.includes('{{') ? null : out;
}

/**
 * The tags a syslog reader (parse/syslog.ts) takes from the lines Docker's syslog driver writes with
 * the tag `rendered`, in each of its formats (RFC 3164 with and without a host name, RFC 5424): a tag
 * with a space, colon or brackets reads as something else (`shop: x[812]:` is tagged `shop`), and
 * then every container that can write lines read as a tag counts as writing it.
 */
export function tagsReadAs(rendered: string): string[] {
  const out = new Set<string>([rendered]);
  for (const line of [
    `<30>Nov 23 09:35:48 host ${rendered}[1]: m`,
    `<30>Nov 23 09:35:48 ${rendered}[1]: m`,
    `<30>1 2026-11-23T09:35:48Z host ${rendered} 1 ${rendered} - m`,
  ]) {
    const tag = parseSyslogFrame(line, 0, line.length)?.tag;
    if (tag !== undefined) out.add(tag);
  }
  return [...out];
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
  /** id → its log settings (hostconfig.json), with the file's identity; undefined settings: unreadable. */
  private readonly logs = new Map<string, { settings: LogSettings | undefined; key: string; checkedAt: number }>();
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
    // As Docker resolves a reference: a full id first (a tenant may name its container with another's id), then a name, then an id prefix.
    if (CONTAINER_ID_RE.test(want)) {
      const i = this.info(want);
      if (i !== null) return i;
      if (this.dirs.has(want)) return { id: want, name: want.slice(0, 12), v4: [], v6: [] };
    }
    for (const id of ids) {
      const i = this.info(id);
      if (i !== null && i.name === want) return i;
    }
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
    // A tag is looked up again after a while: one that named no container (it may be new), and one
    // that did (that container may have been renamed or removed, and another now bear the name).
    if (hit !== undefined && now - hit.at < TAG_RECHECK_MS) return hit.id;
    let id: string | undefined;
    if (this.dir === null && this.dirs.size === 0) {
      this.warnOnce('tag-no-dir', `syslog tag ${JSON.stringify(origin)} cannot be tied to a container: no Docker containers directory is known (set BANHAMMER_DOCKER_CONTAINERS_DIR); bans from tagged lines are host-wide`);
    } else {
      id = this.byTag(origin, hit?.id);
      if (id === undefined) {
        this.warnOnce(`tag:${origin}`, `syslog tag ${JSON.stringify(origin)} names no container (by name or id) in ${this.dir ?? 'the known container directories'}; bans from its lines are host-wide`);
      }
    }
    if (this.tagScopes.size > 10_000) this.tagScopes.clear();
    this.tagScopes.set(origin, { id, at: now });
    return id;
  }

  /**
   * The container a syslog tag names. Docker's default tag is the short id, and ids are Docker's
   * while names are their tenants': an id (whole, or a prefix of at least 12 hex that is one
   * container's) wins over a name, so a tenant that names its container after another's short id
   * does not take that container's lines. `cached`: the answer of the last look-up, kept when that
   * container still bears the name (one cached stat, not a look at every container).
   */
  private byTag(tag: string, cached: string | undefined): string | undefined {
    const want = tag.replace(/^\//, '');
    if (want === '') return undefined;
    const ids = this.knownIds();
    // Where Docker's hostconfig.json says how a container logs (always, on a Docker host), a tag is
    // tied only to the containers whose syslog driver writes exactly that tag: a container that logs
    // to json-file never, and a tag two containers write (one chose another's) to neither.
    const told: string[] = [];
    const untold: string[] = [];
    for (const id of ids) {
      const logs = this.logSettings(id);
      if (logs === undefined) {
        untold.push(id);
        continue;
      }
      if (logs.driver !== 'syslog') continue;
      const info = this.info(id);
      const rendered = info !== null ? renderLogTag(logs.tag, info) : null;
      // The tag as the line's reader sees it, not `want`: a tenant whose tag is `/shop`, or `shop: x`
      // (its lines then read as tagged `shop`), writes lines that read as another's; both name it.
      if (rendered !== null && tagsReadAs(rendered).includes(tag)) told.push(id);
    }
    if (told.length > 1) {
      this.warnOnce(`tag-ambiguous:${want}`, `syslog tag ${JSON.stringify(want)} is written by ${told.length} containers (${told.map((id) => this.info(id)?.name ?? id.slice(0, 12)).join(', ')}): it names none of them, and bans from its lines are host-wide; give each container a tag of its own`);
      return undefined;
    }
    if (told.length === 1) return told[0];
    // Containers whose hostconfig.json cannot be read: by id, then by name, as before.
    if (CONTAINER_ID_RE.test(want) && untold.includes(want)) return want;
    if (want.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(want)) {
      const hits = ids.filter((id) => id.startsWith(want));
      if (hits.length === 1) return untold.includes(hits[0]!) ? hits[0] : undefined;
    }
    if (cached !== undefined && untold.includes(cached) && this.info(cached)?.name === want) return cached;
    for (const id of untold) if (this.info(id)?.name === want) return id;
    return undefined;
  }

  /** A container's log settings (hostconfig.json), re-read when the file changed; undefined when it cannot be read. */
  private logSettings(id: string): LogSettings | undefined {
    const now = this.clock.now();
    const c = this.logs.get(id);
    if (c !== undefined && now - c.checkedAt < this.refreshMs) return c.settings;
    const dir = this.dirs.get(id) ?? (this.dir !== null ? join(this.dir, id) : null);
    if (dir === null) return undefined;
    const file = join(dir, 'hostconfig.json');
    let key: string;
    try {
      const st = statSync(file);
      key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      if (c !== undefined && c.key === key) {
        c.checkedAt = now;
        return c.settings;
      }
      if (st.size > MAX_HOSTCONFIG_BYTES) throw Object.assign(new Error('too large'), { code: 'EFBIG' });
    } catch {
      this.logs.set(id, { settings: undefined, key: 'missing', checkedAt: now });
      return undefined;
    }
    let settings: LogSettings | undefined;
    try {
      settings = parseLogSettings(readRegularFileSync(file, MAX_HOSTCONFIG_BYTES)) ?? undefined;
    } catch {
      settings = undefined;
    }
    if (this.logs.size > 10_000) this.logs.clear();
    this.logs.set(id, { settings, key, checkedAt: now });
    return settings;
  }

  /** Ids seen in log paths plus the containers directory's entries (listed at most every 5 s). */
  knownIds(): string[] {
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
