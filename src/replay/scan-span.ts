/**
 * The parallel half of replay: parse one span of a log and keep only the events that some rule
 * matches, with the line counts. Detection itself needs every matching event in log order, so it stays
 * on the main thread; parsing, which is nearly all of the work, runs on several cores.
 *
 * Events are returned as plain data (they cross a worker boundary by structured clone).
 *
 * A span's edges are moved past the rest of a Docker line split over several json-file records (a
 * record without a newline and those that follow it, see parse/line-parser.ts), so that such a line
 * is read whole by one span: read from a span's start, its later records would be lines of their own,
 * and one of them can be a forged access line. Both spans at an edge work out the same new edge from
 * the file, so every line is still read exactly once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { LogFormat, SkipReason } from '../parse/access-event.js';
import { SKIP_REASONS, isSkip, type AccessEvent } from '../parse/access-event.js';
import { isPartialRecord } from '../parse/docker-json.js';
import { createLineParser, type LineParser } from '../parse/line-parser.js';
import { flatAscii } from '../parse/timestamp.js';
import { compileRule, type RuleSettings } from '../detect/rule.js';
import { AnyRuleMatcher } from '../detect/prefilter.js';
import { readLineRanges } from './read-lines.js';

export interface SpanJob {
  readonly path: string;
  readonly from: number;
  readonly to: number;
  readonly format: LogFormat;
  /** The trusted proxies (config trustedProxies), for X-Forwarded-For (parse/apache.ts). */
  readonly trustedProxies?: readonly string[];
  /** The rules that run, by name. */
  readonly rules: Readonly<Record<string, RuleSettings>>;
}

export interface SpanResult extends LineCounts {
  /** Events matched by at least one rule, in file order. */
  events: AccessEvent[];
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
    onRead,
  );
  return counts;
}

/** The request line and headers (parse/access-event.ts), undefined when the layout has none. */
type EventHeaders = AccessEvent & { readonly request?: string | undefined; readonly referer?: string | undefined; readonly userAgent?: string | undefined };

export async function scanSpan(job: SpanJob, onRead?: (bytes: number) => void): Promise<SpanResult> {
  const matcher = new AnyRuleMatcher(Object.entries(job.rules).map(([n, s]) => compileRule(n, s)));
  const events: AccessEvent[] = [];
  const counts = await parseSpan(job.path, job, createLineParser(job.format, { trustedProxies: job.trustedProxies }), (out) => {
    if (!matcher.test(out)) return;
    // Kept until the span is done, so the strings are copied: a slice would pin its 64 KiB piece.
    const h = out as EventHeaders;
    events.push({
      ip: out.ip, family: out.family, time: out.time, method: out.method, path: flatAscii(out.path),
      status: out.status, vhost: out.vhost === undefined ? undefined : flatAscii(out.vhost), origin: out.origin,
      request: h.request === undefined ? undefined : flatAscii(h.request),
      referer: h.referer === undefined ? undefined : flatAscii(h.referer),
      userAgent: h.userAgent === undefined ? undefined : flatAscii(h.userAgent),
    } as AccessEvent);
  });
  return { ...counts, events };
}

/** Longest line read whole here, as in read-lines.ts (a longer one reaches the parser as its head). */
const WHOLE_LINE = 2 << 20;

/** The span with each edge moved past the rest of a Docker line split over records (see above). */
function ownLineEdges(path: string, span: { from: number; to: number }): { from: number; to: number } {
  if (span.from === 0 && span.to === Number.POSITIVE_INFINITY) return span;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const edge = (pos: number): number => {
      if (pos <= 0 || pos >= size || !isPartialRecord(lineBefore(fd, pos) ?? '')) return pos;
      // The records that continue the line before the edge belong to the span before it.
      for (;;) {
        const { line, next } = lineAt(fd, pos, size);
        pos = next;
        if (pos >= size || !isPartialRecord(line ?? '')) return pos;
      }
    };
    return { from: edge(span.from), to: span.to === Number.POSITIVE_INFINITY ? span.to : edge(span.to) };
  } finally {
    closeSync(fd);
  }
}

/** The line that ends with the newline at pos - 1 (Latin-1, without CR), or null when longer than WHOLE_LINE. */
function lineBefore(fd: number, pos: number): string | null {
  const from = Math.max(0, pos - 1 - WHOLE_LINE - 1);
  const buf = Buffer.allocUnsafe(pos - 1 - from);
  const got = readSync(fd, buf, 0, buf.length, from);
  const nl = buf.subarray(0, got).lastIndexOf(10);
  if (nl < 0 && from > 0) return null;
  const line = buf.toString('latin1', nl + 1, got);
  if (line.length > WHOLE_LINE) return null;
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

/** The line that starts at pos (null when longer than WHOLE_LINE) and where the next one starts. */
function lineAt(fd: number, pos: number, size: number): { line: string | null; next: number } {
  const buf = Buffer.allocUnsafe(Math.min(WHOLE_LINE + 1, size - pos));
  const got = readSync(fd, buf, 0, buf.length, pos);
  const nl = buf.subarray(0, got).indexOf(10);
  if (nl >= 0) {
    const line = buf.toString('latin1', 0, nl);
    return { line: line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, next: pos + nl + 1 };
  }
  if (pos + got >= size) return { line: buf.toString('latin1', 0, got), next: size };
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
