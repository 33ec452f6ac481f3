/**
 * The README's metrics table ("Dashboard and alerts" → "Metrics") is hand-written: this test holds it
 * to the registry the agent serves. Every metric the registry declares (with sharing and a
 * notification target on, so the optional series exist) has a row, every row names a metric the
 * registry declares, and each row's type and labels are the registry's. A metric renamed, added or
 * relabelled in src/metrics/registry.ts without its row (or the reverse) fails here: a user who
 * copies a name from the README into a Prometheus query gets a series.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

interface Row {
  readonly type: string;
  readonly labels: readonly string[];
}

/** name → type and labels, from the table under `| metric | type | labels | what it says |`. */
function readmeRows(): Map<string, Row> {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| metric | type | labels |'));
  expect(start).toBeGreaterThan(0);
  const out = new Map<string, Row>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [, names = '', type = '', labels = ''] = line.split('|').map((c) => c.trim());
    const row: Row = {
      type: type,
      labels: labels === '' ? [] : labels.split(',').map((l) => l.trim()).sort(),
    };
    for (const m of names.matchAll(/`(banhammer_[a-z0-9_]+)`/g)) out.set(m[1]!, row);
  }
  return out;
}

describe('README metrics table', () => {
  it('names exactly the registry metrics, each with its type and labels', async () => {
    const metrics = createMetrics({
      version: 'test',
      rules: ['forbidden'],
      enforcer: 'iptables',
      share: true,
      notifyTargets: ['ops'],
      files: ['/var/log/apache2/access.log'],
    });
    const declared = new Map<string, Row>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      const single = metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: readonly string[] };
      declared.set(m.name, { type: String(m.type), labels: [...(single.labelNames ?? [])].sort() });
    }
    const rows = readmeRows();
    expect([...rows.keys()].sort()).toEqual([...declared.keys()].sort());
    for (const [name, row] of declared) expect([name, rows.get(name)]).toEqual([name, row]);
  });
});
