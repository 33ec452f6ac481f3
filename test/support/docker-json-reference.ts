/**
 * Plain definitions of what the parser's escape handling must answer, as test references
 * (test/unit/parse/escape-dense.test.ts, test/unit/review-h50/docker-head-boundaries.test.ts): the
 * first unescaped quote, and the Docker json-file decode as it was written before cb7c8a0 (one
 * character or escape at a time).
 */

/** The first `"` in [from, end) after an even run of backslashes (counted back to `from`), or -1. */
export function referenceFindQuote(line: string, from: number, end: number = line.length): number {
  for (let i = from; i < end; i++) {
    if (line[i] !== '"') continue;
    let n = 0;
    for (let k = i - 1; k >= from && line[k] === '\\'; k--) n++;
    if (n % 2 === 0) return i;
  }
  return -1;
}

/**
 * The text of the JSON string line[from, to) as ba8101b's decodeHead read it: its first maxChars + 1
 * characters at most, stopping before an escape cut at `to`; null for a raw control character or a
 * bad escape read on the way.
 */
export function referenceDecode(line: string, from: number, to: number, maxChars: number): { text: string; cut: boolean } | null {
  const closed = to < line.length && line[to] === '"';
  const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  let out = '';
  let run = from;
  let i = from;
  while (i < to && out.length + (i - run) <= maxChars) {
    const c = line.charCodeAt(i);
    if (c < 32) return null;
    if (c !== 92) {
      i++;
      continue;
    }
    out += line.slice(run, i);
    run = i;
    if (i + 1 >= to) break;
    const e = line[i + 1]!;
    let len = 2;
    if (e in simple) out += simple[e];
    else if (e === 'u') {
      for (let k = 2; k < 6; k++) {
        if (i + k >= to) return closed ? null : { text: out, cut: true };
        if (!/^[0-9a-fA-F]$/.test(line[i + k]!)) return null;
      }
      out += String.fromCharCode(parseInt(line.slice(i + 2, i + 6), 16));
      len = 6;
    } else return null;
    i += len;
    run = i;
  }
  if (i > run) out += line.slice(run, i);
  if (i >= to && closed) return { text: out.replace(/\r?\n$/, '').replace(/\r$/, ''), cut: false };
  return { text: out, cut: true };
}
