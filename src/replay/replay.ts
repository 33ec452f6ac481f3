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
import { isFiltered } from '../detect/prefilter.js';
import { PATH_HASH_SEED } from '../detect/distinct-window.js';
import type { EvidenceLine } from '../decide/evidence.js';
import type { Ban } from '../decide/ban-book.js';
import { BanhammerError } from '../errors.js';
import { holdsNetworks } from '../enforce/enforcer.js';
import { isHostMode } from '../docker/host-mode.js';
import { lineEdge, parseSpan, scanSpan, type SpanJob, type SpanResult } from './scan-span.js';
import { replayScopes } from './replay-scopes.js';
import { availableParallelism } from 'node:os';
import { existsSync, closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compressedInputError, compressionOfBytes, COMPRESSION_MAGIC_BYTES, type Compression } from './compression.js';

export interface ReplayBan {
  readonly ip: string;
  readonly rule: string;
  readonly at: number;
  readonly until: number | null;
  readonly failures: number;
  /**
   * Host mode with bans per container: the ban ended early, at `until`, to make room for another
   * container's ban when the book was full (BANHAMMER_MAX_BANS; the agent lifts it then too).
   */
  readonly cut?: true;
  /** With `explain`: the lines that caused it (the live agent's evidence, chosen by the same code). */
  readonly evidence?: readonly EvidenceLine[];
  /** With `explain`: failures counted whose lines are not in `evidence`. */
  readonly evidenceOmitted?: number;
  /** Host mode with bans per container: the container (name, or syslog tag off the host) it applies to. */
  readonly container?: string;
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
   * at most 4, for files of 16 MiB or more on a machine of 4 cores or more, or with a rule that
   * counts every line; 1 otherwise.
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
/** Fewer cores than this: one thread by default (see threadsFor). */
const MIN_PARALLEL_CORES = 4;
/** Most parse threads a replay starts, whatever it is asked for. */
const MAX_THREADS = 64;
/** Bounds of a span's size in a parallel replay. */
const MIN_SPAN_BYTES = 4 << 20;
const MAX_SPAN_BYTES = 32 << 20;
const WORKER_URL = new URL('./replay-worker.js', import.meta.url);

/** Which rules a replay runs: `--rule` names (any defined rule, enabled or not) or the enabled ones. */
export function selectRules(config: Config, names?: readonly string[]): CompiledRule[] {
  return selectPipelineRules(config, names);
}

export async function replayFile(path: string, config: Config, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const rules = selectRules(config, opts.rules);
  const bans: ReplayBan[] = [];
  // Host mode with bans per container: each line counts for its container, as the agent counts it.
  const scopes = replayScopes(config, path);
  // The report's entry of each ban the book holds, by its key (rule, address, container), for a ban
  // cut at the cap. Not by the ban object: the book replaces a held ban's object when the evidence
  // budget takes its lines (oldest first, as a cut takes the oldest), and with --explain a cut ban
  // was then not found and stayed in the report to its full length.
  const entryOf = new Map<string, number>();
  const keyOf = (b: Ban): string => `${b.rule} ${b.ip} ${b.scope ?? ''}`;
  const pipeline = new Pipeline({
    config,
    mode: 'replay',
    // IPv6 network escalation makes network bans only where the configured enforcer holds them and
    // bans are not per container, as live.
    networkBans: holdsNetworks(config.enforcer, isHostMode(config)) && scopes === null,
    ...(opts.rules !== undefined ? { only: opts.rules } : {}),
    evidence: opts.explain === true,
    onCut: (cut, at) => {
      for (const b of cut) {
        const k = keyOf(b);
        const i = entryOf.get(k);
        entryOf.delete(k);
        if (i !== undefined) bans[i] = { ...bans[i]!, until: at, cut: true };
      }
    },
    onBan: (ban) => {
      entryOf.set(keyOf(ban), bans.length);
      bans.push({
        ip: ban.ip,
        rule: ban.rule,
        at: ban.at,
        until: ban.until,
        failures: ban.failures,
        ...(ban.scope !== undefined && scopes !== null ? { container: scopes.name(ban.scope) } : {}),
        ...(opts.explain === true ? { evidence: ban.evidence ?? [], evidenceOmitted: ban.evidenceOmitted ?? 0 } : {}),
      });
    },
  });
  const detector = pipeline.detector;
  // A line counts in each scope the agent counts it in (a syslog tag several containers may write: each of them).
  const observe = scopes === null ? (ev: AccessEvent): void => pipeline.observe(ev, ev.time) : (ev: AccessEvent): void => pipeline.observe(ev, ev.time, scopes.all(ev.origin));
  // --explain: the raw line goes with its event (cut out only here, never on the fast path).
  const observeLine =
    opts.explain === true
      ? (ev: AccessEvent, text: string, start: number, end: number): void => {
          pipeline.observe(ev, ev.time, scopes?.all(ev.origin), undefined, ev.joined ?? text.slice(start, end), path);
        }
      : observe;
  // Replay reads each byte as one Latin-1 character, but lines with raw UTF-8 decoded as the agent reads them (read-lines.ts).
  const parse = createLineParser(config.log.format, { trustedProxies: config.trustedProxies, latin1: true });

  const skipReasons = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  let lines = 0;
  let parsed = 0;

  try {
    // A pipe (`replay <(zcat …)`, /dev/stdin) has no size and cannot be cut into spans: one thread.
    const regular = statSync(path).isFile();
    // A compressed log (logrotate's `compress`: access.log.2.gz) would read as a few lines of binary
    // junk and report no bans without a word: refused, naming the compression.
    const compression = regular ? compressionOf(path) : null;
    if (compression !== null) throw compressedInputError(path, compression, false);
    const threads = opts.explain === true || !regular ? 1 : threadsFor(path, opts.threads, rules.some((r) => !isFiltered(r.settings.match)));
    if (threads <= 1) {
      // A regular file is read as it was when the replay began, as the spans of a parallel replay
      // are: a log still being written gives the same report on any number of threads, and one
      // that grows forever still ends. A pipe is read to its end.
      const total = regular ? statSync(path).size : 0;
      const counts = await parseSpan(path, { from: 0, to: regular ? total : Number.POSITIVE_INFINITY }, parse, observeLine, opts.onProgress !== undefined ? (done) => opts.onProgress!(done, total) : undefined);
      lines = counts.lines;
      parsed = counts.parsed;
      for (const k of SKIP_REASONS) skipReasons[k] = counts.skipReasons[k];
    } else {
      const ruleList = rules.map((r) => [r.name, r.settings] as const);
      const size = statSync(path).size;
      // Spans small enough that the ones in flight stay small (a span's columns are a few bytes per
      // line), and enough of them to keep every thread busy.
      const spanBytes = Math.min(MAX_SPAN_BYTES, Math.max(MIN_SPAN_BYTES, Math.ceil(size / (threads * 4))));
      const spans = splitSpans(path, Math.max(threads, Math.ceil(size / spanBytes)));
      const total = spans[spans.length - 1]!.to;
      // One event, reused: counting keeps none of it (an offense copies what it needs).
      const ev: { ip: string; family: 4 | 6; time: number; origin: string | undefined } = { ip: '', family: 4, time: 0, origin: undefined };
      const matched = new Int32Array(rules.length);
      await scanInParallel(
        spans.map((span) => ({ path, ...span, format: config.log.format, trustedProxies: config.trustedProxies, rules: ruleList, pathSeed: PATH_HASH_SEED })),
        // This thread parses too, between countings: threads - 1 workers.
        threads - 1,
        (r, span) => {
          lines += r.lines;
          parsed += r.parsed;
          for (const k of SKIP_REASONS) skipReasons[k] += r.skipReasons[k];
          // Per address of the span: allowlisted or not, asked once (-1: not asked yet).
          const exempt = new Int8Array(r.ips.length).fill(-1);
          const { ipIds, times, meta, hashes, masks, words } = r;
          for (let e = 0; e < r.count; e++) {
            const id = ipIds[e]!;
            ev.ip = r.ips[id]!;
            ev.time = times[e]!;
            const m = meta[e]!;
            ev.family = (m & 1) === 1 ? 6 : 4;
            ev.origin = m >>> 1 === 0 ? undefined : r.origins[(m >>> 1) - 1];
            let n = 0;
            for (let w = 0; w < words; w++) {
              let bits = masks[e * words + w]!;
              while (bits !== 0) {
                const low = bits & -bits;
                matched[n++] = (w << 5) + (31 - Math.clz32(low));
                bits ^= low;
              }
            }
            let x = exempt[id]!;
            if (x < 0) exempt[id] = x = pipeline.isAllowlisted(ev.ip) ? 1 : 0;
            if (scopes === null) pipeline.observeMatched(ev, matched, n, hashes[e]!, x === 1);
            else for (const scope of scopes.all(ev.origin)) pipeline.observeMatched(ev, matched, n, hashes[e]!, x === 1, scope);
          }
          opts.onProgress?.(span.to, total);
        },
        undefined,
        (job) => scanSpan(job),
      );
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

/** The compression a regular file starts with, or null (no access line starts with these bytes). */
function compressionOf(path: string): Compression | null {
  const head = Buffer.alloc(COMPRESSION_MAGIC_BYTES);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return compressionOfBytes(head.subarray(0, n));
}

function fileError(path: string, err: unknown): BanhammerError {
  if (err instanceof BanhammerError && err.code === 'BH_ERR_FILE') return err;
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

function threadsFor(path: string, requested: number | undefined, heavy: boolean): number {
  if (!existsSync(fileURLToPath(WORKER_URL))) return 1; // running from TypeScript sources (tsx)
  // A thread count that is not a number (NaN started no worker and never finished) or absurd
  // (Infinity cut the file into infinitely many spans) is clamped.
  if (requested !== undefined) return Number.isNaN(requested) ? 1 : Math.max(1, Math.min(MAX_THREADS, Math.floor(requested)));
  if (statSync(path).size < PARALLEL_MIN_BYTES) return 1;
  // Each thread warms its own copy of the parser up (~0.3 s of CPU on the bench log): on fewer than
  // four cores that costs more than the second thread saves (measured on two, 1 M lines: forbidden
  // 0.62 s on one thread and 0.82 s on two, the default rules 0.85 s and 1.29 s, every preset even).
  // Unless the rules cost far more than the parse: one that counts every line (request-flood,
  // crawl-non-static) makes a line's matching and counting several times its parse, and two
  // threads win back their warm-up (every preset: 3.46 s on two threads, 3.77 s on one, mean of 3).
  const cores = availableParallelism();
  return cores < MIN_PARALLEL_CORES && !heavy ? 1 : Math.max(1, Math.min(4, cores));
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
      // Past the records of a Docker line split before the cut (they go with the span before it).
      cuts.push(lineEdge(fd, size, cut));
    }
    cuts.push(size);
    const spans: { from: number; to: number }[] = [];
    for (let i = 0; i < n; i++) if (cuts[i + 1]! > cuts[i]!) spans.push({ from: cuts[i]!, to: cuts[i + 1]! });
    return spans.length > 0 ? spans : [{ from: 0, to: size }];
  } finally {
    closeSync(fd);
  }
}

/** What scanInParallel needs of a thread (a Worker running replay-worker.js; a fake in tests). */
export interface SpanWorker {
  postMessage(message: { index: number; job: SpanJob }): void;
  on(event: 'message', listener: (m: { index: number; ok: true; result: SpanResult } | { index: number; ok: false; error: string }) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'exit', listener: (code: number) => void): unknown;
  terminate(): Promise<unknown>;
}

/**
 * Parses and matches the spans on `threads` workers, two spans in flight per worker, and hands each
 * result to `onSpan` in file order, on this thread (which counts while the workers parse on). With
 * `local`, this thread parses spans too, whenever it has nothing to count (so a replay on two cores
 * needs one worker, not two and an idle main thread). Spans sent but not yet counted are at most 3 per
 * parsing thread: a worker that finishes while an earlier span is still being parsed elsewhere waits
 * for it rather than piling up results here, so memory stays bounded whatever the file's size and
 * however slow one span is.
 */
export async function scanInParallel(
  jobs: SpanJob[],
  threads: number,
  onSpan: (r: SpanResult, job: SpanJob) => void,
  spawn: () => SpanWorker = () => new Worker(WORKER_URL) as unknown as SpanWorker,
  local?: (job: SpanJob) => Promise<SpanResult>,
): Promise<void> {
  const workers: SpanWorker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const done = new Map<number, SpanResult>();
      let sent = 0;
      let counted = 0;
      let failed = false;
      let localBusy = false;
      /** A free slot of a worker per entry (a worker with both slots free is there twice). */
      const free: SpanWorker[] = [];
      const spawned = Math.min(threads, jobs.length);
      const limit = 3 * (spawned + (local !== undefined ? 1 : 0));
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      const pump = (): void => {
        while (free.length > 0 && sent < jobs.length && sent - counted < limit) {
          const index = sent++;
          free.shift()!.postMessage({ index, job: jobs[index]! });
        }
        // This thread parses a span only when the next one to count is not already here.
        if (local !== undefined && !localBusy && !failed && sent < jobs.length && sent - counted < limit && !done.has(counted)) {
          const index = sent++;
          localBusy = true;
          // After a turn of the event loop, so the workers' results that came meanwhile are counted first.
          local(jobs[index]!).then((r) => {
            setImmediate(() => {
              localBusy = false;
              if (!failed) deliver(index, r);
            });
          }, fail);
        }
      };
      const deliver = (index: number, result: SpanResult, from?: SpanWorker): void => {
        done.set(index, result);
        try {
          for (let r = done.get(counted); r !== undefined; r = done.get(counted)) {
            done.delete(counted);
            onSpan(r, jobs[counted]!);
            counted++;
          }
        } catch (err) {
          return fail(err);
        }
        if (counted === jobs.length) return resolve();
        if (from !== undefined) free.push(from);
        pump();
      };
      for (let i = 0; i < spawned; i++) {
        const w = spawn();
        workers.push(w);
        w.on('message', (m) => {
          if (failed) return;
          if (!m.ok) return fail(new Error(m.error));
          deliver(m.index, m.result, w);
        });
        w.once('error', fail);
        w.once('exit', (code) => {
          if (counted < jobs.length) fail(new Error(`a replay thread exited (code ${code})`));
        });
        free.push(w, w);
      }
      if (jobs.length === 0) return resolve();
      pump();
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
