/**
 * A hostile client of the control plane: text from a log line reaching the operator's terminal through
 * `banhammer why --json` (the CLI prints JSON.stringify of the daemon's report as is).
 *
 * JSON.stringify escapes C0 controls only: C1 controls (U+009B is CSI), bidi overrides (U+202E) and
 * line separators (U+2028) pass through raw. Evidence lines are escaped when kept (evidence.ts) and a
 * restored ban's origin when read back (ban-book.ts), but a live ban's origin, the syslog tag or
 * Docker name of the line that made it, went into the WhyReport as the log wrote it. The text layout
 * escapes it (format-why.ts); --json did not, and the same ban showed differently after a restart.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
// What terminal-text.ts escapes, minus what JSON.stringify escapes itself.
// eslint-disable-next-line no-control-regex
const RAW_FOR_TERMINAL = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

describe('why --json with a hostile syslog tag', () => {
  it('carries no C1, bidi or separator character from the log', async () => {
    const clock = new ManualClock(NOW);
    let source: FakeSource | undefined;
    const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
    const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'unit' }), clock, logger: quiet, enforcer: new RecordingEnforcer(), store: new MemoryStore(), createSource, hostAddresses: [] });
    await daemon.start();
    const tags = ['we\u202eb', 'a\u009b31m', 'c\u2028d'];
    try {
      tags.forEach((tag, k) => {
        for (let i = 0; i < 6; i++) {
          source!.onLine(`<30>Nov 23 10:00:00 host ${tag}[12]: 198.18.0.${k + 1} - - [${clf(clock.now())}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`, '/var/log/access.log');
        }
      });
      await settle();
      for (let k = 1; k <= tags.length; k++) {
        const report = daemon.why(`198.18.0.${k}`);
        expect(report.active).toHaveLength(1);
        expect(report.active[0]!.origin).not.toBeNull();
        const printed = JSON.stringify(report);
        expect(printed).not.toMatch(RAW_FOR_TERMINAL);
      }
      expect(daemon.why('198.18.0.1').active[0]!.origin).toBe('we\\u202eb');
    } finally {
      await daemon.stop();
    }
  });
});
