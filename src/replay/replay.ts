/**
 * `banhammer replay`: a whole log through the enabled rules in log time, like fail2ban-regex but
 * showing the bans. The pipeline is the live agent's, built by the same factory (src/pipeline) in
 * replay mode: same parser, allowlist (ignoreip, loopback, trusted proxies), detector and ban book;
 * only the clock differs: "now" is the time of the line being replayed, so findtime, bantime and
 * expiry behave as they would have when the log was written. Parsing may run on several threads;
 * detection and decisions always run in file order on this one.
 */
import type { Config } from '../config/schema.js';
import { SKIP_REASONS, type AccessEvent, type SkipReason } from '../parse/access-event.js';
import { createLineParser } from '../parse/line-parser.js';
import type { CompiledRule } from '../detect/rule.js';
import { Pipeline, selectRules as selectPipelineRules } from '../pipeline/pipeline.js';
import type { EvidenceLine } from '../decide/evidence.js';
import { BanhammerError } from '../errors.js';
import { parseSpan, scanSpan, type SpanJob, type SpanResult } from './scan-span.js';
import { isFiltered } from '../detect/prefilter.js';
import { availableParallelism } from 'node:os';
import { existsSync, closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface ReplayBan {
  readonly ip: string;
  readonly rule: string;
  readonly at: number;
  readonly until: number | null;
  readonly failures: number;
  /** With `explain`: the lines that caused it (the live agent's evidence, chosen by the same code). */
  readonly evidence?: readonly EvidenceLine[];
  /** With `explain`: failures counted whose lines are not in `evidence`. */
  readonly evidenceOmitted?: number;
}

export interface ReplayReport {
  readonly file: string;
  readonly rules: readonly string[];
  readonly lines: number;
  readonly parsed: number;
  readonly skipped: number;
  readonly skipReasons: Readonly<Record<SkipReason, number>>;
  readonly matches: Readonly<Record<string, number>>;
  readonly evictions: Readonly<Record<string, number>>;
  readonly bans: readonly ReplayBan[];
}

export interface ReplayOptions {
  /** Restrict to these rules (by name); default: the rules enabled in config. */
  readonly rules?: readonly string[];
  /**
   * Threads that parse (the spans of the file are parsed in parallel; detection then runs over the
   * matching events in file order, so the result is the same as with one). Default: the cores,
   * at most 4, for files of 16 MiB or more; 1 otherwise.
   */
  readonly threads?: number;
  /**
   * Keep the lines of each ban (replay --explain), as the live agent does. Parses on one thread
   * (the lines live on it), so a large file replays more slowly.
   */
  readonly explain?: boolean;
  /** Called now and then with the bytes read so far and the file's size (cli shows it on a terminal). */
  readonly onProgress?: (done: number, total: number) => void;
}

const PARALLEL_MIN_BYTES = 16 << 20;
const WORKER_URL = new URL('./replay-worker.js', import.meta.url);

/** Which rules a replay runs: `--rule` names (any defined rule, enabled or not) or the enabled ones. */
export function selectRules(config: Config, names?: readonly string[]): CompiledRule[] {
  return selectPipelineRules(config, names);
}

export async function replayFile(path: string, config: Config, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const rules = selectRules(config, opts.rules);
  const bans: ReplayBan[] = [];
  const pipeline = new Pipeline({
    config,
    mode: 'replay',
    ...(opts.rules !== undefined ? { only: opts.rules } : {}),
    evidence: opts.explain === true,
    onBan: (ban) =>
      bans.push({
        ip: ban.ip,
        rule: ban.rule,
        at: ban.at,
        until: ban.until,
        failures: ban.failures,
        ...(opts.explain === true ? { evidence: ban.evidence ?? [], evidenceOmitted: ban.evidenceOmitted ?? 0 } : {}),
      }),
  });
  const detector = pipeline.detector;
  const observe = (ev: AccessEvent): void => pipeline.observe(ev, ev.time);
  // --explain: the raw line goes with its event (cut out only here, never on the fast path).
  const observeLine = opts.explain === true ? (ev: AccessEvent, text: string, start: number, end: number): void => pipeline.observe(ev, ev.time, undefined, undefined, text.slice(start, end), path) : observe;
  const parse = createLineParser(config.log.format, { trustedProxies: config.trustedProxies });

  const skipReasons = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  let lines = 0;
  let parsed = 0;

  try {
    // Parse threads keep the events some rule matches until their span is done: with a rule that
    // matches every line (request-flood, crawl-non-static) that is every event of the file, so such a
    // replay parses on this thread, in bounded memory.
    const everyLine = rules.some((r) => !isFiltered(r.settings.match));
    const threads = opts.explain === true || everyLine ? 1 : threadsFor(path, opts.threads);
    if (threads <= 1) {
      const total = opts.onProgress !== undefined ? statSync(path).size : 0;
      const counts = await parseSpan(path, { from: 0, to: Number.POSITIVE_INFINITY }, parse, observeLine, opts.onProgress !== undefined ? (done) => opts.onProgress!(done, total) : undefined);
      lines = counts.lines;
      parsed = counts.parsed;
      for (const k of SKIP_REASONS) skipReasons[k] = counts.skipReasons[k];
    } else {
      const ruleSettings = Object.fromEntries(rules.map((r) => [r.name, r.settings]));
      const spans = splitSpans(path, threads);
      const total = spans[spans.length - 1]!.to;
      const first = spans[0]!.to - spans[0]!.from;
      // The spans are parsed at about the same speed: the first one's progress stands for all.
      const onRead = opts.onProgress !== undefined && first > 0 ? (done: number): void => opts.onProgress!(Math.round((done / first) * total), total) : undefined;
      const results = await scanInParallel(
        spans.map((span) => ({ path, ...span, format: config.log.format, trustedProxies: config.trustedProxies, rules: ruleSettings })),
        onRead,
      );
      for (const r of results) {
        lines += r.lines;
        parsed += r.parsed;
        for (const k of SKIP_REASONS) skipReasons[k] += r.skipReasons[k];
        for (const ev of r.events) observe(ev);
      }
    }
  } catch (err) {
    throw fileError(path, err);
  }

  const matches: Record<string, number> = {};
  const evictions: Record<string, number> = {};
  for (const r of rules) {
    const c = detector.counters(r.name)!;
    matches[r.name] = c.matches;
    evictions[r.name] = c.evictions;
  }
  return {
    file: path,
    rules: rules.map((r) => r.name),
    lines,
    parsed,
    skipped: lines - parsed,
    skipReasons,
    matches,
    evictions,
    bans,
  };
}

function fileError(path: string, err: unknown): BanhammerError {
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ENOENT' ? 'no such file'
    : e?.code === 'EACCES' || e?.code === 'EPERM' ? 'permission denied'
    : e?.code === 'EISDIR' ? 'is a directory'
    : (e?.message ?? String(err));
  return new BanhammerError('BH_ERR_FILE', `cannot read ${path}: ${why}`, {
    hint: 'give the path of an access log file',
    data: { path, code: e?.code },
    cause: err,
  });
}

function threadsFor(path: string, requested: number | undefined): number {
  if (!existsSync(fileURLToPath(WORKER_URL))) return 1; // running from TypeScript sources (tsx)
  if (requested !== undefined) return Math.max(1, Math.floor(requested));
  if (statSync(path).size < PARALLEL_MIN_BYTES) return 1;
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Cuts the file into `n` spans of about equal size, each starting at a line start. */
export function splitSpans(path: string, n: number): { from: number; to: number }[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const cuts = [0];
    const buf = Buffer.allocUnsafe(64 << 10);
    for (let i = 1; i < n; i++) {
      let pos = Math.max(Math.floor((size * i) / n), cuts[cuts.length - 1]!);
      let cut = size;
      while (pos < size) {
        const got = readSync(fd, buf, 0, buf.length, pos);
        if (got === 0) break;
        const nl = buf.subarray(0, got).indexOf(10);
        if (nl >= 0) {
          cut = pos + nl + 1;
          break;
        }
        pos += got;
      }
      cuts.push(cut);
    }
    cuts.push(size);
    const spans: { from: number; to: number }[] = [];
    for (let i = 0; i < n; i++) if (cuts[i + 1]! > cuts[i]!) spans.push({ from: cuts[i]!, to: cuts[i + 1]! });
    return spans.length > 0 ? spans : [{ from: 0, to: size }];
  } finally {
    closeSync(fd);
  }
}

/** The first span on this thread, the others on workers; results in file order. */
async function scanInParallel(jobs: SpanJob[], onRead?: (bytes: number) => void): Promise<SpanResult[]> {
  const workers = jobs.slice(1).map(
    (job) =>
      new Promise<SpanResult>((resolve, reject) => {
        const w = new Worker(WORKER_URL, { workerData: job });
        w.once('message', (m: { ok: true; result: SpanResult } | { ok: false; error: string }) => {
          if (m.ok) resolve(m.result);
          else reject(new Error(m.error));
          void w.terminate();
        });
        w.once('error', reject);
      }),
  );
  // Attach handlers now so a failing worker never becomes an unhandled rejection while we parse.
  const settled = Promise.allSettled(workers);
  const first = await scanSpan(jobs[0]!, onRead);
  const rest = await settled;
  return [first, ...rest.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  })];
}
