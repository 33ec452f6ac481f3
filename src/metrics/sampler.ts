/**
 * Moves the agent's running counts into the metrics registry, in batches (the per-line path only
 * bumps plain counters): lines read, skips by reason, skewed lines, rule matches, tracked addresses,
 * tail lag and the active-ban gauge. sample() is called about once a second and after every batch.
 */
import type { Detector } from '../detect/detector.js';
import type { BanBook } from '../decide/ban-book.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import { SKIP_REASONS } from '../parse/access-event.js';
import type { Metrics } from './registry.js';

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
  private readonly skipped = new Map<string, number>();
  private readonly matches = new Map<string, number>();
  private shared = { bansIn: 0, bansOut: 0, unbansIn: 0, unbansOut: 0, invalid: 0 };

  constructor(private readonly metrics: Metrics) {}

  sample(s: { stats: PipelineStats; detector: Detector; book: BanBook; now: number; lagBytes: number; share?: ShareCounts | undefined }): void {
    const m = this.metrics;
    if (s.share !== undefined) {
      const c = s.share;
      const p = this.shared;
      const invalid = Object.values(c.invalid).reduce((a, b) => a + b, 0);
      m.share(c.connected, c.outboxDepth);
      m.shareTraffic({ bansIn: c.bansIn - p.bansIn, bansOut: c.bansOut - p.bansOut, unbansIn: c.unbansIn - p.unbansIn, unbansOut: c.unbansOut - p.unbansOut, invalid: invalid - p.invalid });
      this.shared = { bansIn: c.bansIn, bansOut: c.bansOut, unbansIn: c.unbansIn, unbansOut: c.unbansOut, invalid };
    }
    m.lines(s.stats.lines - this.lines);
    this.lines = s.stats.lines;
    m.skewedLines(s.stats.skewed - this.skewed);
    this.skewed = s.stats.skewed;
    for (const r of SKIP_REASONS) {
      const n = s.stats.skipped[r];
      const before = this.skipped.get(r) ?? 0;
      if (n > before) m.parseSkipped(r, n - before);
      this.skipped.set(r, n);
    }
    m.tailLag(s.lagBytes);
    for (const name of s.detector.ruleNames) {
      const c = s.detector.counters(name)!;
      const before = this.matches.get(name) ?? 0;
      // A rule that changed on reload starts counting again from zero.
      if (c.matches > before) m.ruleMatches(name, c.matches - before);
      this.matches.set(name, c.matches);
      m.trackedAddresses(name, s.detector.tracked(name));
    }
    const held = s.book.heldCounts();
    m.activeBans(held.v4, held.v6);
  }
}
