/**
 * Reads the shipped Grafana dashboard (monitoring/grafana/banhammer-dashboard.json) for the tests:
 * every panel query, and each with Grafana's template variables substituted the way Grafana does
 * before it sends the query to Prometheus ($instance with "All" selected is the variable's allValue).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MONITORING = fileURLToPath(new URL('../../../monitoring/', import.meta.url));
export const DASHBOARD = `${MONITORING}grafana/banhammer-dashboard.json`;
export const ALERTS = `${MONITORING}prometheus/banhammer-alerts.yml`;
export const ALERT_TESTS = `${MONITORING}prometheus/banhammer-alerts.test.yml`;

export interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat?: string;
  readonly datasource?: { type: string; uid: string };
}
export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: { type: string; uid: string };
  readonly gridPos: { h: number; w: number; x: number; y: number };
  readonly targets?: readonly Target[];
}
export interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating: { list: readonly { name: string; type: string; query: unknown; allValue?: string; includeAll?: boolean }[] };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every query of every panel (rows have none), with the panel's title. */
export function panelQueries(d: Dashboard): { panel: string; refId: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })));
}

/**
 * Substitutes Grafana's variables: $instance (All → its allValue), $__rate_interval and $__range.
 * Throws when a `$` remains, so a variable the test does not know cannot slip through.
 */
export function substitute(expr: string, vars: { rateInterval: string; range: string; instance?: string }, d: Dashboard = loadDashboard()): string {
  const all = d.templating.list.find((v) => v.name === 'instance')?.allValue ?? '.+';
  const out = expr
    .replaceAll('$__rate_interval', vars.rateInterval)
    .replaceAll('$__range', vars.range)
    .replaceAll('$instance', vars.instance ?? all);
  if (out.includes('$')) throw new Error(`unknown template variable left in ${out}`);
  return out;
}

const FUNCTIONS_AND_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/**
 * Metric names a PromQL expression reads: identifiers outside strings, label matchers, ranges and
 * grouping clauses that are not function calls or keywords.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![A-Za-z0-9_:])\d[\w.]*/g, ' '); // numbers and durations (offset 5m, 1e3)
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = s.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function call
    if (FUNCTIONS_AND_KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}
