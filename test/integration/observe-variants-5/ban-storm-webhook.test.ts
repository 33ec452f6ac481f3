/**
 * Round 5 (issue 14): a ban storm (10,000 bans within a second, then as many unbans) against a real
 * webhook receiver and a real /metrics endpoint, both on 127.0.0.1 (private ports, started here and
 * closed after). The storm must not flood the receiver (one message per ban up to the threshold,
 * then one digest per interval), must not hold up the caller (banned() returns at once), must not
 * lose count (the digests add up to the storm), and /metrics answers during it with a text that
 * `promtool check metrics` accepts (when Debian's promtool is installed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/server.js';
import { createNotifier } from '../../../src/notify/notifier.js';
import type { NotifyConfig } from '../../../src/notify/settings.js';
import { TARGET_DEFAULTS } from '../../../src/notify/target-schema.js';

const PROMTOOL = '/usr/bin/promtool';
let receiver: Server | null = null;
let metricsServer: MetricsServer | null = null;

afterEach(async () => {
  await metricsServer?.close();
  metricsServer = null;
  if (receiver !== null) {
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver!.close(() => r()));
  }
  receiver = null;
});

interface Doc {
  event: string;
  bans?: number;
  unbans?: number;
  distinct_addresses?: number;
  top_addresses?: unknown[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a ban storm with a webhook target', () => {
  it('10,000 bans and 10,000 unbans in a second: a few messages, every event counted, no caller delayed, /metrics answering', async () => {
    const got: Doc[] = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        got.push(JSON.parse(body) as Doc);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;

    const metrics = createMetrics({ version: 't', notifyTargets: ['hook'] });
    metricsServer = await startMetricsServer('127.0.0.1:0', metrics);
    const INTERVAL = 1000;
    const config: NotifyConfig = {
      events: ['ban', 'unban'],
      digestThreshold: 10,
      digestInterval: INTERVAL,
      targets: {
        hook: { type: 'webhook', events: null, url: `http://127.0.0.1:${port}/hook`, urlFile: null, preset: 'generic', header: null, token: null, tokenFile: null, template: null, contentType: null, passwordFile: null, from: null, to: [], starttls: 'required', caFile: null, timeoutMs: 5000, connectTimeoutMs: 1000, queueSize: TARGET_DEFAULTS.queueSize, attempts: 3 },
      },
      webhookUrl: null,
      webhookUrlFile: null,
      webhookPreset: 'generic',
      webhookHeader: 'Authorization',
      webhookToken: null,
      webhookTokenFile: null,
      smtpUrl: null,
      smtpUrlFile: null,
      smtpPasswordFile: null,
      smtpFrom: null,
      smtpTo: [],
      smtpStarttls: 'required',
    };
    const notifier = createNotifier(config, {
      clock: systemClock,
      log: { info: () => {}, warn: () => {} },
      instance: 'storm',
      version: 't',
      metrics: { sent: (t) => metrics.notifySent(t), failed: (t) => metrics.notifyFailed(t), dropped: (t, n) => metrics.notifyDropped(t, n), queued: (t, n) => metrics.notifyQueued(t, n) },
    })!;

    const N = 10_000;
    const now = Date.now();
    const bans: Ban[] = Array.from({ length: N }, (_, i) => ({ ip: `198.18.${i >> 8}.${i & 255}`, family: 4, rule: i % 2 === 0 ? 'forbidden' : 'scanners', at: now, until: now + 3_600_000, failures: 5, nth: 1, manual: false, evidence: [{ line: `198.18.${i >> 8}.${i & 255} - - "GET /.env HTTP/1.1" 403 1 "-" "@everyone"`, at: now }] }));
    let spent = 0; // ms inside banned()/unbanned()
    const scrape = fetch(`http://127.0.0.1:${metricsServer.port}/metrics`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text());
    const t0 = Date.now();
    for (let chunk = 0; chunk < 10; chunk++) {
      for (let i = chunk * (N / 10); i < (chunk + 1) * (N / 10); i++) {
        const s = performance.now();
        notifier.banned(bans[i]!);
        spent += performance.now() - s;
      }
      await sleep(20);
    }
    for (const b of bans) {
      const s = performance.now();
      notifier.unbanned(b, 'expired');
      spent += performance.now() - s;
    }
    const storm = Date.now() - t0;
    const duringStorm = await scrape;
    expect(duringStorm).toContain('banhammer_notifications_queued{target="hook"}');
    // No call waited for the network: 20,000 calls cost well under a second (a GC pause may land in one).
    console.log(`[storm] ${2 * N} calls: ${spent.toFixed(1)} ms inside the notifier, ${storm} ms in all`);
    expect(spent / (2 * N)).toBeLessThan(0.05);
    expect(storm).toBeLessThan(3000);

    // Let the interval(s) end and the digests go out; a calm interval ends digest mode.
    const until = Date.now() + 6000;
    const total = (): number => got.reduce((a, d) => a + (d.event === 'digest' ? (d.bans ?? 0) + (d.unbans ?? 0) : 1), 0);
    while (Date.now() < until && total() < 2 * N) await sleep(50);
    await notifier.close(2000);

    const singles = got.filter((d) => d.event !== 'digest');
    const digests = got.filter((d) => d.event === 'digest');
    expect(singles).toHaveLength(10);
    expect(digests.length).toBeGreaterThanOrEqual(1);
    expect(digests.length).toBeLessThanOrEqual(1 + Math.ceil((Date.now() - t0) / INTERVAL));
    expect(total()).toBe(2 * N); // every ban and unban is in a message
    for (const d of digests) expect((d.top_addresses ?? []).length).toBeLessThanOrEqual(10);

    const after = await (await fetch(`http://127.0.0.1:${metricsServer.port}/metrics`)).text();
    expect(after).toMatch(new RegExp(`^banhammer_notifications_sent_total\\{target="hook"\\} ${got.length}$`, 'm'));
    expect(after).toMatch(/^banhammer_notifications_dropped_total\{target="hook"\} 0$/m);
    if (existsSync(PROMTOOL)) {
      for (const text of [duringStorm, after]) {
        const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      }
    }
  }, 30_000);
});
