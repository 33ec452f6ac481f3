/**
 * The contract between parse and detect.
 *
 * A parser turns one raw log line into an AccessEvent, or into a SkipReason when the line is not a
 * well-formed access-log line. Parsers never throw on input: binary junk, truncated lines, huge lines
 * and hostnames in the address field are all skips, counted by the caller.
 *
 * Fields are read structurally: `ip` is the first field of the access line (after unwrapping Docker
 * json-file or syslog framing, and after the vhost field of vhost_combined) and is always a valid,
 * canonical address (IPv4-mapped IPv6 becomes IPv4, IPv6 is lower-case compressed). `status` is the
 * field right after the quoted request line. Nothing is ever taken from the referer or User-Agent.
 */
export interface AccessEvent {
  /** Canonical client address: dotted quad, or RFC 5952 IPv6. */
  readonly ip: string;
  readonly family: 4 | 6;
  /** Event time from the log line, ms since the epoch. */
  readonly time: number;
  /** Request method as written (GET, POST, …); '' when the request line was '-' or empty. */
  readonly method: string;
  /** Request target as written (path and query), '' when absent. */
  readonly path: string;
  readonly status: number;
  /** Virtual host (vhost_combined), or undefined. */
  readonly vhost?: string | undefined;
  /** Where the line came from: a container name/id (docker json-file, syslog tag) or undefined. */
  readonly origin?: string | undefined;
}

/** Access-log formats (the line inside any wrapper). */
export const ACCESS_FORMATS = ['apache-combined', 'apache-common', 'apache-vhost-combined', 'nginx-combined'] as const;
export type AccessFormat = (typeof ACCESS_FORMATS)[number];

/** Framing around the access line. */
export const WRAPPERS = ['none', 'docker-json', 'syslog'] as const;
export type Wrapper = (typeof WRAPPERS)[number];

/** What config may say: `auto` detects per line; otherwise a format, optionally with a wrapper. */
export const LOG_FORMATS = ['auto', ...ACCESS_FORMATS, 'docker-json', 'syslog'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const SKIP_REASONS = [
  'empty',
  'too-long',
  'binary',
  'bad-address',
  'bad-time',
  'bad-request',
  'bad-status',
  'truncated',
  'bad-wrapper',
  'unknown-format',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** A parse either yields an event or says why the line was skipped. */
export type ParseOutcome = AccessEvent | SkipReason;

export function isSkip(o: ParseOutcome): o is SkipReason {
  return typeof o === 'string';
}

/** Lines longer than this are skipped as 'too-long' without being scanned. */
export const MAX_LINE_LENGTH = 16 * 1024;
