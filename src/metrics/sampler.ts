/**
 * Moves the agent's running counts into the metrics registry, in batches (the per-line path only
 * bumps plain counters): lines read, skips by reason, skewed lines, rule matches, tracked addresses,
 * tail lag, per-file log progress and the active-ban gauge. sample() is called about once a second
 * and after every batch.
 *
 * Log lag per configured path (LogLag): 0 while every byte written has been read; otherwise the
 * seconds since the agent last read a line from it or was last seen caught up, whichever is later.
 * A reader that keeps up shows 0 (or a blip under a second), one that is stuck while the file grows
 * shows a number that climbs by a second per second. The last-line time is wall-clock time (when the
 * agent read it), never the time written in the line: a hostile or skewed line cannot move it. Both
 * are measured at sampling time, so to about a second.
 */
import type { Detector } from '../detect/detector.js';
import type { BanBook } from '../decide/ban-book.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import { SKIP_REASONS } from '../parse/access-event.js';
import type { Metrics } from './registry.js';
import type { FileProgress } from '../source/line-source.js';

/**
 * What a running count added since it was last read as `before`. A count below `before` started
 * again from zero (a rule a reload changed, a stage built anew): all of it is new. Prometheus
 * counters only go up, and must not lose what was counted after such a restart either.
 */
export function since(now: number, before: number): number {
  return now >= before ? now - before : now;
}

/** Per-file state behind banhammer_log_lag_seconds and banhammer_log_last_line_timestamp_seconds. */
export class LogLag {
  private readonly files = new Map<string, { lines: number; lastLineAt: number; caughtUpAt: number }>();

  /** Folds one sample in; returns what the metrics should show for each file. */
  update(progress: readonly FileProgress[], now: number): { file: string; lagSeconds: number; lastLineSeconds: number; lines: number }[] {
    return progress.map((p) => {
      let st = this.files.get(p.path);
      if (st === undefined) {
        // Bounded: one entry per configured path (the tailer reports nothing else).
        st = { lines: 0, lastLineAt: now, caughtUpAt: now };
        this.files.set(p.path, st);
      }
      const lines = since(p.lines, st.lines);
      st.lines = p.lines;
      if (lines > 0) st.lastLineAt = now;
      if (p.unreadBytes <= 0) st.caughtUpAt = now;
      const lagMs = p.unreadBytes > 0 ? now - Math.max(st.lastLineAt, st.caughtUpAt) : 0;
      return { file: p.path, lagSeconds: Math.max(0, lagMs) / 1000, lastLineSeconds: st.lastLineAt / 1000, lines };
    });
  }
}

/** The share stage's running counts (ShareStats), as far as metrics read them. */
export interface ShareCounts {
  readonly connected: boolean;
  readonly outboxDepth: number;
  readonly bansIn: number;
  readonly bansOut: number;
  readonly unbansIn: number;
  readonly unbansOut: number;
  readonly invalid: Readonly<Record<string, number>>;
}

export class MetricsSampler {
  private lines = 0;
  private skewed = 0;
  private stale = 0;
  private refusedAtCap = 0;
  private readonly skipped = new Map<string, number>();
  private readonly matches = new Map<string, number>();
  private shared = { bansIn: 0, bansOut: 0, unbansIn: 0, unbansOut: 0, invalid: 0 };
  private readonly logLag = new LogLag();

  constructor(private readonly metrics: Metrics) {}

  sample(s: { stats: PipelineStats; detector: Detector; book: BanBook; now: number; lagBytes: number; share?: ShareCounts | undefined; files?: readonly FileProgress[] | undefined }): void {
    const m = this.metrics;
    if (s.files !== undefined) for (const f of this.logLag.update(s.files, s.now)) m.logFile(f.file, f);
    if (s.share !== undefined) {
      const c = s.share;
      const p = this.shared;
      const invalid = Object.values(c.invalid).reduce((a, b) => a + b, 0);
      m.share(c.connected, c.outboxDepth);
      m.shareTraffic({ bansIn: since(c.bansIn, p.bansIn), bansOut: since(c.bansOut, p.bansOut), unbansIn: since(c.unbansIn, p.unbansIn), unbansOut: since(c.unbansOut, p.unbansOut), invalid: since(invalid, p.invalid) });
      this.shared = { bansIn: c.bansIn, bansOut: c.bansOut, unbansIn: c.unbansIn, unbansOut: c.unbansOut, invalid };
    }
    m.lines(since(s.stats.lines, this.lines));
    this.lines = s.stats.lines;
    m.skewedLines(since(s.stats.skewed, this.skewed));
    this.skewed = s.stats.skewed;
    m.staleLines(since(s.stats.stale, this.stale));
    this.stale = s.stats.stale;
    m.bansRefusedAtCap(since(s.book.refusedAtCap, this.refusedAtCap));
    this.refusedAtCap = s.book.refusedAtCap;
    for (const r of SKIP_REASONS) {
      const n = s.stats.skipped[r];
      const before = this.skipped.get(r) ?? 0;
      m.parseSkipped(r, since(n, before));
      this.skipped.set(r, n);
    }
    m.tailLag(s.lagBytes);
    // A rule a reload switched off watches nobody: its gauge goes to 0, not kept at its last value;
    // switched on again, it counts from a fresh start.
    const running = new Set(s.detector.ruleNames);
    for (const name of [...this.matches.keys()]) {
      if (running.has(name)) continue;
      m.trackedAddresses(name, 0);
      this.matches.delete(name);
    }
    for (const name of s.detector.ruleNames) {
      // A rule a reload switched on gets its series at 0 before its counts (see Metrics.declareRule).
      m.declareRule(name);
      const c = s.detector.counters(name)!;
      const before = this.matches.get(name) ?? 0;
      // A rule that changed on reload starts counting again from zero (see since()).
      m.ruleMatches(name, since(c.matches, before));
      this.matches.set(name, c.matches);
      m.trackedAddresses(name, s.detector.tracked(name));
    }
    const held = s.book.heldCounts();
    m.activeBans(held.v4, held.v6);
  }
}
