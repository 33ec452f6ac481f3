/**
 * Host mode: which container a log line came from, and that container's name and addresses, read
 * from Docker's own files — never from the Docker socket.
 *
 * Docker keeps one directory per container, `<containers dir>/<64-hex id>/`, holding the json-file
 * log `<id>-json.log` and `config.v2.json`, whose `Name` ("/web") and
 * `NetworkSettings.Networks.*.IPAddress` / `GlobalIPv6Address` say what the container is called and
 * where it can be reached (after Docker's DNAT; none while its `State.Running` is false). The
 * directory is mounted read-only into the agent.
 *
 * - idOfLogFile(file): the container id of a json-file log path (`<id>/<id>-json.log`), else undefined.
 * - info(id): name and addresses, cached; the file is looked at again (one stat) at most once per
 *   `refreshMs`, and re-read when its identity, size or mtime changed (Docker rewrites it atomically
 *   whenever the container starts, stops or is renamed, so a restart's new address is seen). A missing
 *   or malformed file gives null and one warning per container, never a throw.
 * - byTag(tag): a syslog-driver tag → the containers whose syslog driver may write that tag (their
 *   hostconfig.json's LogConfig: driver syslog, tag option rendered with {{.ID}}, {{.FullID}},
 *   {{.Name}}; Docker's default is the short id; a template that cannot be rendered here may write
 *   any tag). A container that logs elsewhere is never named by a tag; a tag several containers may
 *   write (a tenant sets its own container's tag, and could set another's) names each of them, never
 *   the whole host. Without a readable hostconfig.json: the container whose id starts with the tag
 *   (at least 12 hex characters, unambiguous), else whose name equals it. Looked up again every few
 *   seconds (renames, removals), from an index of every container's tags built at most that often,
 *   so a flood of distinct (forged) tags costs a map look-up each, and a bounded number of warnings.
 * - scopesOf(file, origin): every scope a line's failures count in: the container id; for a syslog
 *   tag each container that may have written it; `[undefined]` (host-wide) only for a tag no
 *   container can have written. scopeOf(file, origin): the one scope, or undefined when there is none
 *   or several.
 * - knownIds(): a container removed since (its directory gone) is forgotten at the next listing,
 *   with what was cached about it: a host that creates and removes containers all day keeps none of
 *   those long gone.
 *
 * What a tenant controls is its own container: its name (a name may look like another container's
 * short id: resolveContainerRef refuses such a reference), its log driver and tag, its environment
 * and labels (config.v2.json up to 8 MB; re-reads of changed files are bounded per second), when it
 * starts, stops and is removed. Docker's own files are read from the containers directory, never from
 * a directory a log path names when the containers directory is known.
 *
 * All reads are small synchronous reads of local files, done at most once per container per refresh
 * interval: the hot path (one call per line) only looks up maps.
 */
import { existsSync, readdirSync, statSync, type Stats } from 'node:fs';
import { readRegularFileSync } from '../fs/read-regular.js';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { steadyNow, systemClock, type Clock } from '../clock.js';
import { canonicalIp } from '../parse/ip.js';
import { parseSyslogFrame } from '../parse/syslog.js';

export const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;
/** Longest config.v2.json read (they hold the container's environment and labels). */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of config.v2.json read again (a container already read once, whose file changed) per second,
 * over every container: a tenant that restarts many containers whose files it made large (its
 * environment, its labels), each restart a new file, must not stall the agent with synchronous reads
 * and parses. Past the budget a changed file keeps its last reading until a later second. A first
 * reading is never held back (a new container's name and addresses, which tags and bans need).
 */
const REREAD_BYTES_PER_SECOND = 8 * 1024 * 1024;
const MIN_ID_PREFIX = 12;
/** How long a syslog tag's container (or its having none) is believed before it is looked up again. */
const TAG_RECHECK_MS = 5000;
/** How often the containers directory is listed again (new containers, and removed ones forgotten). */
const RELIST_MS = 5000;
/**
 * Distinct syslog tags named in warnings of their own; past that, one summary a minute counts the
 * rest (whoever can write to the syslog daemon can send a new tag with every line).
 */
const MAX_TAG_WARNINGS = 10;
const TAG_SUMMARY_MS = 60_000;

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
 *
 * A tenant names its own container, and a name may be 12+ hex characters: another container's short
 * id as `docker ps` shows it. Docker resolves such a reference to the container with that name; here
 * a reference that is one container's name and another's id prefix (a container's, or a held scope's)
 * names both and is refused as ambiguous, so an operator who copies the victim's short id never bans
 * or lifts a ban at the tenant's container instead. Only a full id is never ambiguous.
 */
export function resolveContainerRef(resolver: Pick<ContainerResolver, 'find' | 'info' | 'knownIds'>, ref: string, held: () => Iterable<HeldScope>): ContainerRef {
  const want = ref.replace(/^\//, '');
  const live = resolver.find(ref);
  if (live !== null && live.id === want) return { kind: 'container', info: live };
  if (want === '') return { kind: 'none' };
  const scopes = new Map<string, string | undefined>();
  for (const h of held()) if (CONTAINER_ID_RE.test(h.id) && !scopes.has(h.id)) scopes.set(h.id, h.name);
  const hexPrefix = want.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(want);
  if (live !== null) {
    // By name or by id prefix: every other id (a container's or a held scope's) the reference is a prefix of names another.
    const also = hexPrefix ? [...new Set([...(resolver.knownIds?.() ?? []), ...scopes.keys()])].filter((id) => id !== live.id && id.startsWith(want)) : [];
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
  /** Scope of a line: the container id, or undefined for host-wide (also when several containers may have written it: see scopesOf). */
  scopeOf(file: string, origin: string | undefined): string | undefined;
  /**
   * Every scope a line counts in: its container; for a syslog tag, each container that may have
   * written it (one that writes exactly that tag, and one whose tag template cannot be rendered);
   * `[undefined]` (host-wide) only for a tag no container can have written.
   */
  scopesOf?(file: string, origin: string | undefined): readonly (string | undefined)[];
  /** Every container id known (seen in log paths or listed in the directory), for id-prefix look-ups. */
  knownIds?(): string[];
  /** The containers directory in use, or null when none is known. */
  readonly dir: string | null;
}

export interface ContainerDirectoryOptions {
  /** Docker's containers directory; null: only json-file paths (their own directory) are known. */
  readonly dir: string | null;
  /** For the ages of what is cached (its monotonic clock when it has one: steadyNow). */
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
  // A container that is not running has no address of its own: Docker releases them at the stop, and
  // may give them to another container right away. A config.v2.json that still lists them (Docker
  // stopped before it saved the stop) must not tie this container's bans to that other container.
  const state = r.State;
  const running = !(typeof state === 'object' && state !== null && (state as Record<string, unknown>).Running === false);
  const ns = r.NetworkSettings;
  if (running && typeof ns === 'object' && ns !== null) {
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

/**
 * Which container writes which syslog tag, built from every known container's hostconfig.json and
 * config.v2.json at most once per TAG_RECHECK_MS, so that a tag costs one map look-up however many
 * containers there are and however many distinct tags arrive (a tenant that can reach the syslog
 * daemon sends any tag it likes, a new one with every line).
 */
interface TagIndex {
  readonly at: number;
  readonly ids: readonly string[];
  /** A tag as the syslog reader reads it → the containers whose syslog driver writes it. */
  readonly told: ReadonlyMap<string, readonly string[]>;
  /** Containers whose syslog driver's tag template cannot be rendered here: they may write any tag. */
  readonly untellable: readonly string[];
  /** Containers whose hostconfig.json cannot be read. */
  readonly untold: ReadonlySet<string>;
  /** Their names → their ids (in directory order). */
  readonly untoldByName: ReadonlyMap<string, readonly string[]>;
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
  private readonly tagScopes = new Map<string, { ids: readonly (string | undefined)[]; at: number }>();
  /** id → its log settings (hostconfig.json), with the file's identity; undefined settings: unreadable. */
  private readonly logs = new Map<string, { settings: LogSettings | undefined; key: string; checkedAt: number }>();
  private readonly warned = new Set<string>();
  private listedAt = -Infinity;
  private listed: string[] = [];
  private listedSet = new Set<string>();
  private tagIndex: TagIndex | null = null;
  /** What is left of this second's re-read budget (REREAD_BYTES_PER_SECOND). */
  private rereadSecond = -Infinity;
  private rereadLeft = REREAD_BYTES_PER_SECOND;
  /** Tags warned about one by one (at most MAX_TAG_WARNINGS), and those counted since the last summary. */
  private readonly tagsWarned = new Set<string>();
  private tagsUnwarned = 0;
  private tagSummaryAt = -Infinity;

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
    // Docker names it `<id>-json.log` in the directory `<id>`; any other name there is not its log,
    // and neither is one deeper inside the containers directory (what a tenant can write is there:
    // its /dev/shm is `<its id>/mounts/shm/`, where it could make `<another id>/<another id>-json.log`
    // and a config.v2.json beside it, naming that container with addresses of its choosing).
    const ok = CONTAINER_ID_RE.test(id) && basename(file) === `${id}-json.log` && !this.nestedInDir(dirname(d));
    this.relist(steadyNow(this.clock));
    if (this.fileIds.size > 10_000) this.fileIds.clear();
    this.fileIds.set(file, ok ? id : null);
    if (!ok) return undefined;
    if (!this.dirs.has(id)) this.dirs.set(id, d);
    return id;
  }

  /** Whether `root` lies inside the containers directory without being it. */
  private nestedInDir(root: string): boolean {
    if (this.dir === null) return false;
    const rel = relative(this.dir, root);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  }

  /**
   * Where a container's config.v2.json and hostconfig.json are read: under the containers directory
   * when it lists the container (Docker's own files, whatever log path names the id), else the
   * directory of its json-file log (a container not listed yet, or logs kept elsewhere).
   */
  private dirOf(id: string): string | null {
    if (this.dir !== null && this.listedSet.has(id)) return join(this.dir, id);
    return this.dirs.get(id) ?? (this.dir !== null ? join(this.dir, id) : null);
  }

  info(id: string): ContainerInfo | null {
    if (!CONTAINER_ID_RE.test(id)) return null;
    const now = steadyNow(this.clock);
    const c = this.cache.get(id);
    if (c !== undefined && now - c.checkedAt < this.refreshMs) return c.info;
    this.relist(now);
    const dir = this.dirOf(id);
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
    // Read before (and since changed): within the budget, else its last reading for now (looked at again at the next call).
    if (c !== undefined && c.info !== null && !this.spendReread(st.size, now)) return c.info;
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
    const ids = this.scopesOf(file, origin);
    return ids.length === 1 ? ids[0] : undefined;
  }

  scopesOf(file: string, origin: string | undefined): readonly (string | undefined)[] {
    if (origin === undefined) return [this.idOfLogFile(file)];
    const now = steadyNow(this.clock);
    const hit = this.tagScopes.get(origin);
    // A tag is looked up again after a while: one that named no container (it may be new), and one
    // that did (that container may have been renamed or removed, and another now bear the name).
    if (hit !== undefined && now - hit.at < TAG_RECHECK_MS) return hit.ids;
    let ids: readonly (string | undefined)[] = [undefined];
    if (this.dir === null && this.dirs.size === 0) {
      this.warnOnce('tag-no-dir', `syslog tag ${JSON.stringify(origin)} cannot be tied to a container: no Docker containers directory is known (set BANHAMMER_DOCKER_CONTAINERS_DIR); bans from tagged lines are host-wide`);
    } else {
      ids = this.byTag(origin, hit?.ids.length === 1 ? hit.ids[0] : undefined);
      if (ids.length === 1 && ids[0] === undefined) {
        this.warnTag(origin, `tag:${origin}`, `syslog tag ${JSON.stringify(origin)} names no container (by name or id) in ${this.dir ?? 'the known container directories'}; bans from its lines are host-wide`);
      }
    }
    if (this.tagScopes.size > 10_000) this.tagScopes.clear();
    this.tagScopes.set(origin, { ids, at: now });
    return ids;
  }

  /**
   * The containers a syslog tag names. Where Docker's hostconfig.json says how a container logs
   * (always, on a Docker host), every container that may have written the tag: each whose syslog
   * driver writes exactly that tag (a container that logs to json-file never), and each whose tag
   * template cannot be rendered here (`{{.ImageName}}`, a template function: it may write any tag,
   * this one included). A tag several containers may write (a tenant set its own to another's, or
   * chose one that cannot be told) is counted at each of them, never host-wide: host-wide would let
   * one tenant's lines ban a client at every container of the host. Otherwise, among containers whose
   * hostconfig.json cannot be read: an id (whole, or a prefix of at least 12 hex that is one
   * container's) wins over a name, so a tenant that names its container after another's short id does
   * not take that container's lines; `cached`: the answer of the last look-up, kept while that
   * container still bears the name. `[undefined]` (host-wide): no container can have written it.
   */
  private byTag(tag: string, cached: string | undefined): readonly (string | undefined)[] {
    const want = tag.replace(/^\//, '');
    if (want === '') return [undefined];
    const index = this.tags();
    const told = index.told.get(tag) ?? [];
    const byIdOrName = this.untoldByTag(index, want, cached);
    const writers = index.untellable.length === 0 && byIdOrName === undefined ? told : [...new Set([...told, ...index.untellable, ...(byIdOrName !== undefined ? [byIdOrName] : [])])];
    if (writers.length > 1) {
      const names = writers.slice(0, 5).map((id) => this.info(id)?.name ?? id.slice(0, 12)).join(', ') + (writers.length > 5 ? ', …' : '');
      this.warnTag(want, `tag-ambiguous:${want}`, `syslog tag ${JSON.stringify(want)} may be written by ${writers.length} containers (${names}): its lines count at each of them (never host-wide); give each container a tag of its own that Docker renders from {{.Name}}, {{.ID}} or {{.FullID}}`);
    }
    return writers.length > 0 ? writers : [undefined];
  }

  /**
   * Among containers whose hostconfig.json cannot be read (how they log is unknown): the one a tag
   * names by id (whole, or a prefix of at least 12 hex that is one container's, and not one whose
   * hostconfig.json says it writes something else), else by name (`cached` first while it still
   * bears the name).
   */
  private untoldByTag(index: TagIndex, want: string, cached: string | undefined): string | undefined {
    const untold = index.untold;
    if (untold.size === 0) return undefined;
    if (CONTAINER_ID_RE.test(want) && untold.has(want)) return want;
    if (want.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(want)) {
      const hits = index.ids.filter((id) => id.startsWith(want));
      if (hits.length === 1) return untold.has(hits[0]!) ? hits[0] : undefined;
    }
    const named = index.untoldByName.get(want) ?? [];
    if (cached !== undefined && named.includes(cached)) return cached;
    return named[0];
  }

  /** The tag index (TagIndex), built again once it is TAG_RECHECK_MS old. */
  private tags(): TagIndex {
    const now = steadyNow(this.clock);
    if (this.tagIndex !== null && now - this.tagIndex.at < TAG_RECHECK_MS) return this.tagIndex;
    const ids = this.knownIds();
    const told = new Map<string, string[]>();
    const untold = new Set<string>();
    const untoldByName = new Map<string, string[]>();
    const untellable: string[] = [];
    for (const id of ids) {
      const logs = this.logSettings(id);
      if (logs === undefined) {
        untold.add(id);
        const name = this.info(id)?.name;
        if (name !== undefined) untoldByName.set(name, [...(untoldByName.get(name) ?? []), id]);
        continue;
      }
      if (logs.driver !== 'syslog') continue;
      const info = this.info(id);
      const rendered = info !== null ? renderLogTag(logs.tag, info) : null;
      if (rendered === null) {
        untellable.push(id);
        this.warnOnce(`untellable:${id}`, `container ${info?.name ?? id.slice(0, 12)} (${id.slice(0, 12)}) logs through Docker's syslog driver with a tag that cannot be told here (${JSON.stringify(logs.tag)}; {{.Name}}, {{.ID}}, {{.FullID}} and literal text are understood): it may write any tag, so the lines of every tag count at it too (besides the containers that write that tag)`);
        continue;
      }
      // The tag as the line's reader sees it: a tenant whose tag is `/shop`, or `shop: x` (its lines
      // then read as tagged `shop`), writes lines that read as another's; both name it.
      for (const t of tagsReadAs(rendered)) {
        const list = told.get(t);
        if (list === undefined) told.set(t, [id]);
        else if (!list.includes(id)) list.push(id);
      }
    }
    this.tagIndex = { at: now, ids, told, untellable, untold, untoldByName };
    return this.tagIndex;
  }

  /**
   * A warning about a syslog tag: each of the first MAX_TAG_WARNINGS distinct tags once, then a count
   * of the further ones at most once a minute (a sender of a new tag per line must not flood the
   * log, nor grow a set of tags warned about without end).
   */
  private warnTag(tag: string, key: string, msg: string): void {
    if (this.warned.has(key)) return;
    if (this.tagsWarned.size < MAX_TAG_WARNINGS) {
      this.tagsWarned.add(tag);
      this.warnOnce(key, msg);
      return;
    }
    if (this.tagsWarned.has(tag)) return this.warnOnce(key, msg);
    this.tagsUnwarned++;
    const now = steadyNow(this.clock);
    if (now - this.tagSummaryAt < TAG_SUMMARY_MS) return;
    this.tagSummaryAt = now;
    this.warn(`${this.tagsUnwarned} more look-up(s) of syslog tags not tied to exactly one container (the last ${JSON.stringify(tag)}): host-wide when no container writes the tag, else counted at each container that may (only the first ${MAX_TAG_WARNINGS} distinct tags are named one by one)`);
    this.tagsUnwarned = 0;
  }

  /** A container's log settings (hostconfig.json), re-read when the file changed; undefined when it cannot be read. */
  private logSettings(id: string): LogSettings | undefined {
    const now = steadyNow(this.clock);
    const c = this.logs.get(id);
    if (c !== undefined && now - c.checkedAt < this.refreshMs) return c.settings;
    const dir = this.dirOf(id);
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

  /**
   * Ids seen in log paths plus the containers directory's entries, listed at most every RELIST_MS.
   * A container removed since (its directory gone) is forgotten at that listing, with what was cached
   * about it: a host that creates and removes containers all day (a tenant can, as fast as Docker
   * lets it) must not keep, and look at for every new syslog tag or `--container`, every id it ever
   * had. (A removed container's held bans still name it: info() answers null for it.)
   */
  knownIds(): string[] {
    this.relist(steadyNow(this.clock));
    return [...new Set([...this.dirs.keys(), ...this.listed])];
  }

  /** The listing and forgetting of knownIds(), when RELIST_MS has passed (also from info() and new log paths, so a host that only reads json-file logs forgets too). */
  private relist(now: number): void {
    if (now - this.listedAt >= RELIST_MS) {
      this.listedAt = now;
      let listed: Set<string> | null = null;
      if (this.dir !== null) {
        try {
          this.listed = readdirSync(this.dir).filter((n) => CONTAINER_ID_RE.test(n));
          listed = new Set(this.listed);
          this.listedSet = listed;
        } catch (e) {
          this.listed = [];
          this.listedSet = new Set();
          this.warnOnce(`dir:${code(e)}`, `cannot list Docker's containers directory ${this.dir} (${code(e)}); is Docker running and the directory mounted?`);
        }
      }
      const gone = new Set<string>();
      for (const [id, d] of this.dirs) {
        // Under the listed directory its listing tells; elsewhere (a json-file path of its own) one stat.
        if (listed !== null && this.dir !== null && d === join(this.dir, id) ? !listed.has(id) : !existsSync(d)) gone.add(id);
      }
      for (const id of [...this.cache.keys(), ...this.logs.keys()]) if (!this.dirs.has(id) && (listed === null || !listed.has(id))) gone.add(id);
      if (gone.size > 0) this.forget(gone);
    }
  }

  /** Drops what is known about containers whose directories are gone (warnings said stay said). */
  private forget(ids: ReadonlySet<string>): void {
    for (const id of ids) {
      this.dirs.delete(id);
      this.cache.delete(id);
      this.logs.delete(id);
    }
    for (const [file, id] of this.fileIds) if (id !== null && ids.has(id)) this.fileIds.delete(file);
  }

  /** Takes `bytes` from this second's re-read budget; false when they do not fit (a file alone larger than the budget waits for a second of its own). */
  private spendReread(bytes: number, now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.rereadSecond) {
      this.rereadSecond = second;
      this.rereadLeft = REREAD_BYTES_PER_SECOND;
    }
    if (bytes > this.rereadLeft && this.rereadLeft < REREAD_BYTES_PER_SECOND) return false;
    this.rereadLeft -= bytes;
    return true;
  }

  private remember(id: string, info: ContainerInfo | null, key: string, now: number, warning?: string): ContainerInfo | null {
    this.cache.set(id, { info, key, checkedAt: now });
    if (warning !== undefined && !this.warned.has(id)) {
      if (this.warned.size >= 10_000) this.warned.clear();
      this.warned.add(id);
      this.warn(warning);
    }
    return info;
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size >= 10_000) this.warned.clear();
    this.warned.add(key);
    this.warn(msg);
  }
}

function code(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : String(e);
}
