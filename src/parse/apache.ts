/**
 * The structural scanner for CLF-shaped access lines: Apache `combined`, `common`, `vhost_combined`
 * and the host layout, and nginx `combined`, `main` and the host layout (see nginx.ts).
 *
 *   combined        %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"
 *   common          %h %l %u %t "%r" %>s %b
 *   vhost_combined  %v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"
 *   host layout     %v %h %l %u %t "%r" %>s %b …     ($host $remote_addr - $remote_user [$time_local] …)
 *   nginx main      combined + ` "$http_x_forwarded_for"`
 *   XFF first       %{X-Forwarded-For}i %l %u %t …  ($proxy_add_x_forwarded_for - $remote_user …)
 *
 * Layouts (`auto` tells them apart per line; a fixed layout reads only its own):
 * - The first field is a dotted quad or IPv6 address and the second is `-`: the client is the first
 *   field (combined, common, nginx main).
 * - `host:port address`: vhost_combined; the client is the second field.
 * - `host address`, without a port: the host layout; the client is the second field, and so it is
 *   when the first field is an address too (`198.18.0.9 198.18.0.7 - - […]`). Who writes the first
 *   field decides this: nginx's $host is the client's own Host header (or the request line's host),
 *   so any client can put an address there; Apache's %v is the configured ServerName (%V follows the
 *   Host header under UseCanonicalName Off), and in a container without a ServerName it is the
 *   container's own address. Reading the first field would let a client blame whomever it names in
 *   its Host header; the second field (%h, $remote_addr) is the TCP peer, which no client chooses.
 *   The only ordinary layout with something other than `-` in the second field is Apache's %l with
 *   IdentityCheck On (the client's identd answers it): such a log must name its format
 *   (`apache-combined`), which reads the first field whatever the second holds.
 * - A first field with a comma in it: an X-Forwarded-For list (below), read by `auto` only (a fixed
 *   ordinary format says its first field is %h or $remote_addr: a list there is 'bad-address').
 *
 * X-Forwarded-For: each proxy appends the address it received the request from, so of a list only
 * the entries right of one written by a trusted proxy (`trusted_proxies`) are believed; the rest is
 * whatever the client sent. The client is found by walking the list from the right past trusted
 * proxies: the first entry that is not one is the client (walkList).
 * - A list as the first field: nginx's $proxy_add_x_forwarded_for ends with the peer
 *   ($remote_addr), so the walk starts at the peer; Apache's %{X-Forwarded-For}i ends with what the
 *   nearest proxy appended (then every request must come through a proxy, or its client writes the
 *   whole field; prefer %a with mod_remoteip). Without trusted proxies the right-most entry is the
 *   client.
 * - nginx main's trailing `"$http_x_forwarded_for"` is read only when the peer (the address field)
 *   is a trusted proxy; from any other peer it is ignored, since anyone can send the header. The walk
 *   starts at its right-most entry. `-` or no such field: the peer itself (never banned: trusted
 *   proxies are allowlisted). A tail cut before the field is known is 'truncated'/'too-long'.
 * Entries are addresses, `a.b.c.d:port`, `[v6]` or `[v6]:port`, validated and canonicalised like
 * any address. An entry the walk reaches that is not one (`unknown`, junk, empty), or more than
 * MAX_HOPS trusted entries in a row, is the skip 'bad-forwarded': never a crash, and never another
 * address. Entries left of the client are never read, so a client padding or garbling its own part
 * of the header changes nothing.
 * A first-field list ends at the first space that does not follow a comma, but the client's own part
 * of the header may contain spaces (`198.18.0.9 - x, 198.18.0.7, …`): then the line's start looks
 * like a plain line blaming 198.18.0.9. What follows the real list is ` - %u [time]`, so a line with
 * more than the three spaces of ` %l %u ` between its client field and the time, and a comma or an
 * address there, is 'bad-forwarded' (forgedPrefix); the same holds for a Host header with spaces in
 * the host layout, should a server let one through. In `auto`, a line that starts like an ordinary one
 * (an address, then ` - `) cannot be told from one whose user name (%u, $remote_user: nginx fills it
 * from any Basic Authorization header) holds such words, and refusing it would let a client have its
 * own lines skipped: there it is refused only when a trusted proxy's address is among the words
 * (trustedWordIn), as in any list that came through the proxy. A fixed ordinary format (apache-combined,
 * nginx-combined, nginx-main, apache-common) reads its first field as declared and has no such gap.

 * Why it is injection-proof: Apache writes `"` and `\` inside %r, %u and %{…}i as `\"` and `\\` (and
 * control bytes as \xhh), so an unescaped `"` only ever delimits a field. The scanner therefore reads,
 * left to right and never from the end: the address (first field, or second after a host), the
 * first unescaped `"` (the request line opens), the `[…]` right before it (the time), the next
 * unescaped `"` (the request line closes) and the three digits right after it (the status). That is
 * all that decides whether a line counts and for whom: bytes, referer and User-Agent are read only
 * afterwards, left to right from the status and only when asked for (readTail), as fields for rules
 * to match, so a forged log line inside them changes nothing, and "403" anywhere in the path or the
 * bytes field is never read as the status.
 *
 * Only the head is read: at most MAX_HEAD_LENGTH characters from the start of the access line. A
 * longer line is scanned as its head alone (the tail it cannot see is referer and User-Agent, never
 * the status of a request any server accepts); when that head ends before the status the line is
 * 'too-long'. The caller says when the text it hands over is already only a head (`cut`: a Docker
 * record cut short); a cut head never yields a status that its last characters might continue.
 * Lines whose client address can never be a client (0.0.0.0, multicast, broadcast) are 'not-client'.
 *
 * The combined and common layouts differ only after the status, so both are read by the same code.
 * A request line that is `-` or not `METHOD SP target [SP HTTP/x.y]` (e.g. TLS bytes sent to the HTTP
 * port) still yields an event, with method '' and path ''. Every failure is a SkipReason; a line that
 * fails and contains control characters (NUL-filled blocks after a crash, binary junk) is 'binary'.
 * No regex runs on the hot path; the only allocations are the event and the substrings it keeps.
 */
import { MAX_HEAD_LENGTH, type AccessEvent, type ParseOutcome, type SkipReason } from './access-event.js';
import { quadText, type AddressTable, type TableIp } from './address-table.js';
import { CLF_TIME_LENGTH, type ClfTimeCache } from './timestamp.js';
import type { TrustedProxies } from './trusted-proxies.js';

/**
 * Where the client address is: 'plain' (first field, or an X-Forwarded-For list there), 'vhost'
 * (`host:port` first, address second), 'host' (a host name or address first, address second), or
 * 'auto' (all of them, told apart per line as described above).
 */
export type AccessLayout = 'plain' | 'vhost' | 'host' | 'auto';

export interface AccessScannerOptions {
  readonly layout: AccessLayout;
  /**
   * true (Apache): `\"` inside a quoted field is an escaped quote. false (nginx): every `"` delimits,
   * because nginx writes a quote in a field as \x22 and a backslash as \x5C.
   */
  readonly backslashEscapes: boolean;
  /** The trusted proxies, whose X-Forwarded-For entries are believed; null: none. */
  readonly trusted?: TrustedProxies | null;
  /**
   * Whether a third quoted field after the User-Agent is nginx main's `"$http_x_forwarded_for"`
   * (read when the peer is a trusted proxy). Default: only in `auto`. A fixed format that does not
   * declare the field never reads it: a custom format ending in a field the client writes
   * (`"$http_host"`, `"$http_cookie"`) would otherwise let a client behind the proxy name anyone.
   */
  readonly trailingForwarded?: boolean;
  /**
   * Whether the host field of the host layout can hold spaces a client wrote: nginx before 1.21.1
   * writes a Host header's spaces into $host (later versions, and Apache's %v/%V, refuse such a Host
   * with a 400). Then `$host $remote_addr - $remote_user` read as declared would let a client name
   * any address (a Host `x 198.18.0.9 -`): such a line is refused, at the price that a client whose
   * Basic-auth user name holds an address followed by ` - ` has its own lines skipped (README).
   */
  readonly hostMayHoldSpaces?: boolean;
}

/** Caches shared by all scanners of one line parser. */
export interface ScanCaches {
  readonly ips: AddressTable;
  readonly times: ClfTimeCache;
}

/**
 * Scans line[start, end) (end excludes any CR/LF); `origin` is copied into the event. `cut`: the access
 * line goes on past `end` (its text was cut short before it got here).
 */
export type AccessScanner = (line: string, start: number, end: number, origin: string | undefined, cut: boolean) => ParseOutcome;

const SPACE = 32;
const QUOTE = 34;
const BACKSLASH = 92;
const DASH = 45;
const RBRACKET = 93;
const COMMA = 44;
/** A dotted quad was found; its value is in the scanner's pickQuad (no TableIp, no text made). */
const QUAD = 1;
/** ScannedEvent flags. */
const FLAG_OPEN = 1;
const FLAG_ESCAPES = 2;
/** The client was read from a forwarded field past a trusted proxy (AccessEvent.forwarded). */
const FLAG_FORWARDED = 4;
/** Trusted entries an X-Forwarded-For walk passes at most: no real chain of proxies is longer. */
export const MAX_HOPS = 32;
/** Spaces between the client's field and the time beyond which the line is never a server's (forgedPrefix). */
const MAX_USER_WORDS = 16;
/** Longest X-Forwarded-For entry read: a bracketed IPv6 address with a port. */
const MAX_ENTRY_LENGTH = 45 + 2 + 6;

/** True when line[start, end) holds a C0 control (other than TAB), DEL, or U+FFFD (undecodable bytes). */
export function hasBinary(line: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c === 0xfffd) return true;
  }
  return false;
}

function fail(line: string, start: number, end: number, reason: SkipReason): SkipReason {
  return hasBinary(line, start, end) ? 'binary' : reason;
}

/**
 * Index of the first `"` in [from, end) that is not backslash-escaped (an odd run of backslashes
 * right before it, counted from `from`), or -1. With escapes off, simply the first `"`.
 */
export function findQuote(line: string, from: number, end: number, escapes: boolean): number {
  let i = line.indexOf('"', from);
  // A native search per quote while escaped quotes are few (a Docker record holds its line's own
  // quotes as `\"`); past QUOTE_HOPS of them the rest is read once, forwards, counting the backslashes
  // before each quote: a field dense in `\"` made a search per quote (16 % of its line's parse).
  for (let hops = 0; i >= 0 && i < end; hops++) {
    if (!escapes) return i;
    let n = 0;
    for (let k = i - 1; k >= from && line.charCodeAt(k) === BACKSLASH; k--) n++;
    if ((n & 1) === 0) return i;
    if (hops === QUOTE_HOPS) return quoteAfter(line, i + 1, end, from);
    i = line.indexOf('"', i + 1);
  }
  return -1;
}

/** Escaped quotes findQuote looks past with a native search each before it reads on character by character. */
const QUOTE_HOPS = 16;
/** Characters without a quote after which findQuote's forward read searches natively again. */
const QUOTELESS_STRETCH = 64;

/**
 * findQuote's read from `from`, which follows an escaped quote: the first `"` after an even run of
 * backslashes (counted back to `lower` at most). Character by character while quotes come often; a
 * stretch of QUOTELESS_STRETCH characters without one is left to a native search (so a field of a
 * few escaped quotes and then a long text costs what it did before).
 */
function quoteAfter(line: string, from: number, end: number, lower: number): number {
  let k = from;
  for (;;) {
    let run = 0;
    let quoteless = 0;
    for (; k < end; k++) {
      const c = line.charCodeAt(k);
      if (c === BACKSLASH) run++;
      else {
        if (c === QUOTE) {
          if ((run & 1) === 0) return k;
          quoteless = 0;
        } else if (++quoteless > QUOTELESS_STRETCH) break;
        run = 0;
      }
    }
    if (k >= end) return -1;
    const j = line.indexOf('"', k);
    if (j < 0 || j >= end) return -1;
    let n = 0;
    for (let b = j - 1; b >= lower && line.charCodeAt(b) === BACKSLASH; b--) n++;
    if ((n & 1) === 0) return j;
    k = j + 1;
  }
}

/** Index of the `:` before a 1–5 digit port at the end of line[start, end), or -1. */
function portColon(line: string, start: number, end: number): number {
  const c = line.lastIndexOf(':', end - 1);
  if (c <= start || c < end - 6 || c === end - 1) return -1;
  for (let i = c + 1; i < end; i++) {
    const d = line.charCodeAt(i);
    if (d < 48 || d > 57) return -1;
  }
  return c;
}

/** A `:` then a port (1–65535) filling line[at, e). */
function isPort(line: string, at: number, e: number): boolean {
  if (line.charCodeAt(at) !== 58 /* : */ || e - at < 2 || e - at > 6) return false;
  let v = 0;
  for (let i = at + 1; i < e; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v >= 1 && v <= 65535;
}

/** Can an address start with this character (a hex digit or `:`)? */
function isHexOrColon(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function isBlankChar(c: number): boolean {
  return c === SPACE || c === 9;
}

/** Where splitRequestTarget found the target: [splitStart, splitEnd). */
let splitStart = 0;
let splitEnd = 0;

/**
 * The request target of a request line whose method ends at `m` (a blank) and whose text ends at `r`
 * (the closing quote), the separators being runs of spaces or tabs and the version optional: sets
 * splitStart and splitEnd, or returns false when there is no target.
 */
function splitRequestTarget(line: string, m: number, r: number): boolean {
  let ps = m + 1;
  while (ps < r && isBlankChar(line.charCodeAt(ps))) ps++;
  let te = r;
  while (te > ps && isBlankChar(line.charCodeAt(te - 1))) te--;
  if (te <= ps) return false;
  // The usual ` HTTP/1.1` / ` HTTP/2.0` tail, checked in place; otherwise the last blank.
  let vs = -1;
  if (te - 9 > ps && isBlankChar(line.charCodeAt(te - 9)) && isHttpAt(line, te - 8)) vs = te - 9;
  else {
    let k = te - 1;
    while (k > ps && !isBlankChar(line.charCodeAt(k))) k--;
    if (k > ps && isHttpAt(line, k + 1)) vs = k;
  }
  if (vs > ps) {
    te = vs;
    while (te > ps && isBlankChar(line.charCodeAt(te - 1))) te--;
  }
  splitStart = ps;
  splitEnd = te;
  return true;
}

/** `HTTP/` at `i` (compared by code, as the hot path's other tests are: startsWith cost every line ~30 ns). */
function isHttpAt(line: string, i: number): boolean {
  return line.charCodeAt(i) === 72 && line.charCodeAt(i + 1) === 84 && line.charCodeAt(i + 2) === 84 && line.charCodeAt(i + 3) === 80 && line.charCodeAt(i + 4) === 47;
}

/** Is the canonical IPv6 address `ip` in fe80::/10 (link-local: `fe8x:` to `febx:`)? */
function isLinkLocal6(ip: string): boolean {
  if (ip.length < 5 || ip.charCodeAt(0) !== 102 || ip.charCodeAt(1) !== 101 || ip.charCodeAt(4) !== 58) return false;
  const c = ip.charCodeAt(2);
  return c === 56 || c === 57 || c === 97 || c === 98; // 8, 9, a, b
}

/** Is there a comma in line[s, e)? */
function hasComma(line: string, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (line.charCodeAt(i) === COMMA) return true;
  return false;
}

/**
 * `auto`, an address first: does a whole second field follow (line[fe] is the space after the
 * first) that is neither `-` nor an address? Only the host layout puts anything but `-` there, and
 * there it is the TCP peer as the server wrote it: `unix:` (nginx on a UNIX socket), an IPv6
 * address with a zone that is not link-local (APR writes `fe80::1%eth0`, read as fe80::1: see
 * zonedAt), a name (Apache's HostnameLookups, which
 * the client's own PTR record answers). The first field is then the host, which the client names
 * (nginx's $host, Apache's %V): read as the client it would let anyone blame the address it sends as
 * `Host:`. Such a line counts for no one. (Apache's %l under IdentityCheck On, the other writer of
 * that field, must name its format: README, "Layouts".)
 */
function peerNotAddress(line: string, fe: number, end: number): boolean {
  const s = fe + 1;
  if (s >= end || line.charCodeAt(s) === DASH || line.charCodeAt(s) === SPACE) return false;
  const sp = line.indexOf(' ', s);
  return sp > s && sp < end;
}

/**
 * A host name as a server writes one in the host layout's first field (Apache's ServerName, nginx's
 * $host, lower-cased and validated by nginx): 1–255 letters, digits, `.`, `-`, `_`, `:` and brackets
 * (an IPv6 literal), starting with a letter, digit, `_` or `[`.
 */
function isHostName(line: string, s: number, e: number): boolean {
  if (e <= s || e - s > 255) return false;
  for (let i = s; i < e; i++) {
    const c = line.charCodeAt(i);
    const alnum = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
    if (alnum || c === 91) continue;
    if (i === s) return false;
    if (c !== 46 && c !== DASH && c !== 58 && c !== 93) return false;
  }
  return true;
}

/**
 * Between the end of the client's field and the time, a server writes ` %l %u ` (3 spaces). More
 * spaces there, with a comma or an address among the words, is what a line looks like when its first
 * field was written by the client and held spaces: its own part of an X-Forwarded-For list in front
 * of the list a proxy completed, or a Host header (nginx's $host) in front of the peer. The scanner's
 * field would then end inside the client's text, which can name anyone, so such a line counts for no
 * one ('bad-forwarded'). A user name with spaces but neither a comma nor an address still counts,
 * up to MAX_USER_WORDS spaces (beyond, no user name is that and the words are not looked at).
 */
function forgedPrefix(line: string, fe: number, lb: number, ips: AddressTable): boolean {
  let spaces = 0;
  let comma = false;
  for (let k = fe; k < lb; k++) {
    const c = line.charCodeAt(k);
    if (c === SPACE) spaces++;
    else if (c === COMMA) comma = true;
  }
  if (spaces <= 3) return false;
  // Far more words than any user name has: no address lookup per word (a client could send thousands).
  if (comma || spaces > MAX_USER_WORDS) return true;
  for (let k = fe + 1; k < lb; ) {
    const sp = line.indexOf(' ', k);
    if (sp < 0 || sp >= lb) break;
    if (sp > k && isHexOrColon(line.charCodeAt(k)) && ips.lookup(line, k, sp) !== null) return true;
    k = sp + 1;
  }
  return false;
}

/** Request methods are tokens; these are returned as constants so the common ones cost no allocation. */
function methodOf(line: string, s: number, e: number): string {
  const n = e - s;
  const c = line.charCodeAt(s);
  if (n === 3 && c === 71 && line.charCodeAt(s + 1) === 69 && line.charCodeAt(s + 2) === 84) return 'GET';
  if (n === 4 && c === 80 && line.charCodeAt(s + 1) === 79 && line.charCodeAt(s + 2) === 83 && line.charCodeAt(s + 3) === 84) {
    return 'POST';
  }
  if (n === 4 && c === 72 && line.charCodeAt(s + 1) === 69 && line.charCodeAt(s + 2) === 65 && line.charCodeAt(s + 3) === 68) {
    return 'HEAD';
  }
  return line.slice(s, e);
}

/** A token of 1–32 letters, digits, '-' or '_' (covers WebDAV's VERSION-CONTROL, SSDP's M-SEARCH). */
function isMethodToken(line: string, s: number, e: number): boolean {
  if (e <= s || e - s > 32) return false;
  for (let i = s; i < e; i++) {
    const c = line.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === DASH || c === 95;
    if (!ok) return false;
  }
  return true;
}

export function createAccessScanner(opts: AccessScannerOptions, caches: ScanCaches): AccessScanner {
  const { layout, backslashEscapes } = opts;
  const trusted = opts.trusted ?? null;
  const trailingForwarded = opts.trailingForwarded ?? layout === 'auto';
  const hostSpaces = layout === 'host' && opts.hostMayHoldSpaces === true;
  const escapeFlag = backslashEscapes ? FLAG_ESCAPES : 0;
  /**
   * May the first field be text the client wrote (an X-Forwarded-For list, nginx's $host)? Not in a
   * fixed ordinary or vhost_combined format, whose first field the server writes (%h, $remote_addr,
   * %v:%p): there a line is read as declared, and the forged-prefix refusal, which a client could
   * otherwise trigger with its own user name to have its lines skipped, does not apply.
   */
  const clientFirst = layout === 'auto' || layout === 'host';
  const { ips, times } = caches;
  /** Set with a QUAD result (entryAt, walkList, fieldAddr): the IPv4 address as a 32-bit value. */
  let pickQuad = 0;
  /** Set by fieldAddr(): the space that ends the field. */
  let pickEnd = 0;
  /** otherFirstField()'s result: the client (a quad, or addr), the vhost, its field's end, whether from a list. */
  let outIsQuad = false;
  let outQuad = 0;
  let outAddr: TableIp | null = null;
  let outVhost: string | undefined;
  /**
   * The client came from the second field: the first is a host, a list or whatever else the line
   * starts with (set whether or not that field reads as a host name and becomes the vhost).
   */
  let outHostLed = false;
  let outFe = -1;
  let outList = false;
  /** The client of that list is left of a trusted proxy's entry (the server's peer was a proxy). */
  let outForwarded = false;
  /** A first-field list whose walk failed, left for scanHead to decide (see otherFirstField). */
  let outListBad: SkipReason | null = null;
  /** Set by walkList(): whether its client is left of a trusted proxy's entry (it passed one). */
  let walkPassed = false;
  /**
   * A line longer than the head: where the text handed over ends (-1: the head is all there is).
   * Only forwardedClient() reads beyond the head (see there).
   */
  let lineEnd = -1;

  const ipAt = (line: string, s: number, e: number): TableIp | null => ips.lookup(line, s, e);

  /**
   * A peer as APR writes a link-local IPv6 client (`%h`, `%a` in Apache's log): `fe80::1%eth0`, the
   * address and its zone (the interface it came in on; APR appends it to fe80::/10 addresses only,
   * nginx never does). The client is the address: the kernel enforcers match it as the packets'
   * source, and banhammer-map.conf looks REMOTE_ADDR up without its zone. The zone is 1-15
   * characters (IFNAMSIZ - 1) with no `%`; anything else, or a zone on an address that is not
   * link-local, is no address. Only called once the plain lookup failed (not on the hot path).
   */
  const zonedAt = (line: string, s: number, e: number): TableIp | null => {
    const pct = line.indexOf('%', s);
    if (pct <= s || pct >= e - 1 || e - pct - 1 > 15) return null;
    const again = line.indexOf('%', pct + 1);
    if (again >= 0 && again < e) return null;
    const a = ipAt(line, s, pct);
    return a !== null && a.family === 6 && isLinkLocal6(a.ip) ? a : null;
  };

  // A one-entry memo: a vhost_combined log names the same few virtual hosts over and over.
  let lastVhost = '';

  const vhostAt = (line: string, s: number, e: number): string => {
    const v = line.slice(s, e);
    if (v === lastVhost) return lastVhost;
    lastVhost = v;
    return lastVhost;
  };

  // Only the head is read; what lies beyond it cannot be the status of any request a server accepts.
  // A longer line is scanned as its head, as a line that goes on (`open`), and when that head ends
  // before the status it is 'too-long' rather than 'truncated'.
  const scanAccessLine: AccessScanner = (line, start, end, origin, cut) => {
    if (end - start <= MAX_HEAD_LENGTH) return scanHead(line, start, end, origin, cut);
    lineEnd = end;
    const out = scanHead(line, start, start + MAX_HEAD_LENGTH, origin, true);
    lineEnd = -1;
    return out === 'truncated' ? 'too-long' : out;
  };
  return scanAccessLine;

  /**
   * One X-Forwarded-For entry line[s, e): an address, `a.b.c.d:port`, `[v6]` or `[v6]:port` (ports
   * as some proxies add them), validated and canonicalised like any address; null for anything else
   * (`unknown`, RFC 7239's obfuscated `_name`, hostnames, junk). An IPv6 address without brackets
   * is read whole: `2001:db8::1:443` is an address, never one with a port.
   */
  function entryAt(line: string, s: number, e: number): TableIp | typeof QUAD | null {
    if (e - s > MAX_ENTRY_LENGTH) return null;
    if (line.charCodeAt(s) === 91 /* [ */) {
      const close = line.indexOf(']', s + 1);
      if (close < 0 || close >= e) return null;
      if (close + 1 < e && !isPort(line, close + 1, e)) return null;
      // Only an IPv6 literal goes in brackets (`[::ffff:a.b.c.d]` is one, and is the IPv4 client).
      const colon = line.indexOf(':', s + 1);
      return colon > s && colon < close ? ipAt(line, s + 1, close) : null;
    }
    // IPv4, with or without a port, is read in place (like the first field), never looked up.
    if (ips.exactQuad(line, s, e)) {
      pickQuad = ips.quad;
      return QUAD;
    }
    const colon = line.indexOf(':', s);
    if (colon > s && colon < e && isPort(line, colon, e) && ips.exactQuad(line, s, colon)) {
      pickQuad = ips.quad;
      return QUAD;
    }
    return ipAt(line, s, e);
  }

  /**
   * Does line[s, e) hold an address followed by ` - ` (a peer as `$remote_addr - ` writes it), or more
   * than MAX_USER_WORDS ` - ` (no lookup per word beyond that: a client could send thousands)?
   */
  function peerSignatureIn(line: string, s: number, e: number): boolean {
    let n = 0;
    for (let k = line.indexOf(' - ', s); k >= 0 && k + 2 < e; k = line.indexOf(' - ', k + 2)) {
      if (++n > MAX_USER_WORDS) return true;
      const ws = line.lastIndexOf(' ', k - 1) + 1;
      if (ws >= s && k > ws && (isHexOrColon(line.charCodeAt(ws)) || line.charCodeAt(ws) === 91) && entryAt(line, ws, k) !== null) return true;
    }
    return false;
  }

  /** The right-most entry of the list line[s, e) (QUAD with its value in pickQuad), or null when it is not an address. */
  function listPeer(line: string, s: number, e: number): TableIp | typeof QUAD | null {
    const comma = line.lastIndexOf(',', e - 1);
    let a = comma < s ? s : comma + 1;
    let b = e;
    while (a < b && isBlankChar(line.charCodeAt(a))) a++;
    while (b > a && isBlankChar(line.charCodeAt(b - 1))) b--;
    return a < b ? entryAt(line, a, b) : null;
  }

  /**
   * Does a word of line[s, e) (a trailing comma dropped) name a trusted proxy? Read from the right,
   * where a proxy's entry stands (whatever a client wrote is on its left), at most MAX_USER_WORDS words.
   */
  function trustedWordIn(line: string, s: number, e: number): boolean {
    let hi = e;
    for (let words = 0; words < MAX_USER_WORDS && hi > s; words++) {
      while (hi > s && line.charCodeAt(hi - 1) === SPACE) hi--;
      if (hi <= s) break;
      const sp = line.lastIndexOf(' ', hi - 1);
      const k = sp < s ? s : sp + 1;
      let b = hi;
      if (b > k && line.charCodeAt(b - 1) === COMMA) b--;
      if (b > k && (isHexOrColon(line.charCodeAt(k)) || line.charCodeAt(k) === 91) /* [v6]:port */) {
        const entry = entryAt(line, k, b);
        if (entry !== null && (entry === QUAD ? trusted!.hasQuad(pickQuad) : trusted!.has(entry))) return true;
      }
      hi = k;
    }
    return false;
  }

  /**
   * The client named by the X-Forwarded-For list line[s, e): walking its comma-separated entries from
   * the right, the first one that is not a trusted proxy (every proxy appends the address it got the
   * request from, so only entries right of a trusted proxy's were written by one). Every entry walked
   * must be an address (else 'bad-forwarded'); those left of the client, which the client wrote
   * itself, are never read. When all are trusted, the left-most (a trusted proxy: never banned).
   * More than MAX_HOPS trusted entries is 'bad-forwarded'.
   */
  function walkList(line: string, s: number, e: number): TableIp | SkipReason | typeof QUAD {
    let last: TableIp | typeof QUAD = QUAD;
    let lastQuad = 0;
    let hi = e;
    walkPassed = false;
    for (let hops = 0; hops <= MAX_HOPS; hops++) {
      const comma = line.lastIndexOf(',', hi - 1);
      let a = comma < s ? s : comma + 1;
      let b = hi;
      while (a < b && isBlankChar(line.charCodeAt(a))) a++;
      while (b > a && isBlankChar(line.charCodeAt(b - 1))) b--;
      const entry = a < b ? entryAt(line, a, b) : null;
      if (entry === null) return 'bad-forwarded';
      if (trusted === null || !(entry === QUAD ? trusted.hasQuad(pickQuad) : trusted.has(entry))) {
        walkPassed = hops > 0;
        return entry;
      }
      last = entry;
      lastQuad = pickQuad;
      if (comma < s) {
        pickQuad = lastQuad;
        walkPassed = hops > 0;
        return last;
      }
      hi = comma;
    }
    return 'bad-forwarded';
  }

  /**
   * The address in the field at line[s…] that ends at a space before `end`: QUAD (a dotted quad, its
   * value in pickQuad), another address, or null; pickEnd is then the space.
   */
  function fieldAddr(line: string, s: number, end: number): TableIp | typeof QUAD | null {
    if (ips.validQuad(line, s, end)) {
      pickQuad = ips.quad;
      pickEnd = ips.end;
      return QUAD;
    }
    const sp = line.indexOf(' ', s);
    if (sp <= s || sp >= end) return null;
    pickEnd = sp;
    return ipAt(line, s, sp) ?? zonedAt(line, s, sp);
  }

  /**
   * Where an X-Forwarded-For list that is the first field ends (`a, b, c` or `a,b,c`, as Apache's
   * %{X-Forwarded-For}i or nginx's $proxy_add_x_forwarded_for write it): at the first space that
   * does not follow a comma; -1 when the text ends first.
   */
  function listFieldEnd(line: string, start: number, end: number): number {
    let sp = line.indexOf(' ', start);
    while (sp >= 0 && sp < end && line.charCodeAt(sp - 1) === COMMA) {
      let k = sp;
      while (k < end && line.charCodeAt(k) === SPACE) k++;
      sp = line.indexOf(' ', k);
    }
    return sp < 0 || sp >= end ? -1 : sp;
  }

  /**
   * The client's field when the first field is not a dotted quad: vhost_combined, the host layout, an
   * X-Forwarded-For list, IPv6. Sets the out* variables and returns null, or returns the skip.
   */
  function otherFirstField(line: string, start: number, end: number): SkipReason | null {
    outIsQuad = false;
    outQuad = 0;
    outAddr = null;
    outVhost = undefined;
    outHostLed = false;
    outFe = -1;
    outList = false;
    outListBad = null;
    outForwarded = false;
    const sp = line.indexOf(' ', start);
    if (sp < 0 || sp >= end) return fail(line, start, end, ips.lookup(line, start, end) ? 'truncated' : 'bad-address');
    // The common case first: an address (IPv6) then `-`, an ordinary line.
    if (layout !== 'vhost' && line.charCodeAt(sp + 1) === DASH) {
      const a = ipAt(line, start, sp) ?? zonedAt(line, start, sp);
      if (a !== null) {
        if (layout === 'host') return fail(line, start, end, 'unknown-format');
        outAddr = a;
        outFe = sp;
        return null;
      }
    }
    // The first field: one token, or an X-Forwarded-For list running on over `, `.
    let comma = (layout === 'auto' || layout === 'host') && hasComma(line, start, sp);
    let f1 = comma ? listFieldEnd(line, start, end) : sp;
    if (f1 < 0) return fail(line, start, end, 'truncated');
    let sp2 = line.indexOf(' ', f1 + 1);
    let second = layout !== 'plain' && sp2 > f1 + 1 && sp2 < end && line.charCodeAt(f1 + 1) !== DASH ? fieldAddr(line, f1 + 1, end) : null;
    if (layout === 'host' && comma && second === null) {
      // The host layout's first field is `$host`, one token the client chooses (`Host: a,` or
      // `Host: 198.18.0.50,` is accepted by nginx): read as a list it runs on into the peer, and the
      // line would be skipped (a ban escape). When the word after the first token is an address,
      // that token was the host and the address is the client, as for any other host.
      const sp2b = line.indexOf(' ', sp + 1);
      const alt = sp2b > sp + 1 && sp2b < end && line.charCodeAt(sp + 1) !== DASH ? fieldAddr(line, sp + 1, end) : null;
      if (alt !== null) {
        comma = false;
        f1 = sp;
        sp2 = sp2b;
        second = alt;
      }
    }
    if (second === QUAD) {
      outIsQuad = true;
      outQuad = pickQuad;
    } else if (second !== null) {
      outAddr = second;
    }
    const colon = comma ? -1 : portColon(line, start, sp);
    // `host:port` has one colon before the port, `[v6]:port` starts with a bracket; an IPv6 address
    // (many colons) is a host field of its own.
    const hostPort = colon > 0 && (line.indexOf(':', start) === colon || line.charCodeAt(start) === 91);
    if (layout === 'vhost') {
      if (!hostPort) return fail(line, start, end, ipAt(line, start, sp) ? 'unknown-format' : 'bad-address');
      if (second === null) return fail(line, start, end, sp2 > sp + 1 && sp2 < end ? 'bad-address' : 'truncated');
      outVhost = vhostAt(line, start, colon);
      outFe = sp2;
    } else if (second !== null) {
      // An address in the second field is the client, whatever the first field holds: vhost_combined's
      // `host:port`, the host layout's host (a name, or an address: see "Layouts"), `-`, or an
      // X-Forwarded-For list in front of the peer (`$http_x_forwarded_for $remote_addr`), never read.
      if (hostPort) outVhost = vhostAt(line, start, colon);
      else if (!comma && (isHostName(line, start, sp) || ipAt(line, start, sp) !== null)) outVhost = vhostAt(line, start, sp);
      outHostLed = true;
      outFe = sp2;
    } else if (layout === 'host') {
      return fail(line, start, end, ipAt(line, start, sp) !== null ? 'unknown-format' : sp2 > f1 + 1 && sp2 < end ? 'bad-address' : 'truncated');
    } else if (comma) {
      // An X-Forwarded-For list as the first field: its client, walking from the right. Where a
      // trailing X-Forwarded-For field may follow (see scanHead), a walk that fails is decided once
      // that field is known: the list may be a client's Host header in front of a trusted peer.
      const got = walkList(line, start, f1);
      if (typeof got === 'string') {
        if (!trailingForwarded || trusted === null) return fail(line, start, end, got);
        outListBad = got;
        outIsQuad = true; // a placeholder: the line counts for no one unless the trailing field decides
        outFe = f1;
        outList = true;
        return null;
      }
      if (got === QUAD) {
        outIsQuad = true;
        outQuad = pickQuad;
      } else {
        outAddr = got;
      }
      outFe = f1;
      outList = true;
      outForwarded = walkPassed;
    } else {
      if (layout === 'auto' && peerNotAddress(line, sp, end)) return fail(line, start, end, 'bad-address');
      outAddr = ipAt(line, start, sp) ?? zonedAt(line, start, sp);
      if (outAddr === null) return fail(line, start, end, 'bad-address');
      outFe = sp;
    }
    return null;
  }

  /**
   * The peer is a trusted proxy: the client named by nginx main's trailing X-Forwarded-For field
   * (the tail from `after`, right after the status). Sets outIsQuad/outQuad or outAddr (neither: no
   * such field, the peer stays the client) and returns null, or returns the skip.
   */
  function forwardedClient(line: string, start: number, after: number, end: number, open: boolean): SkipReason | null {
    outIsQuad = false;
    outAddr = null;
    let t = readTail(line, after, end, open, backslashEscapes);
    // The field names the client, and it comes after the referer and User-Agent, which the client
    // fills: padded with bytes the server writes as `\xHH` (nginx with large_client_header_buffers
    // 4 16k takes 64 KiB of them), they pushed it past the head, and every such line of a client
    // behind the proxy was 'too-long' (a ban escape). So a line that is longer than the head is read
    // on for this field: once, linear in the line, and only for a trusted peer's line. The text may
    // itself be a prefix (the splitter's cap, a kept head), so it is read as a line that goes on: a
    // field it cuts stays open ('too-long', as before), never a field of its own, and a field it
    // holds whole is the line's own (the server escapes every quote a client sends).
    if (t.open && lineEnd > end) t = readTail(line, after, lineEnd, true, backslashEscapes);
    if (t.open) return fail(line, start, end, 'truncated');
    if (t.xffS < 0 || t.xffE === t.xffS || (t.xffE === t.xffS + 1 && line.charCodeAt(t.xffS) === DASH)) return null;
    const got = walkList(line, t.xffS, t.xffE);
    if (typeof got === 'string') return fail(line, start, end, got);
    if (got === QUAD) {
      outIsQuad = true;
      outQuad = pickQuad;
    } else {
      outAddr = got;
    }
    return null;
  }

  /** Scans line[start, end); `open`: the line goes on past `end`, so whether it ends there is never known. */
  function scanHead(line: string, start: number, end: number, origin: string | undefined, open: boolean): ParseOutcome {
    if (start >= end) return 'empty';
    // The client address, and the vhost when there is one (see "Layouts" above). A dotted quad first
    // field (the common case) is validated in place; its text is made only if the event is ever asked
    // for its address (see ScannedEvent).
    let isQuad = layout !== 'vhost' && layout !== 'host' && ips.validQuad(line, start, end);
    let quad = ips.quad;
    let addr: TableIp | null = null;
    let vhost: string | undefined;
    let hostLed = false; // the client is the second field (see outHostLed)
    let fe = -1; // the space that ends the client's field
    let list = false; // the client came from an X-Forwarded-For list in the first field
    let listBad: SkipReason | null = null; // that list's walk failed (decided after the status)
    let fwd = 0; // FLAG_FORWARDED: the client came from a forwarded field, past a trusted proxy
    if (isQuad) {
      fe = ips.end;
      // `auto`: an address in the second field too is the host layout (`%v %h`, `$host $remote_addr`).
      if (layout === 'auto' && line.charCodeAt(fe + 1) !== DASH) {
        const second = fieldAddr(line, fe + 1, end);
        if (second !== null) {
          vhost = vhostAt(line, start, fe);
          hostLed = true;
          if (second === QUAD) {
            quad = pickQuad;
          } else {
            isQuad = false;
            addr = second;
          }
          fe = pickEnd;
        } else if (peerNotAddress(line, fe, end)) {
          return fail(line, start, end, 'bad-address');
        }
      }
    } else {
      // Anything else: another layout, or no address at all (kept out of this function so that the
      // common path stays small enough for the engine to inline what it calls).
      const why = otherFirstField(line, start, end);
      if (why !== null) return why;
      isQuad = outIsQuad;
      quad = outQuad;
      addr = outAddr;
      vhost = outVhost;
      hostLed = outHostLed;
      fe = outFe;
      list = outList;
      listBad = outListBad;
      if (outForwarded) fwd = FLAG_FORWARDED;
    }
    const p = fe + 1; // first index after the client's field

    // The request line opens at the first unescaped quote; the time is the [...] right before it.
    const q = findQuote(line, p, end, backslashEscapes);
    if (q < 0) {
      const rb = line.indexOf(']', p);
      return fail(line, start, end, rb >= 0 && rb + 2 < end ? 'bad-request' : 'truncated');
    }
    if (q - p < 3 || line.charCodeAt(q - 1) !== SPACE || line.charCodeAt(q - 2) !== RBRACKET) {
      return fail(line, start, end, 'bad-time');
    }
    // A CLF time is always 26 characters, so its '[' sits at a fixed distance before the quote.
    const lb = q - 3 - CLF_TIME_LENGTH;
    if (lb < p || line.charCodeAt(lb) !== 91 || line.charCodeAt(lb - 1) !== SPACE) return fail(line, start, end, 'bad-time');
    const time = times.parse(line, lb + 1, q - 2);
    if (time !== time) return fail(line, start, end, 'bad-time'); // NaN
    // Between the client's field and the time: ` %l %u `. More spaces and a comma there may be a
    // client's own X-Forwarded-For text in front of the list a proxy completed (see "X-Forwarded-For").
    // Only where the first field may be the client's own text: `auto` and the host layout.
    // In `auto`, a line that starts like an ordinary one (an address, then `-`) is read as one unless a
    // trusted proxy's address stands among those words: without that, the words are as likely the
    // client's own user name (%u, $remote_user: nginx fills it from any Basic Authorization header)
    // as its own X-Forwarded-For text, and refusing the line would let any client have its own lines
    // skipped (a ban escape in the default configuration). A forged first-field list that went
    // through a trusted proxy always holds the proxy's address, so that case is still refused.
    // The same holds after a host (`$host $remote_addr - $remote_user`, `%v %h %l %u`, vhost_combined):
    // the client's field followed by ` - ` is what the server writes there, and the words after it
    // are the user field, which any client fills. A host-led line whose first fields the client wrote
    // (`$http_x_forwarded_for $remote_addr - …` with spaces in the header, `x 198.18.0.9 -`; or a Host
    // header with spaces, which nginx and Apache's default Strict mode refuse) always holds the real
    // peer among those words, followed by ` - ` (peerSignatureIn): only that refuses the line, and
    // in `auto`, which must also read `$http_x_forwarded_for $remote_addr`, and in nginx's fixed host
    // format (hostMayHoldSpaces: nginx before 1.21.1 writes a Host's spaces into $host). That is any
    // host-led line, whatever its first word: refused only when that word read as a host name (the
    // vhost), `Host: x 198.18.0.9 -` was refused and `Host: x! 198.18.0.9 -` (or `<x`, or a list,
    // `a, b 198.18.0.9 -`) counted for 198.18.0.9 (review H53). Apache's
    // fixed host format reads the user field as declared: %v and %V never hold a space (Apache
    // answers such a Host 400 and logs its own name: test/integration/server-hostile), and refusing
    // there let any client skip its own lines with a user name such as `198.18.9.9 - x` (a ban escape).
    if (clientFirst && lb - fe > 5) {
      const userField = !list && line.charCodeAt(fe + 1) === DASH && line.charCodeAt(fe + 2) === SPACE;
      let refused: boolean;
      if (!userField) refused = forgedPrefix(line, fe, lb, ips);
      else {
        refused = (layout === 'auto' && trusted !== null && trustedWordIn(line, fe, lb)) || ((layout === 'auto' || hostSpaces) && hostLed && peerSignatureIn(line, fe + 2, lb));
      }
      if (refused) return fail(line, start, end, 'bad-forwarded');
    }

    // The request line closes at the next unescaped quote.
    const r = findQuote(line, q + 1, end, backslashEscapes);
    if (r < 0) return fail(line, start, end, 'truncated');

    // The status: exactly three digits right after `" `, then a space or the end of the line (a line
    // that goes on past `end` needs the space: its fourth character is not known).
    let i = r + 1;
    if (i >= end) return fail(line, start, end, 'truncated');
    if (line.charCodeAt(i) !== SPACE) return fail(line, start, end, 'bad-status');
    i++;
    let status = 0;
    let digits = 0;
    for (; i < end && digits < 4; i++) {
      const d = line.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      status = status * 10 + d;
      digits++;
    }
    if (i >= end && (digits < 3 || open)) return fail(line, start, end, 'truncated');
    if (digits !== 3 || (i < end && line.charCodeAt(i) !== SPACE)) return fail(line, start, end, 'bad-status');
    if (status < 100 || status > 599) return fail(line, start, end, 'bad-status');

    // Method and target; anything that is not `METHOD SP target [SP HTTP/x.y]` counts as no request.
    // The separators are runs of spaces or tabs, as the servers read them: nginx takes any number of
    // spaces before the target and before the version (and logs the line as sent), Apache's
    // `HttpProtocolOptions Unsafe` any whitespace (Strict answers 400 but logs the same line). Read
    // as single spaces, `GET  /eval-stdin.php` had no path and `…/x.php HTTP/1.1 ` a path ending in
    // ` HTTP/1.1 `, so a probe served (or refused) like any other escaped every `paths` rule.
    let method = '';
    let ps = 0;
    let pe = 0;
    const rs = q + 1;
    let m: number;
    if (line.charCodeAt(rs) === 71 && line.charCodeAt(rs + 1) === 69 && line.charCodeAt(rs + 2) === 84 && isBlankChar(line.charCodeAt(rs + 3))) {
      m = rs + 3; // "GET ", by far the most common
      method = 'GET';
    } else {
      m = rs;
      while (m < r && m - rs <= 32 && !isBlankChar(line.charCodeAt(m))) m++;
      if (m > rs && m < r && isMethodToken(line, rs, m)) method = methodOf(line, rs, m);
    }
    if (method !== '') {
      // The usual `METHOD SP target SP HTTP/x.y`, single spaces, read in place; anything else (runs
      // of blanks, no version) by splitRequestTarget, out of this function, which V8 compiles better
      // small (with the general split inline, replay read 10 % fewer lines a second).
      if (
        line.charCodeAt(m) === SPACE &&
        r - 9 > m + 1 &&
        line.charCodeAt(r - 9) === SPACE &&
        isHttpAt(line, r - 8) &&
        !isBlankChar(line.charCodeAt(m + 1)) &&
        !isBlankChar(line.charCodeAt(r - 10)) &&
        !isBlankChar(line.charCodeAt(r - 1))
      ) {
        ps = m + 1;
        pe = r - 9;
      } else if (splitRequestTarget(line, m, r)) {
        ps = splitStart;
        pe = splitEnd;
      } else {
        method = '';
      }
    }

    // A trusted proxy as the peer: the client is in nginx main's trailing X-Forwarded-For field.
    if (trailingForwarded && trusted !== null && !list && (isQuad ? trusted.hasQuad(quad) : trusted.has(addr!))) {
      const why = forwardedClient(line, start, i, end, open);
      if (why !== null) return why;
      if (outIsQuad) {
        isQuad = true;
        quad = outQuad;
        fwd = FLAG_FORWARDED;
      } else if (outAddr !== null) {
        isQuad = false;
        addr = outAddr;
        fwd = FLAG_FORWARDED;
      }
    } else if (trailingForwarded && trusted !== null && list) {
      // A first-field list whose right-most entry (the peer) is a trusted proxy, on a line that also
      // has nginx main's trailing X-Forwarded-For field: nginx's $host is whatever the client sent
      // (`Host: 198.18.0.9,` is accepted), so `$host $remote_addr … "$http_x_forwarded_for"` from a
      // trusted proxy reads as a list that names that host. The trailing field decides, as for any
      // trusted peer: had the first field really been $proxy_add_x_forwarded_for (the header, then
      // the peer), walking it would name the same client as walking the header itself.
      const peer = listPeer(line, start, fe);
      if (peer !== null && (peer === QUAD ? trusted.hasQuad(pickQuad) : trusted.has(peer))) {
        const peerQuad = pickQuad;
        const t = readTail(line, i, end, open, backslashEscapes);
        if (!t.open && t.xffS >= 0) {
          const why = forwardedClient(line, start, i, end, open);
          if (why !== null) return why;
          listBad = null;
          fwd = 0;
          if (outIsQuad) {
            isQuad = true;
            quad = outQuad;
            fwd = FLAG_FORWARDED;
          } else if (outAddr !== null) {
            isQuad = false;
            addr = outAddr;
            fwd = FLAG_FORWARDED;
          } else if (peer === QUAD) {
            isQuad = true;
            quad = peerQuad;
          } else {
            isQuad = false;
            addr = peer;
          }
        }
      }
      if (listBad !== null) return fail(line, start, end, listBad);
    }

    // A well-formed line from an address that can never be a client (a forged or broken log) counts for
    // no one: banning 0.0.0.0 or a multicast group protects nothing and the kernel refuses some of them.
    // (For a quad: 0.0.0.0/8, 224.0.0.0/4, 255.255.255.255, as ip.ts nonClientReason says.)
    if (isQuad) {
      const hi = quad >>> 24;
      if (hi === 0 || (hi >= 224 && hi <= 239) || quad === -1) return 'not-client';
      return new ScannedEvent(quad, undefined, 4, time, method, line, rs, r, ps, pe, status, end, (open ? FLAG_OPEN : 0) | escapeFlag | fwd, vhost, origin);
    }
    if (addr!.notClient) return 'not-client';
    return new ScannedEvent(0, addr!.ip, addr!.family, time, method, line, rs, r, ps, pe, status, end, (open ? FLAG_OPEN : 0) | escapeFlag | fwd, vhost, origin);
  }
}

/**
 * The event of a scanned line, with its address text (IPv4), request target, request line, referer
 * and User-Agent made on first use: most lines match no rule and never need them, and making them was
 * most of the cost of a line. It keeps a reference to the text it was read from, so it is for
 * immediate use (consumers copy what they keep, as the detector does with `ip`, a fresh string).
 *
 * The tail (`" <bytes> "<referer>" "<User-Agent>"`, then nginx main's `"<X-Forwarded-For>"`) is read
 * by readTail() once, when one of its fields is first asked for, and only within the text the scanner
 * was given (the head): a field that does not end there is undefined.
 */
export class ScannedEvent implements AccessEvent {
  private ipText: string | undefined;
  private pathText: string | undefined;
  /** readTail()'s result: the field bounds, -1 when absent; computed on first use. */
  private tail: Tail | undefined;

  constructor(
    /** The address as a 32-bit value when `ipText` is not given (IPv4 read in place). */
    private readonly quad: number,
    ipText: string | undefined,
    readonly family: 4 | 6,
    readonly time: number,
    readonly method: string,
    private readonly text: string,
    /** Request line [rs, re) between its quotes; target [ps, pe). */
    private readonly rs: number,
    private readonly re: number,
    private readonly ps: number,
    private readonly pe: number,
    readonly status: number,
    /** End of the scanned text; FLAG_OPEN (the line goes on past it), FLAG_ESCAPES (Apache quoting), FLAG_FORWARDED. */
    private readonly end: number,
    private readonly flags: number,
    readonly vhost: string | undefined,
    readonly origin: string | undefined,
  ) {
    this.ipText = ipText;
  }

  get ip(): string {
    return (this.ipText ??= quadText(this.quad));
  }

  /** AccessEvent.forwarded: the client was read from an X-Forwarded-For field past a trusted proxy. */
  get forwarded(): boolean {
    return (this.flags & FLAG_FORWARDED) !== 0;
  }

  get path(): string {
    return (this.pathText ??= this.text.slice(this.ps, this.pe));
  }

  get request(): string {
    return this.text.slice(this.rs, this.re);
  }

  get referer(): string | undefined {
    const t = this.readTail();
    return fieldText(this.text, t.refS, t.refE);
  }

  get userAgent(): string | undefined {
    const t = this.readTail();
    return fieldText(this.text, t.uaS, t.uaE);
  }

  /**
   * False when neither the referer nor the User-Agent can hold any of `chars` (none occurs after the
   * request line in the scanned text), so a rule gate that needs one of them can pass over both
   * without reading the tail; true otherwise. One bounded native search per character.
   */
  headersMayHold(chars: readonly string[], longerThan?: number): boolean {
    // Each header is a part of the text after the request line.
    if (longerThan !== undefined && this.end - this.re > longerThan) return true;
    const after = this.text.slice(this.re, this.end);
    for (let i = 0; i < chars.length; i++) if (after.indexOf(chars[i]!) >= 0) return true;
    return false;
  }

  /**
   * True when the scanned text ended inside the tail (a head cut short, or a line cut inside a quoted
   * field), so a longer head could still give the referer or User-Agent (the Docker reader decodes
   * further then, when it has more).
   */
  get tailOpen(): boolean {
    return this.readTail().open;
  }

  private readTail(): Tail {
    // The tail starts right after `" ` and the three status digits.
    return (this.tail ??= readTail(this.text, this.re + 5, this.end, (this.flags & FLAG_OPEN) !== 0, (this.flags & FLAG_ESCAPES) !== 0));
  }

  /** Plain data, for JSON and test comparisons. */
  toJSON(): AccessEvent {
    return {
      ip: this.ip,
      family: this.family,
      time: this.time,
      method: this.method,
      path: this.path,
      status: this.status,
      vhost: this.vhost,
      origin: this.origin,
      request: this.request,
      referer: this.referer,
      userAgent: this.userAgent,
    };
  }
}

/** A tail field's text, or undefined when absent or `-`. */
function fieldText(text: string, s: number, e: number): string | undefined {
  if (s < 0 || (e === s + 1 && text.charCodeAt(s) === DASH)) return undefined;
  return text.slice(s, e);
}

/** The fields after the status; each pair is [start, end) inside the quotes, -1 when absent. */
export interface Tail {
  refS: number;
  refE: number;
  uaS: number;
  uaE: number;
  /** The trailing X-Forwarded-For field of nginx's `main` layout (the field after the User-Agent). */
  xffS: number;
  xffE: number;
  /**
   * The tail could not be read to its end: the text ended inside a quoted field, or (a line that goes
   * on) before it was known whether another field follows.
   */
  open: boolean;
}

/**
 * Reads the tail of a combined line from `from` (right after the status digits) to `end`:
 * ` <bytes> "<referer>" "<User-Agent>"`, then optionally ` "<X-Forwarded-For>"`. Anything that does
 * not follow this shape ends the reading (the fields read so far stand; a common line has none).
 * Quoted fields end at the next unescaped quote, as the request line does, so a forged field inside
 * one stays text. `open`: the line goes on past `end`; a field cut there is undefined and the tail is
 * marked open. Never reads past `end`; linear in [from, end).
 */
export function readTail(line: string, from: number, end: number, open: boolean, escapes: boolean): Tail {
  const t: Tail = { refS: -1, refE: -1, uaS: -1, uaE: -1, xffS: -1, xffE: -1, open: false };
  // ` <bytes>`: a token of digits or `-` (%b, %O, $body_bytes_sent).
  let i = from;
  if (i >= end) {
    t.open = open;
    return t;
  }
  if (line.charCodeAt(i) !== SPACE) return t;
  i++;
  const bs = i;
  for (; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c !== DASH && (c < 48 || c > 57)) break;
  }
  if (i === bs) return t;
  // Each quoted field: ` "…"`.
  for (let field = 0; field < 3; field++) {
    if (i + 1 >= end) {
      t.open = open;
      return t;
    }
    if (line.charCodeAt(i) !== SPACE || line.charCodeAt(i + 1) !== QUOTE) return t;
    const close = findQuote(line, i + 2, end, escapes);
    if (close < 0) {
      // A field that never closes: the line was cut inside it (by a wrapper, the splitter or a writer
      // that died), whether or not the text says it goes on.
      t.open = true;
      return t;
    }
    if (field === 0) {
      t.refS = i + 2;
      t.refE = close;
    } else if (field === 1) {
      t.uaS = i + 2;
      t.uaE = close;
    } else {
      t.xffS = i + 2;
      t.xffE = close;
    }
    i = close + 1;
  }
  return t;
}

/** An Apache scanner (backslash-escaped quotes) for one layout. */
export function createApacheScanner(layout: AccessLayout, caches: ScanCaches, trusted: TrustedProxies | null = null): AccessScanner {
  return createAccessScanner({ layout, backslashEscapes: true, trusted }, caches);
}
