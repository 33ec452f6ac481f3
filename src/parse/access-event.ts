/**
 * The contract between parse and detect.
 *
 * A parser turns one raw log line into an AccessEvent, or into a SkipReason when the line is not a
 * well-formed access-log line. Parsers never throw on input: binary junk, truncated lines and
 * hostnames in the address field are all skips, counted by the caller.
 *
 * Length never decides whether a line counts: the scanner reads only the head of a line (address,
 * time, request line, status; at most MAX_HEAD_LENGTH characters of the access line) and never looks
 * at what follows, so a line padded by a huge referer or User-Agent, or one whose tail was cut off by
 * the line splitter, counts like any other. Only a line whose head ends before its status is skipped
 * ('too-long' when the head is the full MAX_HEAD_LENGTH, else 'truncated').
 *
 * Fields are read structurally: `ip` is the client's field of the access line (after unwrapping
 * Docker json-file or syslog framing: the first field, or the second after a host field, or the
 * client an X-Forwarded-For list names past trusted proxies, see apache.ts) and is always a valid,
 * canonical client address (IPv4-mapped IPv6, and only that, becomes IPv4; IPv6 is lower-case
 * compressed; an address that can never be a client, see ip.ts nonClientReason, is the skip
 * 'not-client'). `status` is the
 * field right after the quoted request line. Nothing that decides which address a line counts for, or
 * whether it counts, is taken from the referer or User-Agent: they are read after the status, only as
 * far as the head goes, as fields for rules to match (a client can only describe itself there).
 */
export interface AccessEvent {
  /** Canonical client address: dotted quad, or RFC 5952 IPv6 (a link-local one without the zone APR writes, see apache.ts zonedAt). */
  readonly ip: string;
  readonly family: 4 | 6;
  /** Event time from the log line, ms since the epoch. */
  readonly time: number;
  /** Request method as written (GET, POST, …); '' when the request line was '-' or empty. */
  readonly method: string;
  /** Request target as written (path and query), '' when absent. */
  readonly path: string;
  readonly status: number;
  /** Virtual host (vhost_combined's host without the port, the host layout's first field), or undefined. */
  readonly vhost?: string | undefined;
  /** Where the line came from: a container name/id (docker json-file, syslog tag) or undefined. */
  readonly origin?: string | undefined;
  /**
   * The request line as written between its quotes (escapes kept as the server wrote them: Apache's
   * `\x16\x03…` for TLS bytes on the HTTP port, `-` when the server wrote that), '' when empty. Set
   * for every layout.
   */
  readonly request?: string | undefined;
  /**
   * A Docker line split over records (over 16 KiB) is decided by the record where its status is:
   * that record alone holds neither the address nor the request. Set on such an event: the access
   * line as joined from its records so far (its head, up to MAX_HEAD_LENGTH), which evidence keeps
   * instead of the deciding record (`banhammer why`, notifications). Undefined for a line read whole.
   */
  readonly joined?: string | undefined;
  /**
   * The Referer field of a combined layout, as written; undefined when it is `-`, when the layout has
   * none (common), or when the line ends (or its head is cut) before the field does.
   */
  readonly referer?: string | undefined;
  /** The User-Agent field of a combined layout, as written; undefined as for `referer`. */
  readonly userAgent?: string | undefined;
  /**
   * True when `ip` was read from an X-Forwarded-For field past a trusted proxy (nginx main's trailing
   * `"$http_x_forwarded_for"` of a trusted peer, or a first-field list whose client stands left of a
   * trusted proxy's entry): the server's own peer for this request (`$remote_addr`, REMOTE_ADDR, the
   * packets' source) was that proxy, not `ip`. A server that resolves the client itself (nginx
   * real_ip, Apache mod_remoteip) logs the client as the peer, and its lines are not forwarded.
   * Undefined or false otherwise. The live agent warns when an enforcer cannot hold such a client
   * (daemon.ts, "forwarded clients").
   */
  readonly forwarded?: boolean | undefined;
  /**
   * Optional, for speed: false only when neither `referer` nor `userAgent` can hold any of `chars`,
   * nor be longer than `longerThan` characters (when given), found without reading them.
   */
  headersMayHold?(chars: readonly string[], longerThan?: number): boolean;
}

/** Access-log formats (the line inside any wrapper). */
export const ACCESS_FORMATS = [
  'apache-combined',
  'apache-common',
  'apache-vhost-combined',
  'apache-host-combined',
  'nginx-combined',
  'nginx-main',
  'nginx-host-combined',
] as const;
export type AccessFormat = (typeof ACCESS_FORMATS)[number];

/** Framing around the access line. */
export const WRAPPERS = ['none', 'docker-json', 'syslog'] as const;
export type Wrapper = (typeof WRAPPERS)[number];

/** What config may say: `auto` detects per line; otherwise a format, optionally with a wrapper. */
export const LOG_FORMATS = ['auto', ...ACCESS_FORMATS, 'docker-json', 'syslog'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Why a line was skipped. Every line is either an event or exactly one of these, and the caller counts
 * them (banhammer_parse_skipped_total{reason}):
 * - 'too-long': the first MAX_HEAD_LENGTH characters of the access line end before its status, i.e.
 *   the request line (or the user or vhost field) alone is longer than any server writes one. A long
 *   line whose status is inside its head is an event, whatever follows.
 * - 'not-client': a well-formed access line whose client address can never be the source of a TCP
 *   connection (unspecified, multicast, broadcast: ip.ts nonClientReason). Counting it would let a log
 *   line ban `0.0.0.0`, which the kernel refuses.
 * - 'truncated': the line ends (before MAX_HEAD_LENGTH) before its status.
 * - 'bad-forwarded': an X-Forwarded-For list that decides the client cannot be read safely: an entry
 *   the walk from the right reaches is not an address, more than MAX_HOPS (apache.ts) trusted proxies
 *   in a row, or a line whose first field may be the client's own X-Forwarded-For text (apache.ts,
 *   "X-Forwarded-For"). It counts for no one rather than for an address someone else wrote.
 * - 'partial': a Docker json-file record that is one piece of a line Docker split over several
 *   records (lines over 16 KiB); the line itself counts once, from the record where its outcome
 *   became known (see line-parser.ts).
 * The others say which field is malformed; 'binary' wins when the line holds control characters.
 */
export const SKIP_REASONS = [
  'empty',
  'too-long',
  'binary',
  'bad-address',
  'not-client',
  'bad-time',
  'bad-request',
  'bad-status',
  'truncated',
  'bad-wrapper',
  'unknown-format',
  'partial',
  'bad-forwarded',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** A parse either yields an event or says why the line was skipped. */
export type ParseOutcome = AccessEvent | SkipReason;

export function isSkip(o: ParseOutcome): o is SkipReason {
  return typeof o === 'string';
}

/**
 * How much of an access line (inside any wrapper) the scanner reads: 128 Ki characters. Nothing a
 * server accepts can push the status further out. Apache's worst case is vhost_combined with
 * everything the client controls at its limit and escaped at the worst ratio (a byte ≥ 0x80 or a
 * control byte is written as `\xhh`, 4 characters): the Host header as %v (≤ LimitRequestFieldSize,
 * 8,190), a Basic-auth user as %u (≤ ~6,100 bytes once decoded from an 8,190-byte header, ≤ 24.4 Ki
 * escaped), the request line as %r (≤ LimitRequestLine, 8,190 bytes, ≤ 32 Ki escaped), plus the
 * address, time and separators: about 65.5 Ki characters. 128 Ki leaves room for limits raised by
 * configuration (LimitRequestLine 16 KiB still fits). nginx's defaults (large_client_header_buffers
 * 4 × 8k) are smaller. The line splitter keeps twice this in bytes of a longer line (a JSON wrapper
 * at most doubles Apache's printable ASCII), so its cut always falls outside what is read here.
 */
export const MAX_HEAD_LENGTH = 128 * 1024;
