/**
 * The control protocol between `banhammer status|ban|unban|reload` and the running daemon.
 *
 * Transport: a unix stream socket; each message is one JSON object on one line ('\n'-terminated).
 * A client sends a request and reads exactly one response per request, in order. Every message
 * carries `v` (PROTOCOL_VERSION); a request without `v` is read as the current version, a request
 * with another version is answered with an error, so an old CLI talking to a new daemon (or the
 * reverse) fails with a clear message instead of a misread field.
 *
 * Requests are validated strictly by parseRequest(): unknown ops, unknown keys, wrong types, bad
 * addresses and oversize lines all become error responses; nothing a client sends can throw past
 * the server. Addresses are canonicalised here (parse/ip.ts), so handlers receive canonical IPs.
 * `ban` and `unban` also take a network (`198.18.0.0/24`, a CIDR ban): canonicalised the same way
 * (canonicalTarget: host bits cleared, so 198.18.0.7/24 arrives as 198.18.0.0/24; a /32 or /128 is
 * the address); whether it may be banned (width, loopback, allowlist) is the ban book's decision.
 * `why` takes an address or a network, canonicalised the same way (IPv4-mapped IPv6 is IPv4).
 */
import { constants as bufferConstants } from 'node:buffer';
import type { ErrorCode } from '../errors.js';
import type { BanEndReason } from '../decide/ban-book.js';
import { canonicalTarget } from '../parse/ip.js';
import { MAX_DURATION_MS } from '../config/duration.js';

export const PROTOCOL_VERSION = 1;

/** Longest accepted request line, in bytes (the newline excluded). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** A connection that sends nothing for this long is closed by the server. */
export const IDLE_TIMEOUT_MS = 30_000;
/**
 * Longest accepted response line (a status report lists every banned address, twice: bannedIps and
 * bans). It was 64 MiB, below the status of the default cap (BANHAMMER_MAX_BANS, 500,000 bans: 67 MiB
 * of IPv4 addresses, 84 MiB of IPv6 ones, more with containers or the group's ids), so `banhammer
 * status` failed exactly when the book was full (review H51). 512 MiB holds that with room; it stays
 * within the longest string the CLI can make of it (V8's MAX_STRING_LENGTH, just under 512 MiB on
 * 64-bit), which a larger answer could not become anyway. (A status of millions of bans, with a cap
 * raised that far, is larger: the CLI says so, and `status --json --brief` gives the counts.)
 */
export const MAX_RESPONSE_BYTES = Math.min(512 * 1024 * 1024, bufferConstants.MAX_STRING_LENGTH);

/** Rule names as config allows them, bounded; anything else is rejected before reaching a handler. */
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Docker container names (optionally with Docker's leading slash) and ids. */
const CONTAINER_RE = /^\/?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export type ControlRequest =
  /**
   * `brief`: the report without the ban lists (every rule's `bannedIps` empty, no `bans`; counts and
   * health as always; the report says `brief: true`): what the image's HEALTHCHECK asks every 30 s,
   * where the whole list is ~17 MB at 100,000 bans. Sent only when true: an older daemon refuses the
   * field ("unknown field"), and the client then asks again without it.
   */
  | { readonly op: 'status'; readonly rule?: string; readonly brief?: true }
  /**
   * forMs null: no duration given; the daemon decides (the rule's bantime, or permanent for a manual
   * ban), unless `permanent` is true (`--for permanent`): then the ban never expires, whatever the
   * rule's bantime. `permanent` is sent only when it changes something (with a rule), so an older
   * daemon still takes every other ban request.
   */
  | { readonly op: 'ban'; readonly ip: string; readonly rule?: string; readonly forMs: number | null; readonly permanent?: true; readonly container?: string }
  /** container (host mode): lift only the ban for that container; without it, every ban of the address (or network). */
  | { readonly op: 'unban'; readonly ip: string; readonly container?: string }
  | { readonly op: 'unban-all' }
  | { readonly op: 'reload' }
  /** Everything the agent knows about why an address (or network) is or was banned. */
  | { readonly op: 'why'; readonly ip: string };

export type ControlOp = ControlRequest['op'];

export interface StatusReport {
  /** The instance name (derives chain, set and file names). */
  instance: string;
  /** Enforcer name: iptables, apache-map, … */
  enforcer: string;
  /** When the daemon started, ISO 8601. */
  since: string;
  /** Every configured path or glob the agent follows: its files, or the entry itself while it has none. */
  files: FileStatus[];
  rules: RuleStatus[];
  /** Is the agent able to do its job? Absent from daemons older than this field. */
  health?: AgentHealth;
  /** Asked with `brief`: the ban lists are left out (bannedIps empty, no bans). Absent otherwise. */
  brief?: true;
}

export interface FileStatus {
  /** The file read; for a configured path or glob with no file yet, the path or glob as configured. */
  path: string;
  /** Bytes written to this file but not read yet (0 while it does not exist). */
  lagBytes: number;
  /**
   * false: the configured path does not exist yet (or the glob matches nothing) and the agent waits
   * for it. Absent from daemons older than this field, and where the source does not say.
   */
  exists?: boolean;
}

export interface AgentHealth {
  /** null while state saves succeed; otherwise the last error, one line. */
  stateError: string | null;
  /**
   * The saved state was not restored at start: its file was set aside (corrupt, another version, or
   * writable by someone else: the text says which). Absent when it was restored, or from older daemons.
   */
  stateRefused?: string;
  /** Batches the enforcer rejected as a whole since the last one it applied (retried every second). */
  enforceFailing: number;
  /** Elements the kernel refused (left out of their batch), since start. */
  refused: number;
  /** Firewall state re-created or corrected by the periodic check, since start. */
  repairs: number;
  /**
   * Periodic firewall checks (every 2 s) that failed in a row: the enforcer can neither read nor
   * re-create its chain, set or table, so bans may not hold. Absent from older daemons.
   */
  checkFailing?: number;
  /** Lines stamped in the future (more than the tolerance ahead of the agent's clock), since start. */
  skewedLines: number;
  /** Lines stamped too long ago for any rule's findtime (not counted), since start. Absent from older daemons. */
  staleLines?: number;
  /**
   * While every line read for a minute or more has been too old for any rule to count (the log
   * writer's clock behind, or a long backlog): that run of lines, the newest time stamped on one of
   * them and how far behind the agent's clock it is. Absent otherwise.
   */
  logBehind?: { lines: number; newestLine: string; behindSeconds: number };
  /** With shared bans (BANHAMMER_SHARE_GROUP): is Redis reachable right now? Absent without sharing. */
  shareConnected?: boolean;
  /**
   * Addresses (`ip` or `ip container-id`) lifted from the ban book whose removal the firewall has not
   * applied yet (its batches are rejected): it still drops them. Absent from older daemons.
   */
  unbansPending?: string[];
  /**
   * Clients were read from X-Forwarded-For past a trusted proxy, on lines whose server saw the proxy
   * as the peer (no realip / mod_remoteip for it): `lines` such events since start, and `note`, what
   * this enforcer makes of them and what to configure (src/pipeline/forwarded-clients.ts). With a map
   * enforcer their bans are listed but never match. Absent when there were none, under the `log`
   * enforcer, and from older daemons.
   */
  forwardedClients?: { lines: number; note: string };
}

/** What `ban` answers: the ban as recorded (times in ms since the epoch; until null = permanent). */
export interface BanReply {
  /** The address, or the network `addr/prefix` of a CIDR ban, canonical. */
  ip: string;
  family: 4 | 6;
  rule: string;
  at: number;
  until: number | null;
  nth: number;
  container: string | null;
  /** Whether the firewall holds it now (FirewallState); absent from older daemons. */
  firewall?: FirewallState;
  /**
   * Until when the firewall holds the address (or network) in that scope: the latest expiry over all
   * its bans, which a longer ban by a rule outlives a shorter manual one (null = permanently). Absent
   * from older daemons.
   */
  heldUntil?: number | null;
}

/**
 * Whether the firewall holds a ban the book has: `held`; `retrying`: the last batch was rejected as a
 * whole (tool missing, lock held) and is sent again every second; `refused`: the kernel refused this
 * element (the others were applied). Status, `why` and the `ban` answer say it, so that none of them
 * shows a ban the kernel does not hold as if it did.
 */
export type FirewallState = 'held' | 'retrying' | 'refused';

export interface RuleStatus {
  name: string;
  enabled: boolean;
  currentlyFailed: number;
  totalFailed: number;
  /**
   * Addresses this rule stopped tracking because it tracked max_tracked of them already (the least
   * recently failing first): their failures so far were forgotten. Present only when non-zero;
   * absent from older daemons.
   */
  evicted?: number;
  currentlyBanned: number;
  totalBanned: number;
  /** One entry per ban (an address banned for two containers appears twice). */
  bannedIps: string[];
  /** Of the bans in force, how many carry the log lines that caused them (`banhammer why`). Absent from older daemons. */
  withEvidence?: number;
  /**
   * The same bans with their scope: container name and id for a ban that applies to one container
   * (host mode), null for a host-wide ban. Absent from daemons older than host mode.
   */
  bans?: BanStatus[];
}

export interface BanStatus {
  ip: string;
  container: string | null;
  containerId: string | null;
  /** Expiry, ISO 8601, or null for permanent. */
  until: string | null;
  /** A ban another replica of the group made (its id); null = made here. Absent from older daemons. */
  from?: string | null;
  /** Whether the firewall holds it now; absent from older daemons. */
  firewall?: FirewallState;
}

/**
 * What `why` answers (`banhammer why ADDRESS --json` prints it as is; a stable schema: fields are
 * only ever added). Times are ISO 8601 (null for a time outside Date's range).
 */
export interface WhyReport {
  /** The address or network asked about, canonical (IPv4-mapped IPv6 is IPv4; a network's host bits cleared). */
  ip: string;
  instance: string;
  /** When the agent answered. */
  now: string | null;
  /** Loopback, ignoreip, a trusted proxy or this host: never banned (addresses only; false for a network). */
  allowlisted: boolean;
  /** Bans in force, newest first, with the network bans that cover it (for a network, the wider ones holding it). */
  active: WhyBan[];
  /** Failures counted that have not made a ban (yet), per rule and container, with their lines. */
  failing: WhyFailing[];
  /** Recent ended bans, newest first. */
  ended: WhyBan[];
  /** How many ended bans the agent remembers in all (BANHAMMER_BAN_HISTORY). */
  /**
   * No ban of it is left here, but the firewall has not applied the unban yet (its batches are
   * rejected; retried every second): it still drops the address. Absent when false and from older daemons.
   */
  unbanPending?: boolean;
  historySize: number;
  /**
   * With shared bans: the group's bans of the address (or network) that are not in force here (this
   * agent refused them: allowlisted, a network its enforcer cannot hold…; or ended them earlier), as
   * this replica heard of them. The other replicas enforce them; `banhammer unban` here lifts them.
   * Absent without sharing, and from older daemons.
   */
  group?: WhyGroupBan[];
}

/** A ban of the group not in force here (WhyReport.group). */
export interface WhyGroupBan {
  ip: string;
  rule: string;
  /** The replica that made it. */
  from: string;
  at: string | null;
  /** null: permanent. */
  until: string | null;
  /** The container id it applies to (host mode), else null. */
  containerId: string | null;
}

/** How a ban came about: from this agent's log, the group's count, `banhammer ban`, or another replica's ban. */
export type WhySource = 'detected' | 'group-count' | 'manual' | 'group';

export interface WhyBan {
  /** The banned address, or network (a CIDR ban). */
  ip: string;
  rule: string;
  /** fail2ban's jail: the rule, with `@container` for a ban that applies to one container (host mode). */
  jail: string;
  source: WhySource;
  /** The replica that made it (source `group`), else null. */
  from: string | null;
  at: string | null;
  /** null: permanent (or, for an ended ban, was permanent). */
  until: string | null;
  failures: number;
  /** 1 for a first ban, 2 for the next, … */
  nth: number;
  container: string | null;
  containerId: string | null;
  /** Where the lines came from as the log says (Docker container name, syslog tag), or null. */
  origin: string | null;
  /** The log lines that caused it, oldest first. */
  evidence: WhyLine[];
  /** Failures counted whose lines are not shown (caps, memory budget, other replicas' lines). */
  evidenceOmitted: number;
  /** null while in force. */
  ended: { reason: BanEndReason; at: string | null; by: string | null } | null;
  /** A ban in force: whether the firewall holds it now. Absent for ended bans and from older daemons. */
  firewall?: FirewallState;
}

export interface WhyLine {
  at: string | null;
  file: string | null;
  line: string;
}

export interface WhyFailing {
  rule: string;
  container: string | null;
  containerId: string | null;
  /** Lines kept (the newest failures of the rule's window). */
  lines: WhyLine[];
}

/** What each op answers with. `ban` returns whatever the handler reports (typically the Ban). */
export interface ControlResults {
  status: StatusReport;
  ban: BanReply;
  unban: number;
  'unban-all': number;
  reload: null;
  why: WhyReport;
}

export type ResultOf<R extends ControlRequest> = ControlResults[R['op']];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  hint: string | null;
}

export type ControlResponse =
  | { v: typeof PROTOCOL_VERSION; ok: true; result: unknown }
  | { v: typeof PROTOCOL_VERSION; ok: false; error: ErrorBody };

export type ParsedRequest = { ok: true; request: ControlRequest } | { ok: false; error: ErrorBody };

const OPS: Readonly<Record<ControlOp, readonly string[]>> = {
  status: ['rule', 'brief'],
  ban: ['ip', 'rule', 'forMs', 'permanent', 'container'],
  unban: ['ip', 'container'],
  'unban-all': [],
  reload: [],
  why: ['ip'],
};

const USAGE_HINT = 'use the banhammer CLI of the same version as the daemon';

function fail(message: string, code: ErrorCode = 'BH_ERR_CONTROL', hint: string | null = USAGE_HINT): ParsedRequest {
  return { ok: false, error: { code, message, hint } };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A client's value quoted in an error message: short, and never throwing. JSON.stringify of a value
 * nested 30,000 deep (60 KB of `[`) overflows the stack, and so does String() of such an array; a
 * request that made validation throw stopped the agent.
 */
function shown(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** Parses and validates one request line (without its newline). Never throws. */
export function parseRequest(line: string): ParsedRequest {
  if (Buffer.byteLength(line, 'utf8') > MAX_REQUEST_BYTES) {
    return fail(`request larger than ${MAX_REQUEST_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return fail('request is not valid JSON');
  }
  try {
    return validateRequest(raw);
  } catch {
    // validateRequest never throws either; this keeps the promise whatever a future check does.
    return fail('request could not be read');
  }
}

/** Validates an already-decoded request object. Never throws. */
export function validateRequest(raw: unknown): ParsedRequest {
  if (!isPlainObject(raw)) return fail('request must be a JSON object');
  const v = raw.v ?? PROTOCOL_VERSION;
  if (v !== PROTOCOL_VERSION) {
    return fail(`unsupported protocol version ${shown(v)} (this daemon speaks ${PROTOCOL_VERSION})`);
  }
  const op = raw.op;
  if (typeof op !== 'string' || !Object.hasOwn(OPS, op)) {
    return fail(`unknown op ${shown(op)} (expected one of ${Object.keys(OPS).join(', ')})`);
  }
  const allowed = OPS[op as ControlOp];
  for (const k of Object.keys(raw)) {
    if (k !== 'v' && k !== 'op' && !allowed.includes(k)) return fail(`unknown field ${shown(k)} for op ${op}`);
  }

  let rule: string | undefined;
  if (raw.rule !== undefined) {
    if (typeof raw.rule !== 'string' || !RULE_NAME_RE.test(raw.rule)) {
      return fail(`rule must be a rule name (letters, digits, _ . -; at most 64), got ${shown(raw.rule)}`, 'BH_ERR_USAGE', 'banhammer status lists the rules');
    }
    rule = raw.rule;
  }

  let container: string | undefined;
  if (raw.container !== undefined) {
    if (typeof raw.container !== 'string' || !CONTAINER_RE.test(raw.container)) {
      return fail(`container must be a container name or id (letters, digits, _ . -; at most 128), got ${shown(raw.container)}`, 'BH_ERR_USAGE', 'give the name shown by docker ps, or its id');
    }
    container = raw.container.replace(/^\//, '');
  }

  let ip: string | undefined;
  if (allowed.includes('ip')) {
    if (typeof raw.ip !== 'string') return fail(`op ${op} needs "ip" (a string)`);
    const c = canonicalTarget(raw.ip);
    if (c === null) {
      return fail(`not an IP address or network: ${JSON.stringify(raw.ip.slice(0, 100))}`, 'BH_ERR_ADDRESS', 'give one IPv4 or IPv6 address, e.g. 198.18.0.7 or 2001:db8::7, or a network, e.g. 198.18.0.0/24');
    }
    ip = c.ip;
  }

  switch (op as ControlOp) {
    case 'status': {
      const brief = raw.brief;
      if (brief !== undefined && brief !== true && brief !== false) return fail(`"brief" must be true or false, got ${shown(brief)}`);
      return { ok: true, request: { op: 'status', ...(rule !== undefined ? { rule } : {}), ...(brief === true ? { brief: true as const } : {}) } };
    }
    case 'ban': {
      const forMs = raw.forMs;
      if (forMs !== null && !(typeof forMs === 'number' && Number.isSafeInteger(forMs) && forMs > 0 && forMs <= MAX_DURATION_MS)) {
        return fail(`"forMs" must be a whole number of milliseconds from 1 to ${MAX_DURATION_MS} (3650 days), or null, got ${shown(forMs)}`, 'BH_ERR_USAGE', 'e.g. banhammer ban 198.18.0.7 --for 30d');
      }
      const permanent = raw.permanent;
      if (permanent !== undefined && permanent !== false && !(permanent === true && forMs === null)) {
        return fail(`"permanent" must be true (with "forMs" null) or false, got ${shown(permanent)}`, 'BH_ERR_USAGE', 'e.g. banhammer ban 198.18.0.7 --rule forbidden --for permanent');
      }
      return {
        ok: true,
        request: { op: 'ban', ip: ip!, ...(rule !== undefined ? { rule } : {}), forMs, ...(permanent === true ? { permanent: true as const } : {}), ...(container !== undefined ? { container } : {}) },
      };
    }
    case 'unban':
      return { ok: true, request: container === undefined ? { op: 'unban', ip: ip! } : { op: 'unban', ip: ip!, container } };
    case 'unban-all':
      return { ok: true, request: { op: 'unban-all' } };
    case 'reload':
      return { ok: true, request: { op: 'reload' } };
    case 'why':
      return { ok: true, request: { op: 'why', ip: ip! } };
  }
}

/** One response line, newline included. */
export function encodeResponse(r: ControlResponse): string {
  return `${JSON.stringify(r)}\n`;
}

/** One request line, newline included. */
export function encodeRequest(r: ControlRequest): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, ...r })}\n`;
}

const ERROR_CODE_RE = /^BH_ERR_[A-Z0-9_]{1,64}$/;

/** Validates a response line from the daemon; null when it is not a well-formed response. */
export function parseResponse(line: string): ControlResponse | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isPlainObject(raw) || raw.v !== PROTOCOL_VERSION) return null;
  if (raw.ok === true && Object.hasOwn(raw, 'result')) return { v: PROTOCOL_VERSION, ok: true, result: raw.result };
  if (raw.ok === false && isPlainObject(raw.error)) {
    const { code, message, hint } = raw.error;
    if (typeof code !== 'string' || !ERROR_CODE_RE.test(code) || typeof message !== 'string') return null;
    if (hint !== null && hint !== undefined && typeof hint !== 'string') return null;
    // A newer daemon may send a code this CLI does not know; it is still shown verbatim.
    return { v: PROTOCOL_VERSION, ok: false, error: { code: code as ErrorCode, message, hint: hint ?? null } };
  }
  return null;
}
