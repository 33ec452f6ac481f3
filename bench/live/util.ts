/**
 * Pure helpers of the live benchmark: statistics, /proc parsers, ipset and fail2ban-client output
 * parsers, test addresses and log lines. Nothing here touches the system (unit-tested).
 */
import { isIP } from 'node:net';
import { clfTime } from '../generate-log.js';

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0..100); NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * utime+stime and cutime+cstime (clock ticks) from /proc/<pid>/stat. The command name (field 2) is
 * in parentheses and may contain spaces or parentheses, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): { self: number; children: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14 → rest[11].
  const f = (n: number): number => Number(rest[n - 3]);
  return { self: f(14) + f(15), children: f(16) + f(17) };
}

/** VmRSS and VmHWM in bytes from /proc/<pid>/status (NaN when absent). */
export function parseProcStatus(text: string): { rssBytes: number; hwmBytes: number } {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** rchar (bytes passed to read-like syscalls, files and pipes alike) from /proc/<pid>/io. */
export function parseProcIo(text: string): number {
  const m = /^rchar:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** "Number of entries: N" of `ipset list -t`; NaN when absent. */
export function parseIpsetEntries(text: string): number {
  const m = /^Number of entries: (\d+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Packets counted on the INPUT rule that jumps to `chain`, from `iptables -S INPUT -v` (`-c PKTS BYTES`); NaN when absent. */
export function jumpPackets(saveV: string, chain: string): number {
  for (const line of saveV.split('\n')) {
    if (!line.startsWith('-A INPUT ') || !line.endsWith(` -j ${chain}`)) continue;
    const m = / -c (\d+) \d+ /.exec(line);
    if (m) return Number(m[1]);
  }
  return Number.NaN;
}

/** Total failed / Total banned / Currently banned of `fail2ban-client status <jail>`. */
export function parseFail2banStatus(text: string): { totalFailed: number; totalBanned: number; currentlyBanned: number } {
  const n = (label: string): number => {
    const m = new RegExp(`${label}:\\s+(\\d+)`).exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  return { totalFailed: n('Total failed'), totalBanned: n('Total banned'), currentlyBanned: n('Currently banned') };
}

/** The n-th address of 198.18.0.0/15 (n < 2^17). */
export function v4At(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 1 << 17) throw new RangeError(`v4At(${n}) outside 198.18.0.0/15`);
  return `198.${18 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The n-th of many distinct addresses of 2001:db8::/32 (n < 2^31; every written group non-zero and
 * at most 0x8000: a group of 0x10000 — five hex digits — would not be an address, so 15 of the memory
 * phase's 1,000,000 lines used to be skipped as unparsable).
 */
export function v6At(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31) throw new RangeError(`v6At(${n}) outside 0 … 2^31 - 1`);
  return `2001:db8:aa:${(Math.floor(n / 0x8000) + 1).toString(16)}:${((n % 0x8000) + 1).toString(16)}::1`;
}

/** One Apache combined line answered 403, at wall time `ms`. */
export function forbiddenLine(ip: string, ms: number, path = '/admin/'): string {
  return `${ip} - - [${clfTime(ms)}] "GET ${path} HTTP/1.1" 403 199 "-" "curl/8.5.0"\n`;
}

const LINE_403 = /^(\S+) \S+ \S+ \[[^\]]*\] "(?:[^"\\]|\\.)*" 403(?= |$)/;

/**
 * Whether a combined log line is a 403 that fail2ban's bench filter counts as a failure: the status
 * after the quoted request, from a valid, non-loopback address (fail2ban ignores its own host).
 */
export function isCountable403(line: string): boolean {
  const m = LINE_403.exec(line);
  if (!m) return false;
  let host = m[1] as string;
  if (host.toLowerCase().startsWith('::ffff:') && isIP(host.slice(7)) === 4) host = host.slice(7);
  if (isIP(host) === 0) return false;
  return !(host.startsWith('127.') || host === '::1');
}

/** Parses ab's "Requests per second" and failure counts. */
export function parseAb(text: string): { requestsPerSecond: number; complete: number; failed: number } {
  const num = (re: RegExp): number => {
    const m = re.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  return {
    requestsPerSecond: num(/Requests per second:\s+([\d.]+)/),
    complete: num(/Complete requests:\s+(\d+)/),
    failed: num(/Failed requests:\s+(\d+)/),
  };
}
