/**
 * The parallel half of replay: parse one span of a log and keep only the events that some rule
 * matches, with the line counts. Detection itself needs every matching event in log order, so it stays
 * on the main thread; parsing, which is nearly all of the work, runs on several cores.
 *
 * Events are returned as plain data (they cross a worker boundary by structured clone).
 */
import type { LogFormat, SkipReason } from '../parse/access-event.js';
import { SKIP_REASONS, isSkip, type AccessEvent } from '../parse/access-event.js';
import { createLineParser } from '../parse/line-parser.js';
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

export interface SpanResult {
  lines: number;
  parsed: number;
  skipReasons: Record<SkipReason, number>;
  /** Events matched by at least one rule, in file order. */
  events: AccessEvent[];
}

export async function scanSpan(job: SpanJob): Promise<SpanResult> {
  const rules = Object.entries(job.rules).map(([n, s]) => compileRule(n, s));
  const parse = createLineParser(job.format);
  const skipReasons = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  const events: AccessEvent[] = [];
  let lines = 0;
  let parsed = 0;
  await readLineRanges(
    job.path,
    (text, start, end) => {
      lines++;
      const out = parse.range(text, start, end);
      if (isSkip(out)) {
        skipReasons[out]++;
        return;
      }
      parsed++;
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
    },
    { from: job.from, to: job.to },
  );
  return { lines, parsed, skipReasons, events };
}
