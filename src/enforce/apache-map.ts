/**
 * ApacheMapEnforcer (`apache-map`): bans at layer 7 through a mod_rewrite txt: RewriteMap that the
 * agent rewrites atomically (map-file.ts); docker/apache/banhammer-map.conf answers 403 to listed
 * clients. Apache re-reads a txt map when its mtime changes, so no reload is needed, and with
 * mod_remoteip REMOTE_ADDR is the client named by a trusted proxy.
 *
 * File format, one line per address form:
 *   <address> <expiry as YYYYMMDDHHMMSS, local time>        permanent: 99991231235959
 * The expiry travels with the entry because a ban must end on time even when the agent is dead:
 * the snippet compares it with %{TIME}, which mod_rewrite renders in exactly this format. Apache
 * has no epoch-seconds variable; %{TIME} is local time, and ap_expr's `<` compares strings, which
 * for two 14-digit stamps is time order. Apache and the agent agree on local time when they run with
 * the same TZ (one container: they do). Across a DST fall-back the same local hour repeats; a ban
 * ending in it may end up to an hour early in Apache's eyes — but only when the agent is dead, because the
 * agent removes expired entries itself within a second.
 *
 * Address forms: the canonical one (RFC 5952 for IPv6), and for IPv4-compatible IPv6 (::/96) also
 * `::a.b.c.d`, the spelling APR prints for it, so the lookup key always matches. An IPv4 ban is one
 * line: APR writes every IPv4-mapped address (`::ffff:a.b.c.d`: an IPv4 peer on Apache's dual-stack
 * socket, or a mapped address that mod_remoteip read from the header) as plain `a.b.c.d`
 * (apr_sockaddr_ip_getbuf drops the `::ffff:`), so REMOTE_ADDR is never the mapped spelling; a second
 * line for it only lengthened the file, which mod_rewrite reads line by line on every lookup it has
 * not cached (each child caches per map file version, and every write starts a new version):
 * with Debian's Apache 2.4.71 (2026-12-05), 100,000 bans cost about 4 ms per uncached request as one
 * line each, 7 ms with IPv4 doubled; 10,000 bans 0.56 ms against 0.93 (an empty map: 0.16 ms).
 */
import { systemClock, type Clock } from '../clock.js';
import { apacheProblems, type ApacheSettings } from '../config/apache.js';
import { BanhammerError } from '../errors.js';
import { parseCidr } from '../parse/ip.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch } from './enforcer.js';
import { MapFile, type MapEntry } from './map-file.js';

export interface ApacheMapEnforcerOptions {
  /** The txt map (BANHAMMER_MAP_FILE); its directory must exist. */
  readonly path: string;
  readonly clock?: Clock;
  /** Longest time (ms) the map keeps one version (mtime) while nothing changes; default CACHE_REFRESH_MS. */
  readonly refreshMs?: number;
}

/**
 * mod_rewrite caches every lookup of a txt map, hits and misses alike, in each child process, and
 * drops that cache only when the file's mtime changes: with no ban or unban for hours, every client
 * address a child was asked about stays in its memory (about 120 bytes each with Debian's Apache 2.4:
 * 30,000 addresses grew one child by 3.6 MB), and a client with an IPv6 /64 has addresses without
 * end. check() (every 2 s) therefore gives the file a new mtime, content unchanged, when it has
 * kept one for this long; each child then starts a new cache, and each client's next lookup reads the
 * file once.
 */
export const CACHE_REFRESH_MS = 60_000;

export const PERMANENT_STAMP = '99991231235959';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `until` (ms) as Apache's %{TIME} would show that moment (local time), rounded up to a second. */
export function timeStamp(until: number | null): string {
  if (until === null) return PERMANENT_STAMP;
  const d = new Date(Math.ceil(until / 1000) * 1000);
  if (Number.isNaN(d.getTime()) || d.getFullYear() > 9999) return PERMANENT_STAMP;
  if (d.getFullYear() < 1000) return '00000000000000';
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Every spelling under which Apache may look up this (canonical) address (REMOTE_ADDR as APR prints it). */
export function apacheKeys(entry: Pick<MapEntry, 'ip' | 'family'>): string[] {
  if (entry.family === 4) return [entry.ip];
  const compat = /^::([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(entry.ip);
  if (compat && entry.ip !== '::1') {
    const hi = parseInt(compat[1]!, 16);
    const lo = parseInt(compat[2]!, 16);
    if (hi !== 0) return [entry.ip, `::${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`];
  }
  return [entry.ip];
}

export function renderApacheMap(entries: readonly MapEntry[], now: number): string {
  const lines = [
    `# banhammer apache-map: <client address> <ban expiry YYYYMMDDHHMMSS, local time>; written ${timeStamp(now)}.`,
    '# Rewritten atomically by the agent; edits are lost. See banhammer-map.conf.',
  ];
  for (const e of entries) {
    const stamp = timeStamp(e.until);
    for (const key of apacheKeys(e)) lines.push(`${key} ${stamp}`);
  }
  return lines.join('\n') + '\n';
}

export class ApacheMapEnforcer implements Enforcer {
  readonly name = 'apache-map';
  readonly map: MapFile;

  private readonly clock: Clock;
  private readonly refreshMs: number;

  constructor(opts: ApacheMapEnforcerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.refreshMs = opts.refreshMs ?? CACHE_REFRESH_MS;
    this.map = new MapFile({ path: opts.path, render: renderApacheMap, clock: this.clock, owner: this.name });
  }

  init(): Promise<void> {
    return this.map.init();
  }

  /** Writes the updated map; refused addresses are left out and returned. Rejects when the file cannot be written. */
  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const refused = this.map.update(batch);
    await this.map.write();
    return { refused };
  }

  /** Repairs the file (MapFile.check); otherwise starts a new version of it once it is refreshMs old (CACHE_REFRESH_MS). */
  async check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    const repaired = await this.map.check(expected);
    if (repaired.length === 0 && this.clock.now() - this.map.versionAt >= this.refreshMs) await this.map.touch();
    return repaired;
  }

  /** Writes an empty map: Apache keeps serving everyone (a missing txt map file would log errors). */
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
