/**
 * The one source of configuration types, defaults, validation, descriptions and environment names.
 *
 * `Config` is the resolved, frozen shape every stage reads. SETTINGS describes each setting other
 * than rules once: where it sits in the YAML file, its environment variable, its meaning, its default
 * and a zod schema that validates and normalises a value (from YAML directly, from the environment
 * after `fromEnv` turned the string into YAML-like data). Rules are described by RULE_FILE_SCHEMA
 * (YAML) and RULE_ENV_FIELDS (environment). The loader, the env-table generator and check-config all
 * read these tables, so a setting cannot exist in one and be missing from another.
 *
 * Durations are ms; a permanent bantime is PERMANENT (Infinity). Address lists are canonical
 * `network/prefix` strings (parseCidr: an IPv4-mapped network is the IPv4 network it names), de-duplicated in order.
 *
 * Schemas use zod/mini (the functional API of zod 4): bundled, classic zod cost the idle agent ~6 MB
 * RSS because every schema carries every method and nothing tree-shakes. zod/mini loads no locale,
 * so English is configured below: messages not given explicitly here (e.g. `log: 5`, "Invalid input:
 * expected object, received number") read exactly as they did with classic zod.
 */
import * as z from 'zod/mini';
import { LOG_FORMATS, type LogFormat } from '../parse/access-event.js';
import { cidrProblem, parseCidr } from '../parse/ip.js';
import { AddressRanges } from '../parse/address-ranges.js';
import { INSTANCE_RE } from '../enforce/iptables-args.js';
import type { BantimeIncrement, RuleMatch, RuleSettings } from '../detect/rule.js';
import { PRESETS, DEFAULT_RULE, isPreset } from '../detect/presets.js';
import {
  addIssue,
  asList,
  bantimeSchema,
  booleanSchema,
  dedupe,
  findtimeSchema,
  MAX_MAXRETRY,
  maxretrySchema,
  preprocess,
  RULE_FILE_SCHEMA,
  ruleNameProblem,
  strict,
} from './rule-schema.js';
import type { CountMode } from './rule-schema.js';
import { NOTIFY_SETTINGS, type NotifyConfig, type NotifySettingTypes } from '../notify/settings.js';
import { maskUrlValue } from './mask.js';
import { boundedDuration } from '../notify/target-schema.js';
import { formatDuration } from './duration.js';

export { durationSchema, MAX_MAXRETRY, RULE_FILE_SCHEMA, RESERVED_RULE_NAMES, RULE_NAME_RE, ruleNameProblem } from './rule-schema.js';

export const ENFORCERS = ['iptables', 'nftables', 'auto', 'log', 'apache-map', 'nginx-map', 'docker-user'] as const;
export type EnforcerKind = (typeof ENFORCERS)[number];
export const IPTABLES_MODES = ['auto', 'nft', 'legacy'] as const;
export type IptablesMode = (typeof IPTABLES_MODES)[number];
export const BLOCK_ACTIONS = ['DROP', 'REJECT'] as const;
export type BlockAction = (typeof BLOCK_ACTIONS)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const BAN_SCOPES = ['container', 'host'] as const;
export type BanScope = (typeof BAN_SCOPES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

// zod/mini's English locale is configured in rule-schema.ts (imported above).

/**
 * Every setting except rules, keyed by its flat name: the one list of setting names and types.
 * SETTINGS must describe exactly these keys (its mapped type says so), and Config is built from them.
 */
export interface SettingTypes extends NotifySettingTypes {
  readonly instance: string;
  /** Config: log.paths */
  readonly logPaths: readonly string[];
  /** Config: log.format */
  readonly logFormat: LogFormat;
  readonly ignoreip: readonly string[];
  readonly maxTracked: number;
  /** Ended bans remembered with their evidence (`banhammer why`, the state file). */
  readonly banHistory: number;
  /** Bans held at most (decide/ban-book.ts BanBookLimits.maxBans). */
  readonly maxBans: number;
  /**
   * IPv6 network escalation (decide/network-escalation.ts): once this many addresses of one network
   * of ipv6NetworkBanPrefix bits are banned within ipv6NetworkBanWithin, the network is banned; 0 = off.
   */
  readonly ipv6NetworkBanAfter: number;
  readonly ipv6NetworkBanPrefix: number;
  /** ms */
  readonly ipv6NetworkBanWithin: number;
  readonly stateDir: string;
  readonly socketPath: string;
  readonly enforcer: EnforcerKind;
  readonly ports: readonly number[];
  readonly iptablesMode: IptablesMode;
  readonly blockAction: BlockAction;
  readonly metricsAddr: string | null;
  readonly trustedProxies: readonly string[];
  readonly logLevel: LogLevel;
  /** apache-map / nginx-map: the file the web server reads. */
  readonly mapFile: string;
  /** nginx-map: argv of the command that makes nginx re-read the map. */
  readonly nginxReload: readonly string[];
  /** Request header naming the client behind a trusted proxy (rendered into the web server config). */
  readonly remoteipHeader: string;
  /** docker-user: a ban from container X's log blocks traffic to X only (`container`) or to every container (`host`). */
  readonly banScope: BanScope;
  /** docker-user: Docker's containers directory (config.v2.json per container); null = derived from the log paths. */
  readonly dockerContainersDir: string | null;
  /** Config: share.redisUrl — the Redis the replicas of a group share failures and bans through; null = no sharing. */
  readonly shareRedisUrl: string | null;
  /** Config: share.passwordFile — a file holding the Redis password (Docker secrets). */
  readonly sharePasswordFile: string | null;
  /** Config: share.group — the name the replicas of one service share. */
  readonly shareGroup: string | null;
  /** Config: share.keyFile — a file holding the group's signing key (HMAC-SHA256 over every shared ban and unban); null = unsigned. */
  readonly shareKeyFile: string | null;
  /** Config: share.minPrefix4 — the widest IPv4 network (CIDR) ban this agent adopts from the group. */
  readonly shareMinPrefix4: number;
  /** Config: share.minPrefix6 — the widest IPv6 network (CIDR) ban this agent adopts from the group. */
  readonly shareMinPrefix6: number;
  /** Config: share.maxBans — the most shared bans the group holds (and this agent adopts). */
  readonly shareMaxBans: number;
  /** A directory of the user's own rule files (one rule per <name>.yaml, the presets' format); null = none. */
  readonly rulesDir: string | null;
}

/**
 * The resolved configuration: every setting of SettingTypes under its own name, except the log
 * settings, which are grouped as `log.paths` and `log.format` (SETTINGS[k].configPath says where each
 * sits), plus the rules.
 */
export type Config = Omit<SettingTypes, 'logPaths' | 'logFormat' | 'shareRedisUrl' | 'sharePasswordFile' | 'shareGroup' | 'shareKeyFile' | 'shareMinPrefix4' | 'shareMinPrefix6' | 'shareMaxBans' | keyof NotifySettingTypes> & {
  readonly log: { readonly paths: SettingTypes['logPaths']; readonly format: SettingTypes['logFormat'] };
  /** Sharing failures and bans with the other replicas of a group (src/share); redisUrl null = off. */
  readonly share: {
    readonly redisUrl: SettingTypes['shareRedisUrl'];
    readonly passwordFile: SettingTypes['sharePasswordFile'];
    readonly group: SettingTypes['shareGroup'];
    readonly keyFile: SettingTypes['shareKeyFile'];
    readonly minPrefix4: SettingTypes['shareMinPrefix4'];
    readonly minPrefix6: SettingTypes['shareMinPrefix6'];
    readonly maxBans: SettingTypes['shareMaxBans'];
  };
  /** Notifications on ban and unban (src/notify): events, digest, targets. */
  readonly notify: NotifyConfig;
  /** Every preset (with overrides applied) plus user rules; `enabled` says which run. No prototype: own keys only. */
  readonly rules: Readonly<Record<string, RuleSettings>>;
};

export type SettingKey = keyof SettingTypes;

export interface DefaultsContext {
  readonly hostname: string;
}

/**
 * What a SIGHUP reload does with a changed setting: `live` applies it (the daemon's reload does), and
 * `restart` keeps the running value until the agent restarts, with a warning naming the setting
 * (restartOnlyChanges in settings.ts).
 */
export type ReloadMode = 'live' | 'restart';

export interface SettingSpec<T> {
  /** Key path in the YAML file (snake_case), also used to name the key in messages. */
  readonly yamlPath: readonly string[];
  /** Where the value sits in Config (`['log', 'paths']`); settings.ts reads and assembles Config by it. */
  readonly configPath: readonly [string] | readonly [string, string];
  readonly reload: ReloadMode;
  readonly env: string;
  readonly description: string;
  /** Allowed values, for humans (env table, messages). */
  readonly allowed: string;
  readonly schema: z.ZodMiniType<T>;
  /** Turns an environment string into YAML-like data for `schema`. */
  readonly fromEnv: (raw: string) => unknown;
  readonly default: (ctx: DefaultsContext) => T;
  /** The default as shown in the env table. */
  readonly defaultText: string;
  /** The value as the YAML file writes it (check-config), when that differs from the Config's (durations). */
  readonly toYaml?: (value: T) => unknown;
  /**
   * Set on every setting whose value is or holds a secret (a password, a token, a URL that carries
   * one): the value as every description shows it (check-config and its --json, config problems),
   * with the secret masked (src/config/mask.ts). The agent always runs with the real value.
   */
  readonly redact?: (value: T) => T;
}

// ---------------------------------------------------------------------------------------------
// Value schemas shared by the file, the environment and flags.

/**
 * Instance names: the firewall's rule (iptables-args.ts, which derives chain, set and table names
 * from it), at most INSTANCE_MAX_LENGTH characters: the state and outbox file names are derived from
 * it too (`state-<instance>.json.tmp-<pid>-<n>` must fit a file name), and a container hostname, the
 * default, is never longer.
 */
export { INSTANCE_RE };
export const INSTANCE_MAX_LENGTH = 64;

const splitList = (raw: string, sep: RegExp): string[] => raw.split(sep).map((s) => s.trim()).filter((s) => s !== '');
const commaList = (raw: string): string[] => splitList(raw, /,/);
const wordList = (raw: string): string[] => splitList(raw, /[\s,]+/);
const intOrString = (raw: string): unknown => (/^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw.trim());
const trimmed = (raw: string): unknown => raw.trim();

/** A list of addresses/CIDRs: YAML list or a comma/space separated string; canonical output. */
const cidrListOf = (everyAddress: string | null) =>
  z.pipe(
    z.unknown(),
    z.transform((v, ctx): readonly string[] => {
      const items = typeof v === 'string' ? wordList(v) : v;
      if (!Array.isArray(items)) {
        addIssue(ctx, { message: 'expected a list of IPv4/IPv6 addresses or CIDRs' });
        return z.NEVER;
      }
      const out: string[] = [];
      const issuesBefore = ctx.issues.length;
      items.forEach((item: unknown, i) => {
        const c = typeof item === 'string' ? parseCidr(item) : null;
        if (c === null) {
          // parseCidr's own words: an IPv4-mapped network with a prefix below /96 says how to write it.
          const why = typeof item === 'string' ? cidrProblem(item) : null;
          addIssue(ctx, { path: [i], input: item, message: why ?? 'not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)' });
        } else if (c.prefix === 0 && everyAddress !== null) {
          addIssue(ctx, { path: [i], input: item, message: everyAddress });
        } else {
          out.push(`${c.network}/${c.prefix}`);
        }
      });
      // Not only a /0: entries that add up to every address of a family (0.0.0.0/1 and 128.0.0.0/1)
      // are the same list, and are refused the same way (review: helper).
      if (everyAddress !== null && ctx.issues.length === issuesBefore) {
        for (const family of familiesCovered(out)) addIssue(ctx, { message: `covers every IPv${family} address: ${everyAddress.replace(/^is \/0: /, '')}` });
      }
      return dedupe(out);
    }),
  );
const cidrList = cidrListOf(null);

/** The families whose every address the networks (canonical CIDRs) hold together (see AddressRanges.coversAll). */
export function familiesCovered(cidrs: readonly string[]): (4 | 6)[] {
  const ranges = new AddressRanges();
  for (const raw of cidrs) {
    const c = parseCidr(raw);
    if (c !== null) ranges.add(c);
  }
  return ([4, 6] as const).filter((f) => ranges.coversAll(f));
}

/**
 * Trusted proxies: never every address. A /0 would believe any client's X-Forwarded-For, so any
 * client could name any address as the one to ban (review: helper).
 */
const trustedCidrList = cidrListOf("is /0: every client would be a trusted proxy, and any client's X-Forwarded-For could name any address to ban; list your proxies' own addresses or networks");

/** A non-empty string without NUL (an item of a path list or of a command's argv). */
const nonEmptyText = (error: string) =>
  z.string({ error }).check(z.minLength(1, { error: 'must not be empty' }), z.refine((s) => !s.includes('\0'), { error: 'must not contain NUL' }));

/** Group names as Redis key prefixes allow them (no braces, colons or spaces: the hash tag stays intact). */
export const SHARE_GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const redisUrl = z.string({ error: 'expected a redis:// or rediss:// URL' }).check(
  z.refine(
    (s) => {
      if (s.length > 2048 || s.includes('\0')) return false;
      try {
        const u = new URL(s);
        // What the share stage's client (share/redis-share.ts redisClientOptions) then reads: the
        // user and password percent-decoded (a stray % made it throw), a port it can connect to.
        decodeURIComponent(u.username);
        decodeURIComponent(u.password);
        return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && u.port !== '0' && /^(\/\d{0,2})?$/.test(u.pathname);
      } catch {
        return false;
      }
    },
    { error: 'expected redis://[user[:password]@]host[:port][/db] or rediss://… (port 1–65535; in the user and password write % as %25, @ as %40, : as %3A, / as %2F)' },
  ),
);

/** Linux's limits: a path of at most PATH_MAX - 1 bytes, each name in it at most NAME_MAX bytes. */
export const PATH_MAX_BYTES = 4095;
export const NAME_MAX_BYTES = 255;
/**
 * The control socket's path: a Unix socket address holds 108 bytes with the final NUL, and Node
 * silently cuts a longer path (the socket appears elsewhere, and chmod and clean-up miss it).
 */
export const SOCKET_PATH_MAX_BYTES = 107;
/**
 * The last name of a file the agent replaces atomically (the map file): a temporary
 * `<name>.tmp-<pid>-<n>` beside it must still fit NAME_MAX.
 */
export const REPLACED_NAME_MAX_BYTES = 200;
/**
 * The state directory: the agent's files in it (`state-<instance>.json.tmp-<pid>-<n>`,
 * `share-outbox-<instance>.json…`, instance at most INSTANCE_MAX_LENGTH) must still fit PATH_MAX.
 */
export const STATE_DIR_MAX_BYTES = 3840;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The problem with an absolute path, or null (one rule for every path setting; see absolutePath). */
export function pathProblem(s: string, opts: { maxBytes?: number; file?: boolean; lastNameMaxBytes?: number } = {}): string | null {
  const maxBytes = opts.maxBytes ?? PATH_MAX_BYTES;
  if (s === '') return 'must not be empty';
  if (!s.startsWith('/')) return 'must be an absolute path (starting with /)';
  if (s.includes('\0')) return 'must not contain NUL';
  if (bytes(s) > maxBytes) return `must be at most ${maxBytes} bytes long`;
  const names = s.split('/');
  if (names.some((n) => bytes(n) > NAME_MAX_BYTES)) return `each name in the path must be at most ${NAME_MAX_BYTES} bytes long`;
  if (opts.file === true) {
    const last = names[names.length - 1]!;
    if (last === '' || last === '.' || last === '..') return 'must name a file, not a directory (it ends in /, /. or /..)';
    if (opts.lastNameMaxBytes !== undefined && bytes(last) > opts.lastNameMaxBytes) return `its file name must be at most ${opts.lastNameMaxBytes} bytes long`;
  }
  return null;
}

/** An absolute path (a directory, or with `file` a file), within the kernel's limits. */
const absolutePath = (opts: Parameters<typeof pathProblem>[1] = {}) =>
  z.string({ error: 'expected a path (string)' }).check(
    z.superRefine((s, ctx) => {
      const why = pathProblem(s, opts);
      if (why !== null) ctx.addIssue({ code: 'custom', message: why, input: s });
    }),
  );
const dirPath = absolutePath();
const filePath = absolutePath({ file: true });

/**
 * Why a log path or glob would follow nothing the operator meant, or null. The tailer's globs have
 * `*`, `?` and `[…]` within one directory level only (source/glob.ts); a path it cannot match never
 * appears, and the agent waits for it for ever with every other check passing (status: "no such
 * file yet"). A relative path depends on the agent's working directory; braces were split at their
 * comma by BANHAMMER_LOG_PATH (`/var/log/{a,b}.log` became `/var/log/{a` and `b}.log`); `**` matched
 * one level, not any depth; a newline from a multi-line variable became part of one file name.
 */
export function logPathProblem(p: string): string | null {
  const why = pathProblem(p);
  if (why !== null) return why;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return 'must not contain control characters (a newline separates nothing: separate paths with commas)';
  if (/[{}]/.test(p)) return 'braces are not expanded: list each path, comma-separated';
  if (p.split('/').some((name) => name.includes('**'))) return '`**` is not supported: each `*` matches within one directory level (write one * per level)';
  return null;
}

const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` });

const port = z
  .int({ error: 'expected a port number (integer 1–65535)' })
  .check(z.gte(1, { error: 'a port is 1–65535' }), z.lte(65535, { error: 'a port is 1–65535' }));

/**
 * The one rule for the remote-IP header name, shared by the schema (check-config, load) and the
 * Apache renderer (renderApacheDefines, run by the image's entrypoint): a header name Apache's config
 * reader takes as one plain word in `Define` and `RemoteIPHeader` (a subset of HTTP's token
 * characters; `*`, `'`, `|`, `$`… are valid in HTTP but not there), up to 128 characters. Two rules
 * used to differ, so check-config accepted what the entrypoint then refused (exit 78).
 */
export const REMOTEIP_HEADER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const REMOTEIP_HEADER_ALLOWED = 'letters, digits, "-", "_" and ".", starting with a letter or digit, at most 128 (e.g. X-Forwarded-For, X-Real-IP)';

/**
 * Headers whose value is not a list of addresses: mod_remoteip (and nginx's real_ip) read the header
 * as `addr, addr, …` and take the right-most entry no trusted proxy added. RFC 7239's `Forwarded`
 * (`for=198.18.0.7;proto=https`) is a list of key=value pairs neither can parse, so every request
 * through the proxy kept the proxy as its client: the agent banned the proxy (everyone) or, with it
 * trusted, no one. The others carry a host, a scheme, a port or the client's own words. Lower case;
 * header names are case-insensitive.
 */
const NOT_ADDRESS_HEADERS: ReadonlyMap<string, string> = new Map([
  ['forwarded', 'RFC 7239 Forwarded holds `for=…;proto=…` pairs, which mod_remoteip and nginx real_ip cannot parse: have the proxy send X-Forwarded-For (or X-Real-IP)'],
  ['x-forwarded', 'X-Forwarded holds Forwarded-style `for=…` pairs, which mod_remoteip and nginx real_ip cannot parse: have the proxy send X-Forwarded-For (or X-Real-IP)'],
  ['proxy_protocol', 'the PROXY protocol is not a header (nginx `real_ip_header proxy_protocol`); the image\'s Apache reads a header: have the proxy send X-Forwarded-For (or X-Real-IP)'],
  ...['via', 'host', 'x-forwarded-host', 'x-forwarded-server', 'x-forwarded-proto', 'x-forwarded-protocol', 'x-forwarded-scheme', 'x-forwarded-ssl', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-uri', 'x-original-uri', 'x-original-url', 'x-url-scheme', 'front-end-https', 'user-agent', 'referer', 'cookie', 'authorization', 'proxy-authorization', 'origin', 'from', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'range', 'cache-control', 'pragma', 'date', 'dnt', 'x-requested-with'].map((h): [string, string] => [h, 'it carries no client address (mod_remoteip would keep the proxy as the client, or take what the client wrote): use the header in which your proxy names the client, e.g. X-Forwarded-For or X-Real-IP']),
]);
/** Standard request-header families that never carry an address. */
const NOT_ADDRESS_PREFIXES = ['accept-', 'content-', 'if-', 'sec-'];

/**
 * Why mod_remoteip (and nginx real_ip) cannot take `name` as the header naming the client, or null.
 * Shared by the schema (check-config, the agent's load and reload) and renderApacheDefines, like
 * REMOTEIP_HEADER_RE.
 */
export function remoteipHeaderProblem(name: string): string | null {
  if (!REMOTEIP_HEADER_RE.test(name)) return `expected an HTTP header name of ${REMOTEIP_HEADER_ALLOWED}`;
  const lower = name.toLowerCase();
  const why = NOT_ADDRESS_HEADERS.get(lower) ?? (NOT_ADDRESS_PREFIXES.some((p) => lower.startsWith(p)) || lower === 'accept' ? NOT_ADDRESS_HEADERS.get('host')! : undefined);
  return why === undefined ? null : `${name} cannot name the client: ${why}`;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** host:port, [v6]:port or :port (all interfaces); null, '' or `off` disables. */
const listenAddr = z.pipe(
  z.unknown(),
  z.transform((v, ctx): string | null => {
    if (v === null || v === false || v === '' || v === 'off') return null;
    if (typeof v !== 'string') {
      addIssue(ctx, { message: 'expected host:port, or off' });
      return z.NEVER;
    }
    const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v.trim());
    const portNo = m ? Number(m[3]) : 0;
    const host = m ? (m[1] ?? m[2] ?? '') : '';
    const hostOk = m !== null && (m[1] !== undefined ? parseCidr(host)?.family === 6 && !host.includes('/') : host === '' || HOSTNAME_RE.test(host));
    if (!hostOk || portNo < 1 || portNo > 65535) {
      addIssue(ctx, { message: 'expected host:port (127.0.0.1:9100, [::1]:9100, :9100), or off' });
      return z.NEVER;
    }
    return v.trim();
  }),
);

/** Environment booleans: the text as given; booleanSchema takes the same words as in YAML (true/false, yes/no, on/off, 1/0). */
const envBoolean = (raw: string): unknown => raw;

// ---------------------------------------------------------------------------------------------
// Settings other than rules.

function setting<K extends SettingKey>(spec: SettingSpec<SettingTypes[K]>): SettingSpec<SettingTypes[K]> {
  return spec;
}

export const SETTINGS: { readonly [K in SettingKey]: SettingSpec<SettingTypes[K]> } = {
  instance: setting<'instance'>({
    yamlPath: ['instance'],
    configPath: ['instance'],
    reload: 'restart',
    env: 'BANHAMMER_INSTANCE',
    description: 'Name of this agent; chain, set and file names are derived from it',
    allowed: `letters, digits, \`_ . -\`, starting with a letter or digit, at most ${INSTANCE_MAX_LENGTH}`,
    schema: z.string({ error: 'expected a name (string)' }).check(
      z.regex(INSTANCE_RE, { error: 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
      z.maxLength(INSTANCE_MAX_LENGTH, { error: `must be at most ${INSTANCE_MAX_LENGTH} characters (file names are derived from it)` }),
    ),
    fromEnv: trimmed,
    default: ({ hostname }) => hostname,
    defaultText: 'the container hostname',
  }),
  logPaths: setting<'logPaths'>({
    yamlPath: ['log', 'paths'],
    configPath: ['log', 'paths'],
    reload: 'restart',
    env: 'BANHAMMER_LOG_PATH',
    description: 'Access logs to follow (globs allowed)',
    allowed: 'comma-separated paths',
    schema: preprocess(
      asList,
      z.pipe(
        z
          .array(
            z.string({ error: 'expected a path (string)' }).check(
              z.superRefine((p, ctx) => {
                const why = logPathProblem(p);
                if (why !== null) ctx.addIssue({ code: 'custom', message: why, input: p });
              }),
            ),
            { error: 'expected a list of paths' },
          )
          .check(z.minLength(1, { error: 'list at least one log path' })),
        z.transform((xs: string[]): readonly string[] => dedupe(xs)),
      ),
    ),
    fromEnv: commaList,
    default: () => ['/var/log/apache2/access.log'],
    defaultText: '/var/log/apache2/access.log',
  }),
  logFormat: setting<'logFormat'>({
    yamlPath: ['log', 'format'],
    configPath: ['log', 'format'],
    reload: 'restart',
    env: 'BANHAMMER_LOG_FORMAT',
    description: 'Access-log format; `auto` detects it line by line',
    allowed: LOG_FORMATS.join(', '),
    schema: enumOf(LOG_FORMATS),
    fromEnv: trimmed,
    default: () => 'auto',
    defaultText: 'auto',
  }),
  ignoreip: setting<'ignoreip'>({
    yamlPath: ['ignoreip'],
    configPath: ['ignoreip'],
    reload: 'live',
    env: 'BANHAMMER_IGNOREIP',
    description: 'Addresses and networks that are never banned',
    allowed: 'comma/space-separated IPv4/IPv6 addresses and CIDRs',
    schema: cidrList,
    fromEnv: (raw) => raw,
    default: () => [],
    defaultText: '(none)',
  }),
  maxTracked: setting<'maxTracked'>({
    yamlPath: ['max_tracked'],
    configPath: ['maxTracked'],
    reload: 'live',
    env: 'BANHAMMER_MAX_TRACKED',
    description: 'Per rule, most addresses tracked in detection windows (memory bound)',
    allowed: 'integer 1–10000000',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(1, { error: 'must be ≥ 1' }), z.lte(10_000_000, { error: 'must be ≤ 10000000' })),
    fromEnv: intOrString,
    default: () => 100_000,
    defaultText: '100000',
  }),
  banHistory: setting<'banHistory'>({
    yamlPath: ['ban_history'],
    configPath: ['banHistory'],
    reload: 'live',
    env: 'BANHAMMER_BAN_HISTORY',
    description: 'Recent ended bans remembered with their log lines (`banhammer why`, kept in the state file); 0 keeps none',
    allowed: 'integer 0–100000',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(0, { error: 'must be ≥ 0' }), z.lte(100_000, { error: 'must be ≤ 100000' })),
    fromEnv: intOrString,
    default: () => 1000,
    defaultText: '1000',
  }),
  maxBans: setting<'maxBans'>({
    yamlPath: ['max_bans'],
    configPath: ['maxBans'],
    reload: 'live',
    env: 'BANHAMMER_MAX_BANS',
    description:
      'Most bans held at once (about 0.7 KB of memory each); from half of it taken by bans made here, a banned IPv6 address takes its network (BANHAMMER_IPV6_NETWORK_BAN_PREFIX) with it; bans adopted from the group hold at most half of it; at the cap a new ban waits for room (refused, logged and counted in banhammer_bans_refused_total), as a full firewall set does; in host mode one container holds at most a quarter of it, and when it is full a container under its share takes the room of the oldest ban of the container holding the most; `banhammer ban` is never refused',
    allowed: 'integer 1000–10000000',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(1000, { error: 'must be ≥ 1000' }), z.lte(10_000_000, { error: 'must be ≤ 10000000' })),
    fromEnv: intOrString,
    default: () => 500_000,
    defaultText: '500000',
  }),
  ipv6NetworkBanAfter: setting<'ipv6NetworkBanAfter'>({
    yamlPath: ['ipv6_network_ban', 'after'],
    configPath: ['ipv6NetworkBanAfter'],
    reload: 'live',
    env: 'BANHAMMER_IPV6_NETWORK_BAN_AFTER',
    description:
      'Once this many addresses of one IPv6 network (BANHAMMER_IPV6_NETWORK_BAN_PREFIX) are banned within BANHAMMER_IPV6_NETWORK_BAN_WITHIN, ban the network (an IPv6 client can take a new address of its /64 at will); 0 is off. Firewall enforcers only, host-wide bans only',
    allowed: 'integer 0–1000 (0: off; 1 bans the network at its first banned address)',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(0, { error: 'must be ≥ 0' }), z.lte(1000, { error: 'must be ≤ 1000' })),
    fromEnv: intOrString,
    default: () => 0,
    defaultText: '0',
  }),
  ipv6NetworkBanPrefix: setting<'ipv6NetworkBanPrefix'>({
    yamlPath: ['ipv6_network_ban', 'prefix'],
    configPath: ['ipv6NetworkBanPrefix'],
    reload: 'live',
    env: 'BANHAMMER_IPV6_NETWORK_BAN_PREFIX',
    description: 'The prefix length of the IPv6 network BANHAMMER_IPV6_NETWORK_BAN_AFTER counts and bans (64: a subscriber’s or server’s usual network)',
    allowed: 'integer 32–120',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(32, { error: 'must be ≥ 32' }), z.lte(120, { error: 'must be ≤ 120' })),
    fromEnv: intOrString,
    default: () => 64,
    defaultText: '64',
  }),
  ipv6NetworkBanWithin: setting<'ipv6NetworkBanWithin'>({
    yamlPath: ['ipv6_network_ban', 'within'],
    configPath: ['ipv6NetworkBanWithin'],
    reload: 'live',
    env: 'BANHAMMER_IPV6_NETWORK_BAN_WITHIN',
    description: 'The window in which BANHAMMER_IPV6_NETWORK_BAN_AFTER bans of one network’s addresses count together (the times the bans were made)',
    allowed: 'duration 1s–30d',
    schema: boundedDuration(1000, 30 * 86_400_000),
    fromEnv: trimmed,
    // Defaults go through the schema like any input (load.ts), so this one is written as a file would.
    default: () => '1h' as unknown as number,
    defaultText: '1h',
    toYaml: (v: number) => formatDuration(v),
  }),
  stateDir: setting<'stateDir'>({
    yamlPath: ['state_dir'],
    configPath: ['stateDir'],
    reload: 'restart',
    env: 'BANHAMMER_STATE_DIR',
    description: 'Directory for persisted bans',
    allowed: `absolute path, at most ${STATE_DIR_MAX_BYTES} bytes`,
    schema: absolutePath({ maxBytes: STATE_DIR_MAX_BYTES }),
    fromEnv: trimmed,
    default: () => '/var/lib/banhammer',
    defaultText: '/var/lib/banhammer',
  }),
  socketPath: setting<'socketPath'>({
    yamlPath: ['socket'],
    configPath: ['socketPath'],
    reload: 'restart',
    env: 'BANHAMMER_SOCKET',
    description: 'Control socket (status, ban, unban)',
    allowed: `absolute path of a file, at most ${SOCKET_PATH_MAX_BYTES} bytes (a Unix socket's limit)`,
    schema: absolutePath({ file: true, maxBytes: SOCKET_PATH_MAX_BYTES }),
    fromEnv: trimmed,
    default: () => '/run/banhammer/banhammer.sock',
    defaultText: '/run/banhammer/banhammer.sock',
  }),
  enforcer: setting<'enforcer'>({
    yamlPath: ['enforcer'],
    configPath: ['enforcer'],
    reload: 'restart',
    env: 'BANHAMMER_ENFORCER',
    description: 'How bans are enforced; `auto` picks iptables, nftables or docker-user from what the host runs (logged at start)',
    allowed: ENFORCERS.join(', '),
    schema: enumOf(ENFORCERS),
    fromEnv: trimmed,
    default: () => 'iptables',
    defaultText: 'iptables',
  }),
  ports: setting<'ports'>({
    yamlPath: ['ports'],
    configPath: ['ports'],
    reload: 'restart',
    env: 'BANHAMMER_PORTS',
    description: 'Ports closed to banned addresses, on TCP and UDP (HTTP/3) alike (iptables, nftables; in host mode every TCP and UDP port of the banned container is closed)',
    allowed: 'comma-separated ports 1–65535',
    schema: preprocess(
      asList,
      z.pipe(
        z.array(port, { error: 'expected a list of ports' }).check(z.minLength(1, { error: 'list at least one port' })),
        z.transform((xs: number[]): readonly number[] => dedupe(xs)),
      ),
    ),
    fromEnv: (raw) => wordList(raw).map(intOrString),
    default: () => [80, 443],
    defaultText: '80,443',
  }),
  iptablesMode: setting<'iptablesMode'>({
    yamlPath: ['iptables_mode'],
    configPath: ['iptablesMode'],
    reload: 'restart',
    env: 'BANHAMMER_IPTABLES_MODE',
    description: 'iptables backend; `auto` uses the one already holding rules',
    allowed: IPTABLES_MODES.join(', '),
    schema: enumOf(IPTABLES_MODES),
    fromEnv: trimmed,
    default: () => 'auto',
    defaultText: 'auto',
  }),
  blockAction: setting<'blockAction'>({
    yamlPath: ['block_action'],
    configPath: ['blockAction'],
    reload: 'restart',
    env: 'BANHAMMER_BLOCK_ACTION',
    description: 'What the firewall does with a banned address’s packets',
    allowed: BLOCK_ACTIONS.join(', '),
    schema: preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), enumOf(BLOCK_ACTIONS)),
    fromEnv: trimmed,
    default: () => 'DROP',
    defaultText: 'DROP',
  }),
  metricsAddr: setting<'metricsAddr'>({
    yamlPath: ['metrics_addr'],
    configPath: ['metricsAddr'],
    reload: 'restart',
    env: 'BANHAMMER_METRICS_ADDR',
    description: 'Prometheus /metrics listener',
    allowed: 'host:port, [v6]:port, :port, or off',
    schema: listenAddr,
    fromEnv: trimmed,
    default: () => null,
    defaultText: 'off',
  }),
  trustedProxies: setting<'trustedProxies'>({
    yamlPath: ['trusted_proxies'],
    configPath: ['trustedProxies'],
    // The image's Apache (mod_remoteip) reads it only when it starts: the agent keeps the running
    // value too, so the two agree on which address is the client.
    reload: 'restart',
    env: 'BANHAMMER_TRUSTED_PROXIES',
    description: 'Reverse proxies whose forwarded client address is believed',
    allowed: 'comma/space-separated IPv4/IPv6 addresses and CIDRs, not /0',
    schema: trustedCidrList,
    fromEnv: (raw) => raw,
    default: () => [],
    defaultText: '(none)',
  }),
  logLevel: setting<'logLevel'>({
    yamlPath: ['log_level'],
    configPath: ['logLevel'],
    reload: 'live',
    env: 'BANHAMMER_LOG_LEVEL',
    description: 'Agent log verbosity',
    allowed: LOG_LEVELS.join(', '),
    schema: enumOf(LOG_LEVELS),
    fromEnv: (raw) => raw.trim().toLowerCase(),
    default: () => 'info',
    defaultText: 'info',
  }),
  mapFile: setting<'mapFile'>({
    yamlPath: ['map_file'],
    configPath: ['mapFile'],
    reload: 'restart',
    env: 'BANHAMMER_MAP_FILE',
    description: 'apache-map/nginx-map: the ban list file (its directory must exist); nginx includes it, Apache reads the SDBM map the agent writes beside it in FILE.sdbm/',
    allowed: 'absolute path of a file; with apache-map only ASCII letters, digits and `. _ / @ + , = ~ : -`',
    schema: absolutePath({ file: true, lastNameMaxBytes: REPLACED_NAME_MAX_BYTES }),
    fromEnv: trimmed,
    default: () => '/run/banhammer/banned.map',
    defaultText: '/run/banhammer/banned.map',
  }),
  nginxReload: setting<'nginxReload'>({
    yamlPath: ['nginx_reload'],
    configPath: ['nginxReload'],
    reload: 'restart',
    env: 'BANHAMMER_NGINX_RELOAD',
    description: 'nginx-map: command run (without a shell) after the map changed, at most once a second',
    allowed: 'program and arguments, space-separated (YAML: a list)',
    schema: preprocess(
      (v) => (typeof v === 'string' ? wordList(v) : v),
      z.pipe(
        z
          .array(
            nonEmptyText('expected a program or argument (string)'),
            { error: 'expected a command as a list: [program, arg, …]' },
          )
          .check(z.minLength(1, { error: 'name at least the program' })),
        z.transform((xs: string[]): readonly string[] => xs),
      ),
    ),
    fromEnv: wordList,
    default: () => ['nginx', '-s', 'reload'],
    defaultText: 'nginx -s reload',
  }),
  remoteipHeader: setting<'remoteipHeader'>({
    yamlPath: ['remoteip_header'],
    configPath: ['remoteipHeader'],
    reload: 'restart',
    env: 'BANHAMMER_REMOTEIP_HEADER',
    description: 'Header in which trusted proxies name the client (Apache RemoteIPHeader, nginx real_ip_header)',
    allowed: `an HTTP header name: ${REMOTEIP_HEADER_ALLOWED}`,
    schema: z.string({ error: 'expected a header name' }).check(
      z.superRefine((h, ctx) => {
        const why = remoteipHeaderProblem(h);
        if (why !== null) ctx.addIssue({ code: 'custom', message: why, input: h });
      }),
    ),
    fromEnv: trimmed,
    default: () => 'X-Forwarded-For',
    defaultText: 'X-Forwarded-For',
  }),
  banScope: setting<'banScope'>({
    yamlPath: ['ban_scope'],
    configPath: ['banScope'],
    // Changes what a ban's key is (address alone, or address and container).
    reload: 'restart',
    env: 'BANHAMMER_BAN_SCOPE',
    description: 'Host mode (docker-user, or nftables reading Docker’s logs): a ban from one container’s log blocks traffic to that container only, or to every container of the host',
    allowed: BAN_SCOPES.join(', '),
    schema: preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), enumOf(BAN_SCOPES)),
    fromEnv: trimmed,
    default: () => 'container',
    defaultText: 'container',
  }),
  dockerContainersDir: setting<'dockerContainersDir'>({
    yamlPath: ['docker_containers_dir'],
    configPath: ['dockerContainersDir'],
    reload: 'restart',
    env: 'BANHAMMER_DOCKER_CONTAINERS_DIR',
    description: 'Host mode: Docker’s containers directory (mounted read-only), where each container’s config.v2.json names it and its addresses',
    allowed: 'absolute path',
    schema: z.union([z.null(), dirPath], { error: 'expected an absolute path' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: 'derived from BANHAMMER_LOG_PATH (e.g. /var/lib/docker/containers)',
  }),
  shareRedisUrl: setting<'shareRedisUrl'>({
    yamlPath: ['share', 'redis_url'],
    configPath: ['share', 'redisUrl'],
    reload: 'restart',
    env: 'BANHAMMER_REDIS_URL',
    description: 'Redis shared by the replicas of a group (with BANHAMMER_SHARE_GROUP): failures add up and bans propagate',
    allowed: 'redis://[user[:password]@]host[:port][/db] or rediss:// (TLS)',
    schema: z.union([z.null(), redisUrl], { error: 'expected a redis:// or rediss:// URL' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none: no sharing)',
    redact: maskUrlValue, // redis://:PASSWORD@host
  }),
  sharePasswordFile: setting<'sharePasswordFile'>({
    yamlPath: ['share', 'password_file'],
    configPath: ['share', 'passwordFile'],
    reload: 'restart',
    env: 'BANHAMMER_REDIS_PASSWORD_FILE',
    description: 'File holding the Redis password (Docker secrets; wins over a password in the URL)',
    allowed: 'absolute path',
    schema: z.union([z.null(), filePath], { error: 'expected an absolute path' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  shareGroup: setting<'shareGroup'>({
    yamlPath: ['share', 'group'],
    configPath: ['share', 'group'],
    reload: 'restart',
    env: 'BANHAMMER_SHARE_GROUP',
    description: 'Name shared by the replicas of one service; every Redis key and channel starts with banhammer:{GROUP}:',
    allowed: 'letters, digits, _ . - (1–64, starting with a letter or digit)',
    schema: z.union([z.null(), z.string().check(z.regex(SHARE_GROUP_RE, { error: 'expected letters, digits, _ . - (1–64, starting with a letter or digit)' }))], { error: 'expected a group name' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  shareKeyFile: setting<'shareKeyFile'>({
    yamlPath: ['share', 'key_file'],
    configPath: ['share', 'keyFile'],
    reload: 'restart',
    env: 'BANHAMMER_SHARE_KEY_FILE',
    description:
      'File holding the group’s signing key (at least 16 bytes; Docker secrets): every shared ban and unban is signed (HMAC-SHA256), and unsigned or badly signed ones are refused; give every replica of the group the same file',
    allowed: 'absolute path',
    schema: z.union([z.null(), filePath], { error: 'expected an absolute path' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none: unsigned)',
  }),
  shareMinPrefix4: setting<'shareMinPrefix4'>({
    yamlPath: ['share', 'min_prefix4'],
    configPath: ['share', 'minPrefix4'],
    reload: 'restart',
    env: 'BANHAMMER_SHARE_MIN_PREFIX4',
    description:
      'Widest IPv4 network (CIDR) ban adopted from the group: a wider one another replica (or anyone holding the group’s Redis password) sends is refused and logged; 32 adopts no IPv4 network',
    allowed: 'integer 8–32',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(8, { error: 'must be ≥ 8' }), z.lte(32, { error: 'must be ≤ 32' })),
    fromEnv: intOrString,
    default: () => 16,
    defaultText: '16',
  }),
  shareMinPrefix6: setting<'shareMinPrefix6'>({
    yamlPath: ['share', 'min_prefix6'],
    configPath: ['share', 'minPrefix6'],
    reload: 'restart',
    env: 'BANHAMMER_SHARE_MIN_PREFIX6',
    description: 'Widest IPv6 network (CIDR) ban adopted from the group, as BANHAMMER_SHARE_MIN_PREFIX4; 128 adopts no IPv6 network',
    allowed: 'integer 32–128',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(32, { error: 'must be ≥ 32' }), z.lte(128, { error: 'must be ≤ 128' })),
    fromEnv: intOrString,
    default: () => 48,
    defaultText: '48',
  }),
  shareMaxBans: setting<'shareMaxBans'>({
    yamlPath: ['share', 'max_bans'],
    configPath: ['share', 'maxBans'],
    reload: 'restart',
    env: 'BANHAMMER_SHARE_MAX_BANS',
    description:
      'Most shared bans the group holds and this agent adopts from it (a bound on what anyone on the group’s channel can make it ban); give every replica of a group the same',
    allowed: 'integer 1–1000000',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(1, { error: 'must be ≥ 1' }), z.lte(1_000_000, { error: 'must be ≤ 1000000' })),
    fromEnv: intOrString,
    default: () => 100_000,
    defaultText: '100000',
  }),
  rulesDir: setting<'rulesDir'>({
    yamlPath: ['rules_dir'],
    configPath: ['rulesDir'],
    reload: 'live',
    env: 'BANHAMMER_RULES_DIR',
    description: 'Directory of your own rule files, one rule per <name>.yaml in the presets’ format (README “Rules”); on unless a file says `enabled: false`',
    allowed: 'absolute path',
    schema: z.union([z.null(), dirPath], { error: 'expected an absolute path' }),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  ...NOTIFY_SETTINGS,
};

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

// ---------------------------------------------------------------------------------------------
// Rules.

/** A partial rule as one layer states it (durations already ms). */
export interface RulePatch {
  enabled?: boolean;
  description?: string;
  match?: Partial<RuleMatch>;
  maxretry?: number;
  findtime?: number;
  bantime?: number;
  increment?: BantimeIncrement | null;
  count?: CountMode;
}

/** Defaults of a user rule (a rule that is not a preset). */
export const USER_RULE_DEFAULTS: Omit<RuleSettings, 'match'> = {
  enabled: true,
  description: '',
  maxretry: 5,
  findtime: 10 * 60_000,
  bantime: 10 * 60_000,
  increment: null,
};

export const RULE_NAME_SCHEMA = z.string().check(
  z.superRefine((name, ctx) => {
    const why = ruleNameProblem(name);
    if (why !== null) ctx.addIssue({ code: 'custom', message: why, input: name });
  }),
);

export interface RuleEnvField {
  /** Field name in BANHAMMER_RULE_<NAME>_<FIELD>. */
  readonly env: string;
  /** Short variable configuring the default rule, if any. */
  readonly defaultRuleEnv: string | null;
  readonly description: string;
  readonly allowed: string;
  readonly schema: z.ZodMiniType<unknown>;
  readonly fromEnv: (raw: string) => unknown;
}

export const RULE_ENV_FIELDS = {
  maxretry: {
    env: 'MAXRETRY',
    defaultRuleEnv: 'BANHAMMER_MAXRETRY',
    description: 'matching requests within findtime that trigger a ban',
    allowed: `integer 1–${MAX_MAXRETRY}`,
    schema: maxretrySchema,
    fromEnv: intOrString,
  },
  findtime: {
    env: 'FINDTIME',
    defaultRuleEnv: 'BANHAMMER_FINDTIME',
    description: 'window in which maxretry requests are counted',
    allowed: 'duration: seconds, or 60s, 10m, 1h30m, 1d, 1w; at most 365d',
    schema: findtimeSchema,
    fromEnv: trimmed,
  },
  bantime: {
    env: 'BANTIME',
    defaultRuleEnv: 'BANHAMMER_BANTIME',
    description: 'how long a ban lasts',
    allowed: 'duration (at most 3650d, about 10 years), or -1/permanent',
    schema: bantimeSchema,
    fromEnv: trimmed,
  },
  enabled: {
    env: 'ENABLED',
    defaultRuleEnv: null,
    description: 'switch the rule on or off',
    allowed: 'true/false (yes/no, on/off, 1/0)',
    schema: booleanSchema,
    fromEnv: envBoolean,
  },
} as const satisfies Record<string, RuleEnvField>;
export type RuleEnvFieldName = keyof typeof RULE_ENV_FIELDS;

export const ENV_PREFIX = 'BANHAMMER_';
export const ENV_CONFIG = 'BANHAMMER_CONFIG';
export const ENV_RULES = 'BANHAMMER_RULES';
export const ENV_RULE_PREFIX = 'BANHAMMER_RULE_';

/** BANHAMMER_RULE_<NAME>_<FIELD>: rule name upper-cased with `-` → `_`. */
export function ruleEnvName(rule: string, field: RuleEnvFieldName): string {
  return `${ENV_RULE_PREFIX}${rule.toUpperCase().replace(/-/g, '_')}_${RULE_ENV_FIELDS[field].env}`;
}

/** The rule name a BANHAMMER_RULE_<NAME>_… variable refers to. */
export function ruleNameFromEnv(upper: string): string {
  return upper.toLowerCase().replace(/_/g, '-');
}

export { DEFAULT_RULE, PRESETS, isPreset };

// ---------------------------------------------------------------------------------------------
// The YAML file, built from the tables above.

function buildFileSchema() {
  const top: Record<string, z.ZodMiniType> = {};
  const nested: Record<string, Record<string, z.ZodMiniType>> = {};
  for (const key of SETTING_KEYS) {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    const [a, b] = spec.yamlPath as [string, string | undefined];
    if (b === undefined) top[a] = z.optional(spec.schema);
    else (nested[a] ??= {})[b] = z.optional(spec.schema);
  }
  for (const [k, shape] of Object.entries(nested)) top[k] = z.optional(strict(shape));
  // A rule that is neither a preset nor a file of rules_dir needs `match`: the loader says so, as only
  // it knows the rules directory.
  top.rules = z.optional(z.record(RULE_NAME_SCHEMA, RULE_FILE_SCHEMA, { error: 'expected a mapping of rule names to rules' }));
  return strict(top);
}

export const FILE_SCHEMA = buildFileSchema();

/** Reads a setting's value out of the validated file object by its YAML path. */
export function readYamlPath(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
