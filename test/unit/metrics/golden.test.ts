import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/server.js';
import { get } from './http-get.js';

const GOLDEN = new URL('../../fixtures/metrics/golden.txt', import.meta.url);

/** A fixed sequence of daemon calls covering every metric. */
function exercise(m: Metrics): void {
  m.lines(1008);
  m.parseSkipped('bad-time', 7);
  m.parseSkipped('binary');
  m.lines(2);
  m.parseSkipped('truncated', 2);
  m.skewedLines(3);
  m.staleLines(5);
  m.bansRefusedAtCap(4);
  m.ruleMatches('forbidden', 250);
  m.banned('forbidden', 3);
  m.banned('manual');
  m.unbanned('forbidden', 'expired', 2);
  m.unbanned('manual', 'manual');
  m.unbanned('forbidden', 'allowlisted');
  m.activeBans(1, 1);
  for (const s of [0.0078125, 0.25, 0.5, 8]) m.enforceDuration('iptables', s);
  m.enforceError('iptables');
  m.enforceRefused('iptables', 2);
  m.stateSaveError();
  m.tailLag(4096);
  m.trackedAddresses('forbidden', 17);
  m.repaired('set bh-web-v4 was missing and was re-created');
  m.repaired('jump', 2);
  m.started(1_800_000_000_000);
  m.checked(1_800_000_002_000, 'iptables', { held: 2, missing: 1, stray: 1 });
  m.checkFailed();
  m.logFile('/var/log/apache2/access.log', { lagSeconds: 3, lastLineSeconds: 1_800_000_001, lines: 1010 });
}

describe('/metrics', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('matches the golden exposition', async () => {
    const m = createMetrics({ version: '0.1.0', rules: ['forbidden', 'scanners'], enforcer: 'iptables', files: ['/var/log/apache2/access.log'] });
    exercise(m);
    server = await startMetricsServer('127.0.0.1:0', m);
    const res = await get(server.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    if (process.env.BANHAMMER_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, res.body);
    expect(res.body).toBe(readFileSync(GOLDEN, 'utf8'));
  });
});
