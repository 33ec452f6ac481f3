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
 * unwrapDockerJsonHead() is the parser's entry point: the same for a whole record, and for a record
 * that ends before its `log` string does (the line splitter kept only the head of an overlong line, or
 * the writer died mid-record) it decodes the part of the string that is there, in Docker's key order
 * only (`{"log":"` first), strictly (a bad escape or a raw control character is not JSON: null), and
 * says the text is cut. The decoded head is an exact prefix of the real `log` text, so the access
 * scanner reads the same fields it would read in the whole record and never anything after the
 * status: a forged line in the User-Agent stays text, cut or not.
 */
import { findQuote } from './apache.js';

const PREFIX = '{"log":"';

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
  /** The `log` value, without its trailing newline when whole; its first maxChars + 1 characters at most. */
  readonly text: string;
  /** The record ended before its `log` string did: `text` is only the beginning of the access line. */
  readonly cut: boolean;
}

/**
 * The `log` text of a Docker json-file record, whole or cut short (then `cut`); null when the line is
 * not such a record. At most maxChars + 1 characters of a cut record are decoded.
 */
export function unwrapDockerJsonHead(line: string, maxChars: number): DockerLogHead | null {
  if (line.startsWith(PREFIX) && findQuote(line, PREFIX.length, line.length, true) < 0) {
    return decodeHead(line, PREFIX.length, maxChars);
  }
  const text = unwrapDockerJson(line);
  return text === null ? null : { text, cut: false };
}

/** The value of one hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Decodes the JSON string text starting at `from` that has no closing quote before the end of `line`:
 * up to maxChars + 1 characters, stopping before an escape that was cut in two. null when it is not JSON
 * string text (a bad escape, a raw control character or a quote, which findQuote said is not there).
 */
function decodeHead(line: string, from: number, maxChars: number): DockerLogHead | null {
  let out = '';
  let run = from;
  let i = from;
  const n = line.length;
  while (i < n && out.length + (i - run) <= maxChars) {
    const c = line.charCodeAt(i);
    if (c < 32 || c === 34) return null;
    if (c !== 92) {
      i++;
      continue;
    }
    out += line.slice(run, i);
    run = i;
    const e = line.charCodeAt(i + 1);
    if (i + 1 >= n) break;
    let ch: string;
    let len = 2;
    switch (e) {
      case 34: ch = '"'; break;
      case 92: ch = '\\'; break;
      case 47: ch = '/'; break;
      case 98: ch = '\b'; break;
      case 102: ch = '\f'; break;
      case 110: ch = '\n'; break;
      case 114: ch = '\r'; break;
      case 116: ch = '\t'; break;
      case 117: {
        let v = 0;
        for (let k = 2; k < 6; k++) {
          if (i + k >= n) return { text: out, cut: true }; // cut inside \uXXXX
          const h = hexValue(line.charCodeAt(i + k));
          if (h < 0) return null;
          v = v * 16 + h;
        }
        ch = String.fromCharCode(v);
        len = 6;
        break;
      }
      default:
        return null;
    }
    out += ch;
    i += len;
    run = i;
  }
  if (i > run) out += line.slice(run, i);
  return { text: out, cut: true };
}
