/**
 * The parallel half of replay: parse one span of a log and match each event against the rules
 * (detect/rule-matcher.ts), with the line counts. Counting needs every matching event in log order,
 * so it stays on the main thread; parsing and matching, nearly all of the work, run on several cores.
 *
 * A span's events are handed back as columns of typed arrays (moved, not copied, across the worker
 * boundary): per event its address (an index into the span's own address table), time, family and
 * origin, the rules it matched (a bit mask) and its path's hash for distinct-paths rules. A rule that
 * counts every request (request-flood) makes that every event of the file: a few bytes each.
 *
 * A span's edges are moved past the rest of a Docker line split over several json-file records (a
 * record without a newline and those that follow it, see parse/line-parser.ts), so that such a line
 * is read whole by one span: read from a span's start, its later records would be lines of their own,
 * and one of them can be a forged access line. The pieces of a line are those of one Docker stream,
 * and a record of the other stream may stand between them (see openDockerStreams). Both spans at an
 * edge work out the same new edge from the file, so every line is still read exactly once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { LogFormat, SkipReason } from '../parse/access-event.js';
import { SKIP_REASONS, isSkip, type AccessEvent } from '../parse/access-event.js';
import { dockerStreamOf, isPartialRecord } from '../parse/docker-json.js';
import { createLineParser, type LineParser } from '../parse/line-parser.js';
import { flatAscii } from '../parse/timestamp.js';
import { looksLikeSyslog } from '../parse/syslog.js';
import { compileRule, type CompiledRule, type RuleSettings } from '../detect/rule.js';
import { RuleMatcher } from '../detect/rule-matcher.js';
import { decodeLog, readLineRanges } from './read-lines.js';

export interface SpanJob {
  readonly path: string;
  readonly from: number;
  readonly to: number;
  readonly format: LogFormat;
  /** The trusted proxies (config trustedProxies), for X-Forwarded-For (parse/apache.ts). */
  readonly trustedProxies?: readonly string[];
  /** The rules that run, in the order of the main thread's detector. */
  readonly rules: readonly (readonly [string, RuleSettings])[];
  /** The seed of path hashes (distinct-paths rules): the main thread's, so every thread's hashes agree. */
  readonly pathSeed?: number;
}

/** The events of a span some rule matched, in file order, as columns (see above). */
export interface SpanResult extends LineCounts {
  /** Events held (the columns may be longer). */
  count: number;
  /** The span's addresses; ipIds index it. */
  ips: string[];
  /** The span's origins (container names); an origin id n > 0 is origins[n - 1]. */
  origins: string[];
  ipIds: Int32Array;
  times: Float64Array;
  /** Bit 0: IPv6; the bits above: the origin id (0: none). */
  meta: Uint32Array;
  /** The hash of the path (distinct-paths rules), -1 when no such rule matched. */
  hashes: Float64Array;
  /** 32-bit words of rule bits per event: masks[e * words + (i >> 5)] bit (i & 31) is rule i. */
  words: number;
  masks: Uint32Array;
}

export interface LineCounts {
  lines: number;
  parsed: number;
  skipReasons: Record<SkipReason, number>;
}

/**
 * Reads a span of a log, parses every line, counts lines, events and skips, and hands each event on
 * (with the line it was parsed from: text[start, end), for replay --explain's evidence).
 */
export async function parseSpan(
  path: string,
  span: { from: number; to: number },
  parse: LineParser,
  onEvent: (ev: AccessEvent, text: string, start: number, end: number) => void,
  /** Bytes of the span read so far, after each read (progress). */
  onRead?: (bytes: number) => void,
): Promise<LineCounts> {
  const counts: LineCounts = {
    lines: 0,
    parsed: 0,
    skipReasons: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>,
  };
  const edges = ownLineEdges(path, span);
  let read = 0;
  await readLineRanges(
    path,
    (text, start, end) => {
      counts.lines++;
      const out = parse.range(text, start, end, path);
      if (isSkip(out)) {
        counts.skipReasons[out]++;
        return;
      }
      counts.parsed++;
      onEvent(out, text, start, end);
    },
    edges,
    (bytes) => {
      read = bytes;
      onRead?.(bytes);
    },
    // Lines with raw UTF-8 are read as the live agent reads them (read-lines.ts: utf8).
    true,
  );
  // A span ends where the file ended when the replay began: a file that ends before that was cut
  // short (truncated or replaced) while being read, and the report would silently miss its lines.
  if (Number.isFinite(edges.to) && read < edges.to - edges.from) {
    throw new Error(`the file shrank while it was replayed: it ends at byte ${edges.from + read}, before byte ${edges.to} (truncated or replaced?)`);
  }
  return counts;
}

/**
 * The rules of the last spans scanned on this thread, compiled, with their matcher: a replay sends
 * the same rules with every span, and compiling every preset and building the prefilter's scanners
 * took 0.1–0.2 s per span (a 1 GB log is dozens of spans). The matcher also keeps what it learnt of
 * the file's targets and headers (TargetFacts) from span to span. Two spans in flight on one thread
 * share it safely: a span matches an event and reads the answer with no await in between.
 */
let compiled: { readonly key: string; readonly rules: CompiledRule[]; readonly matcher: RuleMatcher } | null = null;

function compiledRules(list: SpanJob['rules'], pathSeed: number | undefined): { rules: CompiledRule[]; matcher: RuleMatcher } {
  const key = `${pathSeed ?? ''} ${JSON.stringify(list)}`;
  if (compiled === null || compiled.key !== key) {
    // The main thread's loaded Config checked every pattern (compileRule's `checked`).
    const rules = list.map(([n, s]) => compileRule(n, s, true));
    compiled = { key, rules, matcher: new RuleMatcher(rules, pathSeed) };
  }
  return compiled;
}

export async function scanSpan(job: SpanJob, onRead?: (bytes: number) => void): Promise<SpanResult> {
  const { rules, matcher } = compiledRules(job.rules, job.pathSeed);
  const distinct = Uint8Array.from(rules, (r) => (r.settings.count === 'distinct-paths' ? 1 : 0));
  const words = Math.max(1, Math.ceil(rules.length / 32));
  const ipIndex = new Map<string, number>();
  const ips: string[] = [];
  const originIndex = new Map<string, number>();
  const origins: string[] = [];
  // Grown by doubling: a span with few matching events (most, with the default rules) stays small.
  let cap = 1 << 10;
  let count = 0;
  let ipIds = new Int32Array(cap);
  let times = new Float64Array(cap);
  let meta = new Uint32Array(cap);
  let hashes = new Float64Array(cap);
  let masks = new Uint32Array(cap * words);
  const grow = (): void => {
    cap *= 2;
    const more = <T extends Int32Array | Float64Array | Uint32Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    ipIds = more(ipIds, cap);
    times = more(times, cap);
    meta = more(meta, cap);
    hashes = more(hashes, cap);
    masks = more(masks, cap * words);
  };
  const counts = await parseSpan(job.path, job, createLineParser(job.format, { trustedProxies: job.trustedProxies, latin1: true }), (ev) => {
    const n = matcher.match(ev);
    if (n === 0) return;
    if (count === cap) grow();
    const ip = ev.ip;
    let id = ipIndex.get(ip);
    if (id === undefined) {
      id = ips.length;
      // Kept until the span is done, so copied: a slice would pin its 64 KiB piece.
      const flat = flatAscii(ip);
      ips.push(flat);
      ipIndex.set(flat, id);
    }
    let origin = 0;
    if (ev.origin !== undefined) {
      let o = originIndex.get(ev.origin);
      if (o === undefined) {
        o = origins.length + 1;
        // A tag is Latin-1 text, but for a byte order mark read as U+FEFF (read-lines.ts): copied whole.
        const flat = /[^\u0000-\u00ff]/.test(ev.origin) ? Buffer.from(ev.origin, 'utf16le').toString('utf16le') : flatAscii(ev.origin);
        origins.push(flat);
        originIndex.set(flat, o);
      }
      origin = o;
    }
    ipIds[count] = id;
    times[count] = ev.time;
    meta[count] = (ev.family === 6 ? 1 : 0) | (origin << 1);
    let hash = -1;
    const m = matcher.matched;
    const base = count * words;
    for (let k = 0; k < n; k++) {
      const i = m[k]!;
      masks[base + (i >>> 5)]! |= 1 << (i & 31);
      if (distinct[i] === 1 && hash < 0) hash = matcher.pathHash();
    }
    hashes[count] = hash;
    count++;
  });
  return { ...counts, count, ips, origins, ipIds, times, meta, hashes, words, masks };
}

/** The transferable buffers of a span's result (moved to the main thread, not copied). */
export function spanBuffers(r: SpanResult): ArrayBuffer[] {
  return [r.ipIds.buffer, r.times.buffer, r.meta.buffer, r.hashes.buffer, r.masks.buffer] as ArrayBuffer[];
}

/** Longest line read whole here, as in read-lines.ts (a longer one reaches the parser as its head). */
const WHOLE_LINE = 2 << 20;

/** The span with each edge moved past the rest of a Docker line split over records (see above). */
function ownLineEdges(path: string, span: { from: number; to: number }): { from: number; to: number } {
  if (span.from === 0 && span.to === Number.POSITIVE_INFINITY) return span;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    return { from: lineEdge(fd, size, span.from), to: span.to === Number.POSITIVE_INFINITY ? span.to : lineEdge(fd, size, span.to) };
  } finally {
    closeSync(fd);
  }
}

/**
 * `pos` (a line start) moved past the lines that belong with the one before it, if any: they go to
 * the span before the edge. Those are the records up to the end of every Docker line split before
 * it (of either stream: a stderr record between two pieces of a stdout line does not end it), and
 * the messages that complete a syslog line cut before its status (line-parser.ts `syslog`: the line
 * counts for its client only when read with its rest, and its rest read alone could name anyone).
 * splitSpans() cuts the file with it too, so a chain is walked once when the file is split and the
 * spans' own check is one read.
 */
export function lineEdge(fd: number, size: number, pos: number): number {
  if (pos <= 0 || pos >= size) return pos;
  const before = lineBefore(fd, pos) ?? '';
  const open = openDockerStreams(fd, pos, before);
  if (open !== null) {
    // Read through one buffer: a line Docker split into thousands of 16 KiB records is one pass over
    // its bytes, not a 2 MiB read per record (that made a 64 MiB line take seconds per edge).
    // Records of the other stream may stand between the pieces (and start split lines of their
    // own): the edge goes where no stream has a line in progress.
    const read = chunkedLines(fd, size);
    for (;;) {
      const { line, next } = read(pos);
      pos = next;
      const record = line === null ? null : dockerRecord(line);
      if (record !== null) {
        const s = dockerStreamOf(record);
        if (isPartialRecord(record, true)) open.add(s);
        else open.delete(s);
      }
      if (pos >= size || open.size === 0) return pos;
    }
  }
  const cut = waitingSyslogPiece(fd, pos, before);
  if (cut === null) return pos;
  const read = chunkedLines(fd, size);
  for (let n = 0; n < MAX_EDGE_MESSAGES; n++) {
    const { line, next } = read(pos);
    pos = next;
    cut(line ?? '');
    if (pos >= size || cut.waiting() === 0) return pos;
  }
  return pos;
}

/**
 * The Docker streams (stdout, stderr) whose line is still in progress at `pos` (their last record
 * before it is a piece of a split line: see isPartialRecord), as the parser reading the file from
 * its start holds them (line-parser.ts keys split lines per stream: Docker copies stdout and stderr
 * in two goroutines, so a record of one can stand between the pieces of a line of the other); null
 * when none is. `before`: the line just before `pos`; only in a json-file log (it is a record) are
 * the lines before it read again, up to CHAIN_LINES of them, until both streams are seen.
 */
function openDockerStreams(fd: number, pos: number, before: string): Set<string> | null {
  if (dockerRecord(before) === null) return null;
  // Most edges see both streams in the last few records: a small window first, the whole one if not.
  for (const bytes of [256 << 10, CHAIN_BYTES]) {
    const seen = new Set<string>();
    const open = new Set<string>();
    const lines = linesBefore(fd, pos, bytes);
    for (let i = lines.length - 1; i >= 0 && !(seen.has('stdout') && seen.has('stderr')); i--) {
      const record = dockerRecord(lines[i]!);
      if (record === null) continue;
      const s = dockerStreamOf(record);
      if (seen.has(s)) continue;
      seen.add(s);
      if (isPartialRecord(record, true)) open.add(s);
    }
    if ((seen.has('stdout') && seen.has('stderr')) || bytes >= CHAIN_BYTES || pos - 1 <= bytes) return open.size > 0 ? open : null;
  }
  return null;
}

/** The line as a json-file record (after a BOM, which the docker-json parser skips), or null when it is none. */
function dockerRecord(line: string): string | null {
  const c = line.charCodeAt(0);
  if (c === 123) return line;
  return c === 0xfeff && line.charCodeAt(1) === 123 ? line.slice(1) : null;
}

/**
 * Messages walked past an edge at most for a cut syslog line's rest (the parser gives a cut line up
 * after a few messages of its tag that are not its rest; other tags' messages in between are rare).
 */
const MAX_EDGE_MESSAGES = 4096;

/**
 * Lines before an edge read again to know what the parser holds there: a cut line's pieces, and the
 * messages of other tags between them.
 */
const CHAIN_LINES = 4096;
const CHAIN_BYTES = 2 << 20;

/**
 * A parser in the state a reader of the lines before `pos` would be in, when it holds a syslog line
 * cut before its status (waiting for its rest), or null. `before`: the line just before `pos`; only
 * in a syslog file are the lines before it read again (up to CHAIN_LINES of them: the first pieces
 * of a line cut several times, and other tags' messages in between).
 */
function waitingSyslogPiece(fd: number, pos: number, before: string): LineParser | null {
  if (!looksLikeSyslog(before, before.charCodeAt(0) === 0xfeff ? 1 : 0)) return null;
  const p = createLineParser('syslog');
  for (const line of linesBefore(fd, pos)) p(line);
  return p.waiting() > 0 ? p : null;
}

/** The last (at most CHAIN_LINES) whole lines in the `bytes` (CHAIN_BYTES) before the newline at pos - 1, in order (Latin-1 but for a BOM, as read-lines.ts reads them; without CR). */
function linesBefore(fd: number, pos: number, bytes = CHAIN_BYTES): string[] {
  const from = Math.max(0, pos - 1 - bytes);
  const buf = Buffer.allocUnsafe(pos - 1 - from);
  const got = readSync(fd, buf, 0, buf.length, from);
  const lines = decodeLog(buf, 0, got).split('\n');
  // The first is cut unless the window starts the file.
  if (from > 0) lines.shift();
  return lines.slice(-CHAIN_LINES).map((l) => (l.charCodeAt(l.length - 1) === 13 ? l.slice(0, -1) : l));
}

/** The line that ends with the newline at pos - 1 (as read-lines.ts reads it, without CR), or null when longer than WHOLE_LINE. */
function lineBefore(fd: number, pos: number): string | null {
  const from = Math.max(0, pos - 1 - WHOLE_LINE - 1);
  const buf = Buffer.allocUnsafe(pos - 1 - from);
  const got = readSync(fd, buf, 0, buf.length, from);
  const nl = buf.subarray(0, got).lastIndexOf(10);
  if (nl < 0 && from > 0) return null;
  const line = decodeLog(buf, nl + 1, got);
  if (line.length > WHOLE_LINE) return null;
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

/** lineAt() for lines read in order: complete lines are cut from a buffer of the bytes after the last read. */
function chunkedLines(fd: number, size: number): (pos: number) => { line: string | null; next: number } {
  const buf = Buffer.allocUnsafe(256 << 10);
  let start = 0;
  let len = 0;
  const cut = (from: number, nl: number, pos: number): { line: string; next: number } => {
    const line = decodeLog(buf, from, nl);
    return { line: line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, next: pos + (nl - from) + 1 };
  };
  return (pos) => {
    if (pos >= start && pos < start + len) {
      const nl = buf.indexOf(10, pos - start);
      if (nl >= 0 && nl < len) return cut(pos - start, nl, pos);
    }
    start = pos;
    len = readSync(fd, buf, 0, Math.min(buf.length, Math.max(0, size - pos)), pos);
    const nl = buf.subarray(0, len).indexOf(10);
    if (nl >= 0) return cut(0, nl, pos);
    // No newline in the buffer: the last line of the file, or a long one (read as before).
    len = 0;
    return lineAt(fd, pos, size);
  };
}

/** The line that starts at pos (null when longer than WHOLE_LINE) and where the next one starts. */
function lineAt(fd: number, pos: number, size: number): { line: string | null; next: number } {
  const buf = Buffer.allocUnsafe(Math.min(WHOLE_LINE + 1, size - pos));
  const got = readSync(fd, buf, 0, buf.length, pos);
  const nl = buf.subarray(0, got).indexOf(10);
  if (nl >= 0) {
    const line = decodeLog(buf, 0, nl);
    return { line: line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, next: pos + nl + 1 };
  }
  if (pos + got >= size) return { line: decodeLog(buf, 0, got), next: size };
  // Longer than WHOLE_LINE: find its end.
  let at = pos + got;
  const chunk = Buffer.allocUnsafe(64 << 10);
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, at);
    if (n === 0) return { line: null, next: size };
    const i = chunk.subarray(0, n).indexOf(10);
    if (i >= 0) return { line: null, next: at + i + 1 };
    at += n;
  }
}
