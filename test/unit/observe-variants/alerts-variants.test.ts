/**
 * Audit (issue 14, alerts): variants of the shipped rules (monitoring/prometheus/banhammer-alerts.yml)
 * beyond their own promtool tests, on real series with `promtool test rules`: a ban storm spread
 * over two rules, benign skips that are no parse failures, a freshly started agent that has not
 * checked yet, a log read no more, a single failed batch and a single dropped notification (fire,
 * then clear), and a counter reset by a restart that is no "traffic stopped". Skipped, saying why,
 * where promtool is not installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const HERE = dirname(fileURLToPath(import.meta.url));

describe.skipIf(PROMTOOL === undefined)(`alert rule variants${PROMTOOL ? '' : ' (skipped: promtool is not installed)'}`, () => {
  it('pass promtool test rules', () => {
    const r = spawnSync(PROMTOOL!, ['test', 'rules', 'alerts-variants.test.yml'], { cwd: HERE, encoding: 'utf8', timeout: 60_000 });
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/SUCCESS/);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
});
