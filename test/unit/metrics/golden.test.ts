import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ParseCounters } from '../../../src/parse/parse-counters.js';
import { createMetrics, type Metrics } from '../../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/server.js';
import { get } from './http-get.js';

const GOLDEN = new URL('../../fixtures/metrics/golden.txt', import.meta.url);

/** A fixed sequence of daemon calls covering every metric. */
function exercise(m: Metrics): void {
  const pc = new ParseCounters();
  for (let i = 0; i < 1000; i++) pc.count({ ip: '198.18.0.1', family: 4, time: 0, method: 'GET', path: '/', status: 403 });
  for (let i = 0; i < 7; i++) pc.count('bad-time');
  pc.count('binary');
  m.recordParse(pc);
  m.lines(2); // lines from another counter
  m.parseSkipped('too-long', 2);
  m.ruleMatches('forbidden', 250);
  m.banned('forbidden', 3);
  m.banned('manual');
  m.unbanned('forbidden', 'expired', 2);
  m.unbanned('manual', 'manual');
  m.activeBans(1, 1);
  for (const s of [0.0078125, 0.25, 0.5, 8]) m.enforceDuration('iptables', s);
  m.enforceError('iptables');
  m.tailLag(4096);
  m.trackedAddresses('forbidden', 17);
  m.repaired('ipset');
  m.repaired('jump', 2);
}

describe('/metrics', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('matches the golden exposition', async () => {
    const m = createMetrics({ version: '0.1.0', rules: ['forbidden', 'scanners'], enforcer: 'iptables' });
    exercise(m);
    server = await startMetricsServer('127.0.0.1:0', m);
    const res = await get(server.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    if (process.env.BANHAMMER_UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, res.body);
    expect(res.body).toBe(readFileSync(GOLDEN, 'utf8'));
  });
});
