/**
 * The parse stage's one entry point: createLineParser(format) returns a function from one raw log line
 * (without its LF; a trailing CR is ignored) to an AccessEvent or a SkipReason. It never throws on input.
 *
 * `auto` decides per line: `{` → Docker json-file; `<digits>`, `Mmm ` or an RFC 3339 date → syslog
 * framing; anything else → an access line, whose layout (combined/common, vhost_combined, the host
 * layout, an X-Forwarded-For list) the scanner tells from its first fields (apache.ts, "Layouts").
 * A line that starts like a wrapper but is not a well-formed one is read as an access line too: the
 * host layout starts with the client's own Host header (`unframed`).
 * The access line inside a wrapper is read the same way. A fixed format reads only
 * its own shape: a line of another recognisable shape is 'unknown-format', broken framing is
 * 'bad-wrapper', the rest as in apache.ts.
 *
 * No line is refused for its length: the scanner reads the head of the access line (MAX_HEAD_LENGTH
 * characters, see access-event.ts), a Docker record cut short is decoded as far as it goes, and a
 * wrapper is only looked at as far as its header. The work per line is bounded by the head, whatever
 * the line's length (finding the end of a Docker record's `log` string, and JSON.parse of a record in
 * another key order, are linear in the record, which Docker keeps under ~100 kB; a trusted proxy's
 * nginx main line longer than the head is read on, once, for its X-Forwarded-For field: apache.ts
 * forwardedClient).
 *
 * Docker's log copier splits a line longer than 16 KiB into records of 16 KiB and writes the newline
 * only into the last one. Such a line is put back together per stream (the parser's second argument,
 * the file it comes from, and the record's own `stream`: a container's stdout and stderr records
 * interleave in its file): the records that follow a record without a newline are the rest of its
 * line, never lines of their own, so a forged access line that an attacker placed at a 16 KiB
 * boundary of their User-Agent is never read as one, and a status pushed past the first record by a
 * long request still counts. The line's one outcome is given by the record where it becomes known
 * (its status is in the head so far, or the line ended); its other records are 'partial'.
 *
 * Each parser owns its caches (addresses, timestamps), so create one per source and reuse it.
 * The only error thrown is at creation, for a format name that does not exist (config bugs).
 */
import { BanhammerError } from '../errors.js';
import { LOG_FORMATS, MAX_HEAD_LENGTH, type AccessEvent, type LogFormat, type ParseOutcome, type SkipReason } from './access-event.js';
import { AddressTable } from './address-table.js';
import { createApacheScanner, findQuote, hasBinary, ScannedEvent, type AccessScanner, type ScanCaches } from './apache.js';
import { dockerStreamOf, isPartialRecord, unwrapDockerJsonHead } from './docker-json.js';
import { createNginxScanner } from './nginx.js';
import { looksLikeSyslog, parseSyslogFrame, type SyslogFrame } from './syslog.js';
import { ClfTimeCache } from './timestamp.js';
import { TrustedProxies } from './trusted-proxies.js';

export interface LineParserOptions {
  /** Origin for events without one of their own (syslog tags win): e.g. the container of a json-file log. */
  readonly origin?: string | undefined;
  /**
   * The trusted proxies (`trusted_proxies`: addresses and CIDRs): X-Forwarded-For entries are walked
   * past them (apache.ts, "X-Forwarded-For"). Empty or absent: no forwarded address is believed
   * beyond the right-most entry of a first-field list (the peer, as nginx writes it).
   */
  readonly trustedProxies?: readonly string[] | undefined;
  /**
   * The lines are a file's bytes read one Latin-1 character each (replay), not UTF-8 text (the live
   * agent): Docker's split-line mark is judged in bytes either way (docker-json.ts).
   */
  readonly latin1?: boolean | undefined;
}

export interface LineParser {
  /**
   * `stream`: where the line comes from (the file's path), for Docker lines split over several records:
   * lines of one stream must come in order. Omitted, all lines are one stream.
   */
  (line: string, stream?: string): ParseOutcome;
  /**
   * The same as `parser(text.slice(start, end))` for the line text[start, end), without cutting it out
   * first: replay hands over 64 KiB pieces of a log and the scanner reads the line where it lies.
   */
  range(text: string, start: number, end: number, stream?: string): ParseOutcome;
  /**
   * Syslog lines cut before their status that wait for their rest (see `syslog`): a reader that
   * starts elsewhere in the file (a replay span's edge) must not separate them from it.
   */
  waiting(): number;
  /**
   * A reader starts `stream` again at a saved read position (the agent restarted): `before` are the
   * last whole lines before that position, oldest first, which the parser that read them before the
   * stop held lines in progress from. Without them, the rest of a line split over Docker records or
   * syslog messages, read alone by a new parser, was a line of its own: its client's failure lost,
   * and a rest that reads as a complete line (the client wrote its start at the cut) counted for
   * whatever address it names (review H54). So:
   * - the lines are read again, their outcomes dropped (they were counted before the stop): a cut
   *   syslog line waiting for its rest waits again;
   * - a Docker stream whose last record in `before` is a piece of a split line is inside that line:
   *   its next records are 'partial' up to the one that ends it (the line, started before the stop,
   *   is not counted). Judged from that last record only, so `before` starting inside a long split
   *   line (it is a window, not the whole file) cannot leave a line in progress made of its middle.
   */
  resume(before: readonly string[], stream?: string): void;
}

/** Gives a per-line parser its range form: by default it cuts the line out and parses that. */
function withRange(parse: (line: string, stream?: string) => ParseOutcome, range?: LineParser['range']): Omit<LineParser, 'waiting' | 'resume'> {
  const p = parse as LineParser;
  p.range = range ?? ((text, start, end, stream) => parse(text.slice(start, end), stream));
  return p;
}

/** Characters of a Docker record's `log` string decoded first (see dockerJson). */
const FIRST_DECODE = 4096;

/**
 * Lines in progress remembered at most: Docker lines split over records (per stream: a file and its
 * Docker stream) and cut syslog lines (per stream, priority and tag), each map on its own.
 */
const MAX_CONTINUED_STREAMS = 1024;

/**
 * Bytes the lines in progress of one parser may hold in all, both maps together (their heads and
 * keys, counted at two bytes a character as V8's two-byte strings take): the count bound alone let
 * 1,024 cut lines keep a whole message each (up to the 256 KiB line cap: some 500 MB), and 1,024
 * Docker streams MAX_HEAD_LENGTH characters each. Over the budget, the least recently started or
 * updated line of either map gives way, one at a time, until it holds again. 64 MiB is some 250 lines
 * of the largest head kept (HEAD_KEPT), and leaves the count bound first for lines cut at 16 KiB as
 * Docker cuts them (1,024 of those count 32 MiB: a budget that size would evict them earlier).
 */
export const MAX_KEPT_BYTES = 64 * 1024 * 1024;

/** Bytes counted for an entry besides its strings (the entry and its map slot). */
const ENTRY_BYTES = 128;

/**
 * Characters of a line in progress kept: one more than the scanner reads (MAX_HEAD_LENGTH), so that
 * the line is still known to be longer than its head. No outcome reads further (see SyslogPiece.beyond).
 */
const HEAD_KEPT = MAX_HEAD_LENGTH + 1;

/** Appends to a kept head after which it is copied flat again (each append is a node of a rope). */
const MAX_HEAD_PARTS = 64;

/** What a line in progress holds in common: its head, and its place in the parser's byte budget. */
interface Kept {
  head: string;
  /** Pieces of the head appended since it was last flat. */
  parts: number;
  /** When it was last started or updated (the parser's own counter): the least recent gives way first. */
  at: number;
  /** Bytes counted for it in the budget, and its key (a flat copy) in its map. */
  bytes: number;
  key: string;
}

/** A Docker line split over records, in progress: its head so far (none once decided), and whether its outcome was given. */
interface Continued extends Kept {
  done: boolean;
}

/**
 * The state of the text of a syslog piece's head beyond its HEAD_KEPT characters, read from the
 * head's start as openField() and findQuote() read it: everything any outcome still needs of it.
 */
interface Beyond {
  /** Characters of the whole head. */
  length: number;
  /** The whole head ends inside a quoted field (its quotes are odd), after an unpaired `\`. */
  open: boolean;
  pending: boolean;
  /** The whole head has an unescaped quote. */
  quoted: boolean;
}

/** The state of no text read. */
const NOTHING_READ: Beyond = { length: 0, open: false, pending: false, quoted: false };

/** The state `s` read on over text[from, to). */
function readOn(s: Beyond, text: string, from: number, to: number): Beyond {
  let { open, quoted } = s;
  let pending = false;
  let i = s.pending ? from + 1 : from;
  // From one `\` or `"` to the next (each found once: linear whatever the text).
  let nq = -2;
  let nb = -2;
  while (i < to) {
    if (nq !== -1 && nq < i) nq = text.indexOf('"', i);
    if (nb !== -1 && nb < i) nb = text.indexOf('\\', i);
    const q = nq < 0 || nq >= to ? to : nq;
    const b = nb < 0 || nb >= to ? to : nb;
    if (b < q) {
      if (b + 1 >= to) {
        pending = true;
        break;
      }
      i = b + 2; // the escaped character is passed over
    } else if (q < to) {
      open = !open;
      quoted = true;
      i = q + 1;
    } else break;
  }
  if (s.pending && from >= to) pending = true;
  return { length: s.length + (to - from), open, pending, quoted };
}

/**
 * A syslog line cut before its status, waiting for the rest (see `syslog` below): its access
 * text so far, and how many more messages of its tag may come before the rest does.
 */
interface SyslogPiece extends Kept {
  left: number;
  /**
   * Where the cut fell: 'before' the request line opened (the head is the whole first piece), in the
   * 'open' request line (the head keeps at most KEPT_REQUEST of it: the rest of the request is skipped,
   * up to its closing quote), or after it 'closed' (the head keeps at most KEPT_REQUEST of it);
   * 'swallow': a line too long to keep whose pieces are passed over until its last one; 'tail': a line
   * already read (its status was in its first piece, or a join completed it) cut inside a quoted
   * field after its status (a long referer or User-Agent): the messages that are more of it are
   * passed over, never read alone or kept as a cut line of their own (they start with text its
   * client wrote).
   */
  cut: 'before' | 'open' | 'closed' | 'swallow' | 'tail';
  /** 'open', 'swallow', 'tail': the next message's first character is escaped (the text so far ends in an odd run of `\`). */
  escaped: boolean;
  /** 'open', 'closed': where the request text starts in the head, and whether it was cut short. */
  request: number;
  capped: boolean;
  /**
   * A head longer than HEAD_KEPT characters (a message that long whose reason was read in its head,
   * or a request kept on after it): its first HEAD_KEPT characters are kept, and of the rest only what
   * an outcome reads of it (see Beyond); null when the head is kept whole.
   */
  beyond: Beyond | null;
}

/** A piece as cut from a message, before its place in the budget. */
type CutPiece = Omit<SyslogPiece, keyof Kept> & { head: string };

/**
 * Messages of a tag that are not the rest of its cut line after which the cut line is given up: each
 * costs a join, so it is small (a syslogd that drops the rest of long messages would otherwise make
 * every one of a client's cut lines cost that many joins of the following lines).
 */
const PIECE_HORIZON = 8;

/**
 * Characters of a request line kept in a cut line's head: more than the rules ever test of a path
 * (detect/path-pattern.ts MAX_PATH_TESTED, 32,768; a test checks it), so a cut never changes which
 * rule matches.
 */
export const KEPT_REQUEST = 40_960;

/** Skip reasons of a message that may be the first piece of a cut access line (its status unread). */
const CUT_REASONS: ReadonlySet<SkipReason> = new Set<SkipReason>(['truncated', 'bad-request', 'bad-time', 'bad-status', 'binary', 'bad-forwarded', 'unknown-format']);

/** Whether line[from, end), read from outside any quoted field, ends inside one, and ends in an escape there. */
function openField(line: string, from: number, end: number): { open: boolean; escaped: boolean } {
  let open = false;
  let i = from;
  for (; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c === 92) {
      if (i + 1 === end) return { open, escaped: open };
      i++;
    } else if (c === 34) open = !open;
  }
  return { open, escaped: false };
}

/** The text with every character hasBinary() objects to as `?`. */
function withoutBinary(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f\ufffd]/g, '?');
}

/**
 * Whether line[i, end) can start with what follows a request line's closing quote: ` <status> `, as
 * far as the message goes (the status itself may be cut).
 */
function statusMayFollow(line: string, i: number, end: number): boolean {
  if (i >= end) return true;
  if (line.charCodeAt(i) !== 32) return false;
  for (let k = 1; k <= 3; k++) {
    if (i + k >= end) return true;
    const d = line.charCodeAt(i + k);
    if (d < 48 || d > 57) return false;
  }
  return i + 4 >= end || line.charCodeAt(i + 4) === 32;
}

/** How many `\` end line[from, end), counted back from end. */
function trailingBackslashes(line: string, from: number, end: number): number {
  let n = 0;
  while (end - n > from && line.charCodeAt(end - n - 1) === 92) n++;
  return n;
}

/**
 * Fewest characters of access text a cut line has: every syslogd keeps at least ~480 bytes of a
 * message (RFC 5424 6.1), so a shorter line ending before its request was written short (a writer
 * that died), not cut, and waits for nothing.
 */
const MIN_CUT_LENGTH = 400;

/** End of the content: without a trailing LF and/or CR. */
function contentEnd(line: string): number {
  let e = line.length;
  if (e > 0 && line.charCodeAt(e - 1) === 10) e--;
  if (e > 0 && line.charCodeAt(e - 1) === 13) e--;
  return e;
}

/** A flat copy of text[start, end) (a kept slice would pin the whole chunk it was cut from). */
function flatCopy(text: string, start: number, end: number): string {
  return Buffer.from(text.slice(start, end), 'utf16le').toString('utf16le');
}

/** Start of the content: after a UTF-8 BOM (first line of a file). */
function contentStart(line: string): number {
  return line.charCodeAt(0) === 0xfeff ? 1 : 0;
}

/** Only spaces and tabs in line[start, end) (looked at as far as the head goes). */
function isBlank(line: string, start: number, end: number): boolean {
  const stop = end - start > MAX_HEAD_LENGTH ? start + MAX_HEAD_LENGTH : end;
  for (let i = start; i < stop; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

function broken(line: string, start: number, end: number, reason: SkipReason): SkipReason {
  return hasBinary(line, start, end - start > MAX_HEAD_LENGTH ? start + MAX_HEAD_LENGTH : end) ? 'binary' : reason;
}

/**
 * A wrapped line long enough to have been cut (by the splitter, or by the head the scanner reads)
 * whose access line ends before its status is 'too-long', like a plain one; a short one is 'truncated'.
 */
function longSkip(out: ParseOutcome, wrappedLength: number): ParseOutcome {
  return out === 'truncated' && wrappedLength >= MAX_HEAD_LENGTH ? 'too-long' : out;
}

export function createLineParser(format: LogFormat, opts: LineParserOptions = {}): LineParser {
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new BanhammerError('BH_ERR_CONFIG', `Unknown log format "${String(format)}"`, {
      hint: `Use one of: ${LOG_FORMATS.join(', ')}`,
      data: { format },
    });
  }
  const origin = opts.origin;
  const latin1 = opts.latin1 === true;
  const caches: ScanCaches = { ips: new AddressTable(), times: new ClfTimeCache() };
  const trusted = TrustedProxies.from(opts.trustedProxies);
  const autoAccess = createApacheScanner('auto', caches, trusted);

  /** Docker lines split over records, per stream, until their last record. */
  const continued = new Map<string, Continued>();

  /** Bytes counted for the lines in progress of both maps (at most MAX_KEPT_BYTES), and the clock of their updates. */
  let keptBytes = 0;
  let clock = 0;

  /**
   * Counts `e` again (its head changed; a head appended to often is copied flat first) and, over the
   * budget, lets the least recently started or updated line of either map go until it holds: never
   * `e` itself, the most recent (no line is larger than the budget).
   */
  const recount = (e: Kept): void => {
    if (e.parts > MAX_HEAD_PARTS) {
      e.head = flatCopy(e.head, 0, e.head.length);
      e.parts = 0;
    }
    const bytes = ENTRY_BYTES + 32 * e.parts + 2 * (e.key.length + e.head.length);
    keptBytes += bytes - e.bytes;
    e.bytes = bytes;
    while (keptBytes > MAX_KEPT_BYTES) {
      const c = continued.values().next();
      const q = pieces.values().next();
      const oldest: Kept | undefined = c.done === true ? q.value : q.done === true || c.value.at < q.value.at ? c.value : q.value;
      if (oldest === undefined || oldest === e) break;
      if (oldest === c.value) forget(continued, oldest.key);
      else forget(pieces, oldest.key);
    }
  };

  /**
   * Remembers `value` under `key` as the most recent entry of `map`; at the bound, the least recently
   * started or updated entry gives way (Map keeps insertion order: the first key is the oldest), one
   * entry at a time. A map that was cleared whole at the bound let anyone who can start lines (in host
   * mode a tenant names its syslog tags freely) wipe every other line in progress with one flood; now
   * an entry goes only once MAX_CONTINUED_STREAMS other keys were started or updated after it (or
   * MAX_KEPT_BYTES of lines were: recount). The key is kept flat (one cut from a line pins it).
   */
  const remember = <V extends Kept>(map: Map<string, V>, key: string, value: V): void => {
    forget(map, key);
    if (map.size >= MAX_CONTINUED_STREAMS) {
      const oldest = map.keys().next();
      if (oldest.done !== true) forget(map, oldest.value);
    }
    value.key = flatCopy(key, 0, key.length);
    value.at = ++clock;
    value.bytes = 0;
    map.set(value.key, value);
    recount(value);
  };

  /** Makes `value`'s entry of `map` the most recent one (it was just updated). */
  const touch = <V extends Kept>(map: Map<string, V>, value: V): void => {
    map.delete(value.key);
    value.at = ++clock;
    map.set(value.key, value);
  };

  /** Lets `key`'s entry of `map` go. */
  const forget = <V extends Kept>(map: Map<string, V>, key: string): void => {
    const v = map.get(key);
    if (v === undefined) return;
    keptBytes -= v.bytes;
    v.bytes = 0;
    map.delete(key);
  };

  /**
   * The outcome of a split Docker line so far. `open`: the access line goes on past `c.head`; `last`:
   * no record will be added. Only an event, a full head or the last record decide; else 'partial'.
   */
  const readContinued = (c: Continued, open: boolean, last: boolean): ParseOutcome => {
    if (c.done) return 'partial';
    const ie = contentEnd(c.head);
    const out = isBlank(c.head, 0, ie) ? (open ? 'truncated' : 'empty') : autoAccess(c.head, 0, ie, origin, open);
    if (typeof out === 'string' && !last && c.head.length <= MAX_HEAD_LENGTH) return 'partial';
    c.done = true;
    // The deciding record is a piece: evidence shows the line from its start (AccessEvent.joined).
    const head = c.head;
    if (typeof out !== 'string') (out as { joined?: string }).joined = head;
    // Nothing reads the head of a decided line again: it is not kept while the rest of its records come.
    c.head = '';
    c.parts = 0;
    if (continued.get(c.key) === c) recount(c);
    return longSkip(out, head.length);
  };

  /** A record after one without a newline: the rest of that line. */
  const continueLine = (c: Continued, record: string, line: string, start: number, end: number, stream: string): ParseOutcome => {
    const room = MAX_HEAD_LENGTH + 1 - c.head.length;
    const head = unwrapDockerJsonHead(record, c.done || room < 0 ? 0 : room, latin1);
    if (head === null) {
      forget(continued, stream);
      return broken(line, start, end, 'bad-wrapper');
    }
    if (!c.done && room > 0) {
      // A flat copy: the decoded text is cut from the record, which a kept slice would pin.
      c.head += flatCopy(head.text, 0, Math.min(head.text.length, room));
      c.parts++;
      recount(c);
    }
    if (head.partial) return readContinued(c, true, false);
    forget(continued, stream);
    return readContinued(c, head.cut, true);
  };

  /** The access line inside a Docker json-file record. */
  const dockerJson = (line: string, start: number, end: number, streamArg: string | undefined): ParseOutcome => {
    const record = start === 0 && end === line.length ? line : line.slice(start, end);
    // A split line goes on in the next record of its own Docker stream: stdout and stderr records of
    // one container interleave in its file, and a stderr record must neither end a stdout line (its
    // rest, read alone, starts inside a field the client wrote) nor be read as part of it.
    const stream = continued.size === 0 ? '' : `${streamArg ?? ''}\u0000${dockerStreamOf(record)}`;
    const c = continued.size === 0 ? undefined : continued.get(stream);
    if (c !== undefined) {
      touch(continued, c);
      return continueLine(c, record, line, start, end, stream);
    }
    // Decoded as far as needed: the first few KiB hold the status of nearly every line; a head that
    // does not is decoded again, further, up to MAX_HEAD_LENGTH (so a long record costs what its head
    // costs, and a short decode never decides a skip).
    for (let limit = FIRST_DECODE; ; limit = Math.min(limit * 8, MAX_HEAD_LENGTH)) {
      const head = unwrapDockerJsonHead(record, limit, latin1);
      if (head === null) return broken(line, start, end, 'bad-wrapper');
      if (head.partial) {
        // The first record of a split line: remember its head (all of it that can matter).
        // Decoded further, the record may turn out broken (a raw control character past the first limit).
        const whole = limit >= MAX_HEAD_LENGTH ? head : unwrapDockerJsonHead(record, MAX_HEAD_LENGTH, latin1);
        if (whole === null) return broken(line, start, end, 'bad-wrapper');
        // A flat copy (the decoded text is cut from the record), at most HEAD_KEPT characters (as decoded).
        const started: Continued = { head: flatCopy(whole.text, 0, Math.min(whole.text.length, HEAD_KEPT)), done: false, parts: 0, at: 0, bytes: 0, key: '' };
        remember(continued, stream !== '' ? stream : `${streamArg ?? ''}\u0000${dockerStreamOf(record)}`, started);
        return readContinued(started, true, false);
      }
      const inner = head.text;
      const ie = contentEnd(inner);
      const out = isBlank(inner, 0, ie) ? (head.cut ? 'truncated' : 'empty') : autoAccess(inner, 0, ie, origin, head.cut);
      // A cut head decides an event only once its tail (referer, User-Agent) is read or the head is full.
      if (!head.cut || limit >= MAX_HEAD_LENGTH || (typeof out !== 'string' && !(out instanceof ScannedEvent && out.tailOpen))) {
        return longSkip(out, end - start);
      }
    }
  };

  /**
   * The access line inside syslog framing; the tag becomes the origin.
   *
   * Docker's syslog driver sends a line longer than 16 KiB as several messages with nothing to tell
   * them apart. A piece after the first starts inside a field the client wrote (a referer, a
   * User-Agent), and could be a forged line naming anyone. Such a piece can never bring a request
   * field of its own: the server escapes every quote the client sends, so the "request" it seems to
   * have lies between two of the real line's quotes, the space that separates two quoted fields or
   * ` <status> <bytes> `. No server writes a request line that starts with a space, so a syslog line
   * whose request field does is a piece of a cut line: 'partial', never an event.
   *
   * That keeps the pieces after the first from naming anyone, but the cut line itself would be
   * lost: a client that pads its request (nginx writes a byte as `\xHH`, four characters) so that
   * the cut falls inside it, right after it or inside the status, would never have a failure counted.
   * A cut before the request line, in the first fields (the
   * user field, which nginx fills from any Basic Authorization header and escapes at up to four
   * characters a byte, so a client can make it longer than 16 KiB), leaves the next piece with the
   * real time, request and status behind a start the client wrote, `198.18.0.9 - - [`: a complete
   * line naming anyone, and the real client's failure lost. So a line cut before its status (a
   * truncated head of at least MIN_CUT_LENGTH characters, wherever the cut fell) is remembered per
   * stream, priority and tag ('partial'), and the next message of that key is read as its rest: the
   * joined text gives the line's outcome, for the client of the first piece, which the server wrote.
   * A message that cannot be the rest (an error-log line from stderr, in a file that lost the
   * priority) is read on its own; after PIECE_HORIZON of those the cut line is given up. Under a
   * syslogd that drops the rest of a long message, the next line of that tag is read as the rest of
   * the cut one: it counts for the client whose >= MIN_CUT_LENGTH-character first fields were cut
   * (no server writes those for an ordinary request), never for an address anyone wrote.
   */
  const syslog = (line: string, start: number, end: number, stream: string | undefined): ParseOutcome => {
    // The header is read within the head too (an unterminated structured-data block stops there).
    const frame = parseSyslogFrame(line, start, end - start > MAX_HEAD_LENGTH ? start + MAX_HEAD_LENGTH : end);
    if (frame === null) return broken(line, start, end, 'bad-wrapper');
    const tag = frame.tag ?? origin;
    let key: string | undefined;
    let waited = false;
    if (pieces.size > 0) {
      key = pieceKey(line, start, frame, stream);
      const piece = pieces.get(key);
      if (piece !== undefined) {
        touch(pieces, piece);
        const out = joinPiece(piece, key, line, frame.msgStart, end, tag);
        if (out !== null) return out;
        waited = true;
      }
    }
    if (isBlank(line, frame.msgStart, end)) return 'empty';
    const out = longSkip(autoAccess(line, frame.msgStart, end, tag, false), end - start);
    if (typeof out !== 'string') {
      const c = (out as AccessEvent & { readonly request?: string }).request?.charCodeAt(0);
      if (c === 32 || c === 9) return 'partial';
      if (end - frame.msgStart >= MIN_CUT_LENGTH) openTail(key ?? pieceKey(line, start, frame, stream), line, frame.msgStart, end);
      return out;
    }
    // Cut before its status was read: before its request line opens (in the client's field, %l or
    // %u, or the host, a list) or after (in the request, which a client makes as long as it likes,
    // its closing quote or the status itself). Whatever the cut left (a `]` in the user field reads as
    // a bad request, half a UTF-8 character as binary), the message is kept with what may follow.
    // Not while a cut line of its key waits: a message that is not that line's rest never takes its
    // place (it could be text its client wrote, and the next message would join onto it).
    if (!waited && CUT_REASONS.has(out) && end - frame.msgStart >= MIN_CUT_LENGTH) {
      remember(pieces, key ?? pieceKey(line, start, frame, stream), newPiece(cutPiece(line, frame.msgStart, end)));
      return 'partial';
    }
    return out;
  };

  /** The piece to keep of a message line[msgStart, end) cut before its status (a flat copy). */
  const cutPiece = (line: string, msgStart: number, end: number): CutPiece => {
    const q = findQuote(line, msgStart, end, true);
    if (q < 0) return { ...headOf(line, msgStart, end), left: PIECE_HORIZON, cut: 'before', escaped: false, request: 0, capped: false };
    const r = findQuote(line, q + 1, end, true);
    const requestEnd = r < 0 ? end : r;
    // The request text kept: at most KEPT_REQUEST characters; when cut short, never inside an escape.
    let keep = Math.min(requestEnd, q + 1 + KEPT_REQUEST);
    const capped = keep < requestEnd;
    if (capped && trailingBackslashes(line, q + 1, keep) % 2 === 1) keep--;
    const request = q + 1 - msgStart;
    if (r < 0) {
      return { ...headOf(line, msgStart, keep), left: PIECE_HORIZON, cut: 'open', escaped: trailingBackslashes(line, q + 1, end) % 2 === 1, request, capped };
    }
    const first = headOf(line, msgStart, keep);
    return { ...extend(first.head, first.beyond, line, r, end), left: PIECE_HORIZON, cut: 'closed', escaped: false, request, capped };
  };

  /** A new piece of `cut` in the budget (remember() places it). */
  const newPiece = (cut: CutPiece): SyslogPiece => ({ ...cut, parts: 0, at: 0, bytes: 0, key: '' });

  /** The head text[from, to): see extend(). */
  const headOf = (text: string, from: number, to: number): { head: string; beyond: Beyond | null } => extend('', null, text, from, to);

  /**
   * The head `head` (`beyond` as in SyslogPiece) with text[from, to) appended: a flat copy of at most
   * HEAD_KEPT characters, and beyond them the state of the rest.
   */
  const extend = (head: string, beyond: Beyond | null, text: string, from: number, to: number): { head: string; beyond: Beyond | null } => {
    if (beyond !== null) return { head, beyond: readOn(beyond, text, from, to) };
    const room = HEAD_KEPT - head.length;
    if (to - from <= room) return { head: head + flatCopy(text, from, to), beyond: null };
    const kept = head + flatCopy(text, from, from + room);
    return { head: kept, beyond: readOn(readOn(NOTHING_READ, kept, 0, kept.length), text, from + room, to) };
  };

  /** Appends text[from, to) to a kept piece's head. */
  const append = (piece: SyslogPiece, text: string, from: number, to: number): void => {
    if (to <= from) return;
    const next = extend(piece.head, piece.beyond, text, from, to);
    if (next.head !== piece.head) piece.parts++;
    piece.head = next.head;
    piece.beyond = next.beyond;
    recount(piece);
  };

  /** More of an 'open' piece's request, line[from, to), kept up to KEPT_REQUEST characters. */
  const keepRequest = (piece: SyslogPiece, line: string, from: number, to: number): void => {
    if (piece.capped) return;
    const room = KEPT_REQUEST - ((piece.beyond?.length ?? piece.head.length) - piece.request);
    if (to - from <= room) {
      append(piece, line, from, to);
      return;
    }
    append(piece, line, from, from + Math.max(0, room));
    // Never cut inside an escape: an odd run of `\` at the end of the request kept loses its last one
    // (the run is the head's own: the request opens after a quote).
    const b = piece.beyond;
    if (b === null) {
      if (trailingBackslashes(piece.head, piece.request, piece.head.length) % 2 === 1) {
        piece.head = flatCopy(piece.head, 0, piece.head.length - 1);
        piece.parts = 0;
        recount(piece);
      }
    } else if (b.pending) {
      piece.beyond = b.length - 1 === HEAD_KEPT ? null : { ...b, length: b.length - 1, pending: false };
    }
    piece.capped = true;
  };

  /**
   * Syslog lines cut before their request line, per stream, priority and tag (see `syslog`). The
   * priority tells a container's stdout from its stderr where the transport keeps it (Docker's driver
   * sends stderr at severity err); in a syslogd's file it is gone and a stderr message in between is
   * told apart by what it is (joinPiece).
   */
  const pieces = new Map<string, SyslogPiece>();

  const pieceKey = (line: string, start: number, frame: SyslogFrame, stream: string | undefined): string => {
    const gt = line.charCodeAt(start) === 60 ? line.indexOf('>', start) : -1;
    return `${stream ?? ''}\u0000${gt > start && gt < start + 5 ? line.slice(start + 1, gt) : ''}\u0000${frame.tag ?? ''}`;
  };

  /**
   * The message line[msgStart, end) read as the rest of the cut line `piece`: the joined line's
   * outcome, or null when the message is not that line's rest and is to be read on its own. What the
   * joined line says is what the server wrote (its client field came whole in the first piece); a
   * server's line read whole is an event, still cut (more pieces come: 'partial'), too long, or
   * refused whole ('bad-forwarded', 'not-client'); anything else (a quote or bracket of another
   * message, such as an error-log line from the container's stderr) says the message is not its rest.
   *
   * A line cut in its request is not joined until its rest comes: a message without a quote of its
   * own (the server escapes the client's) is more of the request and is passed over; the first one
   * with one is the rest only if that quote is followed by a status, as the server writes it.
   */
  const joinPiece = (piece: SyslogPiece, key: string, line: string, msgStart: number, end: number, tag: string | undefined): ParseOutcome | null => {
    if (piece.cut === 'swallow') return swallow(piece, key, line, msgStart, end);
    if (piece.cut === 'tail') return tail(piece, key, line, msgStart, end);
    let rest = msgStart;
    if (piece.cut === 'open') {
      const from = piece.escaped ? msgStart + 1 : msgStart;
      const q = findQuote(line, from, end, true);
      if (q < 0) {
        // All of it is more of the request.
        keepRequest(piece, line, msgStart, end);
        piece.escaped = trailingBackslashes(line, from, end) % 2 === 1;
        return 'partial';
      }
      if (!statusMayFollow(line, q + 1, end)) {
        if (--piece.left <= 0) forget(pieces, key);
        return null;
      }
      keepRequest(piece, line, msgStart, q);
      rest = q;
    }
    // The joined text is the line's first HEAD_KEPT characters. A head longer than that (`beyond`)
    // takes nothing of the message (the room was once negative here, and `line.slice(rest, rest +
    // room)` counted from the message's end: most of the message was appended, beyond the head):
    // the scanner reads its first HEAD_KEPT characters as it read the whole (its head, and a line
    // that goes on), and where the whole head's quotes are read, its state says what they say.
    const beyond = piece.beyond;
    const room = HEAD_KEPT - piece.head.length;
    const joined = beyond !== null ? piece.head : piece.head + (end - rest > room ? line.slice(rest, rest + room) : line.slice(rest, end));
    let out = autoAccess(joined, 0, joined.length, tag, false);
    if (typeof out !== 'string') {
      forget(pieces, key);
      openTail(key, joined, 0, joined.length, beyond);
      // The deciding message is a piece: evidence shows the line from its start (AccessEvent.joined).
      (out as { joined?: string }).joined = joined;
      return out;
    }
    // 'binary' hides why the text failed (a raw byte anywhere, half a UTF-8 character at a cut): the
    // reason without those characters says whether the line is still cut.
    if (out === 'binary') {
      const plain = withoutBinary(joined);
      const why = autoAccess(plain, 0, plain.length, tag, false);
      if (why === 'truncated') out = why;
    }
    // Still cut (its request may have opened in this message), or more of the first fields: a message
    // without a quote of its own cannot be a line of its own (every access line has its request's),
    // so it is kept with the piece whatever the joined text reads as, never read alone.
    if ((out === 'truncated' || (CUT_REASONS.has(out) && findQuote(line, msgStart, end, true) < 0)) && joined.length <= MAX_HEAD_LENGTH) {
      const next = cutPiece(joined, 0, joined.length);
      Object.assign(piece, next, { left: piece.left, parts: 0 });
      recount(piece);
      return 'partial';
    }
    if (out === 'truncated' || out === 'too-long' || joined.length > MAX_HEAD_LENGTH) {
      // Longer than any head kept: its later pieces are passed over rather than read alone (a piece
      // inside a user field, read alone, could name anyone).
      const quoted = beyond !== null ? beyond.quoted : findQuote(joined, 0, joined.length, true) >= 0;
      if (!quoted) {
        Object.assign(piece, { cut: 'swallow', head: '', escaped: false, request: 0, capped: false, beyond: null, parts: 0 });
        recount(piece);
        // This message, beyond what the head could take, may already open the request line.
        swallow(piece, key, line, rest, end);
      } else {
        // Its request line has opened: passed over as long as a quoted field stays open.
        forget(pieces, key);
        openTail(key, joined, 0, joined.length, beyond);
      }
      return 'too-long';
    }
    if (out === 'bad-forwarded' || out === 'not-client') {
      forget(pieces, key);
      return out;
    }
    if (--piece.left <= 0) forget(pieces, key);
    return null;
  };

  /**
   * A message of a line too long to keep, before its request line opened: more of its first fields
   * (no quote of its own) is passed over; the message that opens its request is passed over too, and
   * if it leaves a quoted field open the line goes on as a 'tail'.
   */
  const swallow = (piece: SyslogPiece, key: string, line: string, msgStart: number, end: number): ParseOutcome => {
    const from = piece.escaped ? msgStart + 1 : msgStart;
    if (findQuote(line, from, end, true) < 0) {
      piece.escaped = trailingBackslashes(line, from, end) % 2 === 1;
      return 'partial';
    }
    forget(pieces, key);
    openTail(key, line, from, end);
    return 'partial';
  };

  /**
   * After a line's text line[from, end) (read from outside any field): a 'tail' piece when a quoted
   * field is left open. `beyond`: the text is a head cut at HEAD_KEPT, and this the state of the whole.
   */
  const openTail = (key: string, line: string, from: number, end: number, beyond: Beyond | null = null): void => {
    const f = beyond !== null ? { open: beyond.open, escaped: beyond.open && beyond.pending } : openField(line, from, end);
    if (!f.open) return;
    remember(pieces, key, newPiece({ head: '', left: PIECE_HORIZON, cut: 'tail', escaped: f.escaped, request: 0, capped: false, beyond: null }));
  };

  /**
   * A message after a line cut inside a quoted field after its status: more of that field (no quote
   * of its own) is passed over; one whose first quote closes the field, followed by the end of the
   * message or the next field (` "`), is the rest of the line, passed over too (and, when it leaves
   * a field open again, the line goes on). Anything else is not its rest: read on its own.
   */
  const tail = (piece: SyslogPiece, key: string, line: string, msgStart: number, end: number): ParseOutcome | null => {
    const from = piece.escaped ? msgStart + 1 : msgStart;
    const q = findQuote(line, from, end, true);
    if (q < 0) {
      piece.escaped = trailingBackslashes(line, from, end) % 2 === 1;
      return 'partial';
    }
    forget(pieces, key);
    if (q + 1 < end && !(line.charCodeAt(q + 1) === 32 && line.charCodeAt(q + 2) === 34)) return null;
    openTail(key, line, q + 1, end);
    return 'partial';
  };

  /** Shared prelude: CR, BOM, blank lines; then `body` on the content. */
  const framed =
    (body: (line: string, start: number, end: number) => ParseOutcome) =>
    (line: string): ParseOutcome => {
      const end = contentEnd(line);
      const start = contentStart(line);
      if (end <= start || isBlank(line, start, end)) return 'empty';
      return body(line, start, end);
    };

  /** The same prelude for the one format whose lines depend on the stream (Docker's split lines). */
  const framedStream =
    (body: (line: string, start: number, end: number, stream: string | undefined) => ParseOutcome) =>
    (line: string, stream?: string): ParseOutcome => {
      const end = contentEnd(line);
      const start = contentStart(line);
      if (end <= start || isBlank(line, start, end)) return 'empty';
      return body(line, start, end, stream);
    };

  /**
   * `auto`'s outcome for line[start, end), which starts like a wrapper (`{`, `<digits>`; `syslog`: a
   * syslog header) and was read as one (`out`): when its framing is broken, it is read as the access
   * line it may be. In the host layout the first field is nginx's `$host`, the client's own Host
   * header, which may start with `<1>` or `{` (nginx refuses neither): read as a broken wrapper, every
   * line of a client sending such a Host was skipped ('bad-wrapper'), a ban escape. The access reading
   * is the one any other Host gets (the client is the second field, the peer), and a line with a
   * well-formed header (a syslog header, or a JSON record: its first field holds a `"`, which
   * nginx writes as \x22 in `$host` and Apache never has in `%v`) is never read that way.
   */
  const unframed = (out: ParseOutcome, line: string, start: number, end: number, syslogLike: boolean): ParseOutcome => {
    if (out !== 'bad-wrapper' && out !== 'binary') return out;
    const firstSpace = line.indexOf(' ', start);
    const firstEnd = firstSpace < 0 || firstSpace > end ? end : firstSpace;
    if (line.lastIndexOf('"', firstEnd - 1) >= start) return out;
    if (syslogLike && parseSyslogFrame(line, start, end - start > MAX_HEAD_LENGTH ? start + MAX_HEAD_LENGTH : end) !== null) return out;
    const access = autoAccess(line, start, end, origin, false);
    return typeof access === 'string' ? out : access;
  };

  /** A fixed access format: its own scanner; other recognisable shapes are 'unknown-format'. */
  const fixedAccess = (scan: AccessScanner): ((line: string) => ParseOutcome) =>
    framed((line, start, end) => {
      const out = scan(line, start, end, origin, false);
      if (out !== 'bad-address') return out;
      if (line.charCodeAt(start) === 123 || looksLikeSyslog(line, start)) return 'unknown-format';
      return typeof autoAccess(line, start, end, origin, false) === 'string' ? out : 'unknown-format';
    });

  const parser = build() as LineParser;
  parser.waiting = () => pieces.size;
  parser.resume = (before, stream) => {
    // Each Docker stream as its last record leaves it (see LineParser.resume).
    const last = new Map<string, string>();
    for (const line of before) {
      parser(line, stream);
      const start = contentStart(line);
      if (line.charCodeAt(start) === 123) {
        const record = line.slice(start, contentEnd(line));
        last.set(dockerStreamOf(record), record);
      }
    }
    for (const [s, record] of last) {
      const key = `${stream ?? ''}\u0000${s}`;
      forget(continued, key);
      // Its outcome stands as given: nothing of the line is read again, its records are 'partial' to its end.
      if (isPartialRecord(record, latin1)) remember(continued, key, { head: '', done: true, parts: 0, at: 0, bytes: 0, key: '' });
    }
  };
  return parser;

  function build(): Omit<LineParser, 'waiting' | 'resume'> {
    switch (format) {
      case 'auto': {
        const auto = (line: string, stream?: string): ParseOutcome => {
          const c0 = line.charCodeAt(0);
          // Hot path: an access line starting with an address digit (not an RFC 3339 syslog stamp).
          if (c0 >= 48 && c0 <= 57 && line.charCodeAt(4) !== 45) {
            return autoAccess(line, 0, contentEnd(line), origin, false);
          }
          if (c0 === 123) {
            const end = contentEnd(line);
            return unframed(dockerJson(line, 0, end, stream), line, 0, end, false);
          }
          const end = contentEnd(line);
          const start = contentStart(line);
          if (end <= start || isBlank(line, start, end)) return 'empty';
          if (looksLikeSyslog(line, start)) return unframed(syslog(line, start, end, stream), line, start, end, true);
          return autoAccess(line, start, end, origin, false);
        };
        return withRange(auto, (text, start, end, stream) => {
          // The hot path of `auto` on the line where it lies; anything else takes the per-line road.
          const c0 = text.charCodeAt(start);
          if (c0 >= 48 && c0 <= 57 && end - start > 4 && text.charCodeAt(start + 4) !== 45) {
            const e = text.charCodeAt(end - 1) === 13 ? end - 1 : end;
            return autoAccess(text, start, e, origin, false);
          }
          return auto(text.slice(start, end), stream);
        });
      }
      case 'apache-combined':
      case 'apache-common':
        return withRange(fixedAccess(createApacheScanner('plain', caches, trusted)));
      case 'apache-vhost-combined':
        return withRange(fixedAccess(createApacheScanner('vhost', caches, trusted)));
      case 'apache-host-combined':
        return withRange(fixedAccess(createApacheScanner('host', caches, trusted)));
      case 'nginx-combined':
        return withRange(fixedAccess(createNginxScanner(caches, 'plain', trusted)));
      case 'nginx-main':
        return withRange(fixedAccess(createNginxScanner(caches, 'plain', trusted, true)));
      case 'nginx-host-combined':
        return withRange(fixedAccess(createNginxScanner(caches, 'host', trusted)));
      case 'docker-json':
        return withRange(framedStream(
          (line, start, end, stream) =>
            line.charCodeAt(start) === 123 ? dockerJson(line, start, end, stream) : broken(line, start, end, 'unknown-format'),
        ));
      case 'syslog':
        return withRange(framedStream(
          (line, start, end, stream) =>
            looksLikeSyslog(line, start) ? syslog(line, start, end, stream) : broken(line, start, end, 'unknown-format'),
        ));
    }
  }
}
