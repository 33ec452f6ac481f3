/**
 * Docker's json-file log driver writes one JSON object per line of container output:
 *   {"log":"198.18.0.7 - - [10/Oct/2026:13:55:36 +0000] \"GET / HTTP/1.1\" 403 9\n","stream":"stdout","time":"…"}
 *
 * unwrapDockerJson() returns the `log` string with its trailing newline removed, or null when the line
 * is not such an object (the caller skips it as 'bad-wrapper'). The fast path finds the `log` value in
 * Docker's fixed key order and hands only that string literal to JSON.parse, which does the unescaping
 * (\" \\ \n \u003c …) correctly; anything else falls back to parsing the whole object. Never throws.
 * Docker's own `time` is ignored: the access line carries the request time.
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
      if (after === 44 /* , */ || after === 125 /* } */) {
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
