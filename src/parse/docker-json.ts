/**
 * Docker's json-file log driver writes one JSON object per line of container output:
 *   {"log":"198.18.0.7 - - [10/Oct/2026:13:55:36 +0000] \"GET / HTTP/1.1\" 403 9\n","stream":"stdout","time":"…"}
 *
 * unwrapDockerJson() returns the `log` string with its trailing newline removed, or null when the line
 * is not such an object (the caller skips it as 'bad-wrapper'). The fast path finds the `log` value in
 * Docker's fixed key order and hands only that string literal to JSON.parse, which does the unescaping
 * (\" \\ \n \u003c …) correctly; anything else falls back to parsing the whole object. Never throws.
 * Docker's own `time` is ignored: the access line carries the request time.
 *
 * unwrapDockerJsonHead() is the parser's entry point. In Docker's key order (`{"log":"` first) it
 * decodes the `log` string itself, strictly (a bad escape, a raw control character, or anything but
 * `,` `}` or the end of the line after the closing quote is not Docker's JSON: null), and only as far
 * as the parser reads (maxChars + 1 characters), so the work per record is bounded by the head and
 * not by the record's length. A record that ends before its `log` string does (the line splitter kept
 * only the head of an overlong line, or the writer died mid-record) gives the part that is there, and
 * says the text is cut; so does a string longer than maxChars. Either way the text is an exact prefix
 * of the real `log` text, so the access scanner reads the same fields it would read in the whole
 * record and never anything after the status: a forged line in the User-Agent stays text, cut or not.
 * Other key orders are read by JSON.parse, whole (a record that is cut there is 'bad-wrapper').
 * It also says whether the record is `partial`: its whole `log` string is there and has no newline,
 * which is how Docker marks a piece of a line it split (line-parser.ts puts such lines together).
 */
import { findQuote } from './apache.js';

const PREFIX = '{"log":"';

/** The bytes of a Docker piece: it splits a line into records of 16,384 bytes (escapes only make their JSON text longer). */
const PIECE_BYTES = 16 * 1024;
/**
 * The fewest characters a Docker piece can be, in its JSON text or decoded: 5,462, when every
 * character takes three bytes in UTF-8. Shorter text is never a piece; longer text is measured.
 */
const MIN_PIECE_CHARS = Math.ceil(PIECE_BYTES / 3);

/**
 * Is a record's decoded `log` (other key orders, read by JSON.parse) at least a piece's bytes? Its
 * escapes decode alike either way, but `\u00e9` is one character and two bytes, which Latin-1 text
 * cannot tell from a raw 0xE9: read as Latin-1 (`latin1`), the record is measured as UTF-8 again.
 */
function decodedPieceSized(line: string, log: string, latin1: boolean): boolean {
  if (log.length < MIN_PIECE_CHARS) return false;
  if (!latin1) return pieceSized(log, 0, log.length, false);
  try {
    // (A byte order mark replay read as U+FEFF goes back to its three bytes first.)
    const bytes = Buffer.from(line.includes('\ufeff') ? line.replaceAll('\ufeff', '\u00ef\u00bb\u00bf') : line, 'latin1');
    const again = (JSON.parse(bytes.toString('utf8')) as { log?: unknown }).log;
    return typeof again === 'string' && Buffer.byteLength(again, 'utf8') >= PIECE_BYTES;
  } catch {
    return pieceSized(log, 0, log.length, true);
  }
}

/** How many times the character `c` is in text[from, to). */
function countOf(text: string, c: number, from: number, to: number): number {
  let n = 0;
  const ch = String.fromCharCode(c);
  for (let i = text.indexOf(ch, from); i >= 0 && i < to; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

/**
 * Is text[from, to) at least a piece's bytes? Measured in bytes of the file, so that the live agent
 * (which decodes its lines as UTF-8) and replay (which reads each byte as one Latin-1 character:
 * `latin1`) judge the same record alike: counted in characters, 3,000 "é" (6,000 bytes) were a
 * piece for one and a last line for the other.
 */
function pieceSized(text: string, from: number, to: number, latin1: boolean): boolean {
  const n = to - from;
  if (n < MIN_PIECE_CHARS) return false;
  if (n >= PIECE_BYTES) return true;
  // Read as Latin-1 each byte is a character, but for a byte order mark (EF BB BF), which replay
  // reads as the one character U+FEFF (read-lines.ts decodeLog).
  if (latin1) return n + 2 * countOf(text, 0xfeff, from, to) >= PIECE_BYTES;
  return Buffer.byteLength(from === 0 && to === text.length ? text : text.slice(from, to), 'utf8') >= PIECE_BYTES;
}

function stripNewline(s: string): string {
  let e = s.length;
  if (e > 0 && s.charCodeAt(e - 1) === 10) e--;
  if (e > 0 && s.charCodeAt(e - 1) === 13) e--;
  return e === s.length ? s : s.slice(0, e);
}

export function unwrapDockerJson(line: string): string | null {
  if (line.startsWith(PREFIX)) {
    const close = findQuote(line, PREFIX.length, line.length, true);
    if (close > 0) {
      const after = line.charCodeAt(close + 1);
      // `,` or `}` as Docker writes it, or nothing: a record cut right after its whole `log` string.
      if (after === 44 /* , */ || after === 125 /* } */ || close + 1 === line.length) {
        try {
          const v: unknown = JSON.parse(line.slice(PREFIX.length - 1, close + 1));
          if (typeof v === 'string') return stripNewline(v);
        } catch {
          // fall through to the full parse
        }
      }
    }
  }
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const log = (obj as { log?: unknown }).log;
  return typeof log === 'string' ? stripNewline(log) : null;
}

/** The `log` text of a record, or the head of it when the record is cut (see unwrapDockerJsonHead). */
export interface DockerLogHead {
  /** The `log` value, without its trailing newline; its first maxChars + 1 characters at most. */
  readonly text: string;
  /**
   * Only the beginning of the `log` value is in `text`: the record ended before the string did, or
   * the string is longer than maxChars.
   */
  readonly cut: boolean;
  /**
   * The whole `log` string was there, is long enough to be a 16 KiB piece, and does not end with a
   * newline: Docker's mark of a record whose line goes on in the next record (its log copier splits
   * lines longer than 16 KiB into records of exactly 16 KiB, and writes the newline only with the last
   * one). A shorter record without a newline (a last line without one, another producer) is a line.
   */
  readonly partial: boolean;
}

/**
 * The `log` text of a Docker json-file record, whole or cut short (then `cut`); null when the line is
 * not such a record. At most maxChars + 1 characters are decoded.
 */
export function unwrapDockerJsonHead(line: string, maxChars: number, latin1 = false): DockerLogHead | null {
  if (line.startsWith(PREFIX)) {
    const close = findQuote(line, PREFIX.length, line.length, true);
    if (close < 0) return decodeHead(line, PREFIX.length, line.length, maxChars, false);
    const after = line.charCodeAt(close + 1);
    // `,` or `}` as Docker writes it, or nothing: a record cut right after its whole `log` string.
    if (!(after === 44 /* , */ || after === 125 /* } */ || close + 1 === line.length)) return null;
    const partial = pieceSized(line, PREFIX.length, close, latin1) && !endsWithNewlineEscape(line, PREFIX.length, close);
    return decodeHead(line, PREFIX.length, close, maxChars, partial);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const log = (obj as { log?: unknown }).log;
  if (typeof log !== 'string') return null;
  return { text: stripNewline(log), cut: false, partial: log.charCodeAt(log.length - 1) !== 10 && decodedPieceSized(line, log, latin1) };
}

/** Does the JSON string text line[from, to) end with the escape `\n` (an odd run of backslashes, then n)? */
function endsWithNewlineEscape(line: string, from: number, to: number): boolean {
  if (to - from < 2 || line.charCodeAt(to - 1) !== 110) return false;
  let n = 0;
  for (let k = to - 2; k >= from && line.charCodeAt(k) === 92; k--) n++;
  return (n & 1) === 1;
}

/** The value of one hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Decodes the JSON string text line[from, to) (no unescaped quote in it: `to` is the closing quote, or
 * the end of a record cut short): all of it, without a trailing newline, when it is at most maxChars
 * characters long and closed; otherwise its first characters (up to maxChars + 1, stopping before an
 * escape cut in two) as a cut head. `partial` (known only for a closed string) is passed through. null
 * when it is not JSON string text (a bad escape, a raw control character).
 */
function decodeHead(line: string, from: number, to: number, maxChars: number, partial: boolean): DockerLogHead | null {
  const closed = to < line.length && line.charCodeAt(to) === 34;
  // A closed string no longer than maxChars decodes whole (its text is never longer than its JSON):
  // in one native parse, which reads escapes as the loop below does and refuses what it refuses (a
  // bad escape, a raw control character).
  if (closed && to - from <= maxChars) {
    const backslash = line.indexOf('\\', from);
    if (backslash < 0 || backslash >= to) {
      for (let k = from; k < to; k++) if (line.charCodeAt(k) < 32) return null;
      return { text: stripNewline(line.slice(from, to)), cut: false, partial };
    }
    let v: unknown;
    try {
      v = JSON.parse(line.slice(from - 1, to + 1));
    } catch {
      return null;
    }
    return typeof v === 'string' ? { text: stripNewline(v), cut: false, partial } : null;
  }
  // Otherwise a head: read here as far as it goes (escapes checked and counted, nothing built), then
  // what was read decoded at once. Built piece by piece, a field dense in escapes (`\\\"`, Apache's
  // `\"` in JSON) made a string of thousands of pieces (0.6 ms for an 8 KiB path of them).
  let outLength = 0;
  let run = from;
  let i = from;
  let escapes = false;
  while (i < to && outLength + (i - run) <= maxChars) {
    const c = line.charCodeAt(i);
    if (c < 32) return null;
    if (c !== 92) {
      i++;
      continue;
    }
    outLength += i - run;
    run = i;
    if (i + 1 >= to) break; // cut inside an escape
    let len = 2;
    switch (line.charCodeAt(i + 1)) {
      case 34: case 92: case 47: case 98: case 102: case 110: case 114: case 116:
        break;
      case 117: {
        for (let k = 2; k < 6; k++) {
          if (i + k >= to) return closed ? null : { text: decoded(line, from, i, escapes), cut: true, partial }; // cut inside \uXXXX
          if (hexValue(line.charCodeAt(i + k)) < 0) return null;
        }
        len = 6;
        break;
      }
      default:
        return null;
    }
    escapes = true;
    outLength++;
    i += len;
    run = i;
  }
  const out = decoded(line, from, i, escapes);
  if (i >= to && closed) return { text: stripNewline(out), cut: false, partial };
  // Only a head: the record was cut short, or the string is longer than maxChars (then whether the
  // record is continued in the next one is still known).
  return { text: out, cut: true, partial };
}

/** The JSON string text line[from, to), checked already (whole escapes, no control character), decoded. */
function decoded(line: string, from: number, to: number, escapes: boolean): string {
  return escapes ? (JSON.parse(`"${line.slice(from, to)}"`) as string) : line.slice(from, to);
}

/**
 * The record's Docker stream (`stdout`, `stderr`), '' when it names none. Docker's log copier reads
 * each of a container's pipes in its own goroutine, so a stderr record can stand between two pieces
 * of a stdout line: the pieces of a line are those of one stream. The key `"stream":"` is found with
 * one native search, and only a real key matches: inside a JSON string every `"` follows a backslash,
 * and here one follows a letter.
 */
export function dockerStreamOf(record: string): string {
  const k = record.indexOf('"stream":"');
  if (k < 0) return '';
  const s = k + 10;
  const e = record.indexOf('"', s);
  return e < 0 || e - s > 16 ? '' : record.slice(s, e);
}

/**
 * Is `line` a Docker json-file record whose line goes on in the next record (see DockerLogHead)? For
 * readers that cut a log into pieces (parallel replay): a cut right after such a record would split a
 * line; the parser itself tells the same from the records it reads. `latin1`: the line is the file's
 * bytes read one character each (replay).
 */
export function isPartialRecord(line: string, latin1 = false): boolean {
  if (line.charCodeAt(0) !== 123) return false;
  const h = unwrapDockerJsonHead(line, 0, latin1);
  return h !== null && h.partial;
}
