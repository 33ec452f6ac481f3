/**
 * The parallel half of replay: parse one span of a log and keep only the events that some rule
 * matches, with the line counts. Detection itself needs every matching event in log order, so it stays
 * on the main thread; parsing, which is nearly all of the work, runs on several cores.
 *
 * Events are returned as plain data (they cross a worker boundary by structured clone).
 */
import type { LogFormat, SkipReason } from '../parse/access-event.js';
import { SKIP_REASONS, isSkip, type AccessEvent } from '../parse/access-event.js';
import { createLineParser, type LineParser } from '../parse/line-parser.js';
import { flatAscii } from '../parse/timestamp.js';
import { compileRule, type RuleSettings } from '../detect/rule.js';
import { readLineRanges } from './read-lines.js';

export interface SpanJob {
  readonly path: string;
  readonly from: number;
  readonly to: number;
  readonly format: LogFormat;
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

/** Reads a span of a log, parses every line, counts lines, events and skips, and hands each event on. */
export async function parseSpan(
  path: string,
  span: { from: number; to: number },
  parse: LineParser,
  onEvent: (ev: AccessEvent) => void,
): Promise<LineCounts> {
  const counts: LineCounts = {
    lines: 0,
    parsed: 0,
    skipReasons: Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>,
  };
  await readLineRanges(
    path,
    (text, start, end) => {
      counts.lines++;
      const out = parse.range(text, start, end);
      if (isSkip(out)) {
        counts.skipReasons[out]++;
        return;
      }
      counts.parsed++;
      onEvent(out);
    },
    span,
  );
  return counts;
}

export async function scanSpan(job: SpanJob): Promise<SpanResult> {
  const rules = Object.entries(job.rules).map(([n, s]) => compileRule(n, s));
  const events: AccessEvent[] = [];
  const counts = await parseSpan(job.path, job, createLineParser(job.format), (out) => {
    for (let i = 0; i < rules.length; i++) {
      if (rules[i]!.matches(out)) {
        // Kept until the span is done, so the strings are copied: a slice would pin its 64 KiB piece.
        events.push({
          ip: out.ip, family: out.family, time: out.time, method: out.method, path: flatAscii(out.path),
          status: out.status, vhost: out.vhost === undefined ? undefined : flatAscii(out.vhost), origin: out.origin,
        });
        return;
      }
    }
  });
  return { ...counts, events };
}
