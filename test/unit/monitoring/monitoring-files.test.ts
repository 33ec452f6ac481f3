/**
 * The shipped monitoring files (monitoring/): the Prometheus alert rules pass `promtool check rules`
 * and their unit tests (`promtool test rules`: series that must fire each alert and a healthy agent
 * that must fire none), every alert is covered both ways, and the Grafana dashboard is well formed:
 * four rows, the datasource a variable, every query valid PromQL (checked by promtool) over
 * banhammer_* metrics only. Skipped, saying why, where promtool is not installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTS, ALERT_TESTS, MONITORING, loadDashboard, metricNames, panelQueries, substitute } from './dashboard.js';

const README = new URL('../../../README.md', import.meta.url);
const REGISTRY = new URL('../../../src/metrics/registry.ts', import.meta.url);
/** The README's "Dashboard and alerts" section. */
function readmeSection(): string {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Dashboard and alerts\n');
  expect(start, 'README has a "Dashboard and alerts" section').toBeGreaterThanOrEqual(0);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const promtool = (args: string[], cwd: string) => spawnSync(PROMTOOL!, args, { cwd, encoding: 'utf8', timeout: 60_000 });

interface RuleFile { groups: { name: string; rules: { alert?: string; expr: string; labels?: Record<string, string> }[] }[] }
interface TestFile { tests: { alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[] }[] }

describe.skipIf(PROMTOOL === undefined)(`Prometheus alert rules${PROMTOOL ? '' : ' (skipped: promtool is not installed; apt-get install prometheus)'}`, () => {
  const rules = parse(readFileSync(ALERTS, 'utf8')) as RuleFile;
  const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => a !== undefined));

  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', ALERTS], MONITORING);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool(['test', 'rules', ALERT_TESTS], join(MONITORING, 'prometheus'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('every alert has series that fire it and a case where it must stay silent', () => {
    const tests = (parse(readFileSync(ALERT_TESTS, 'utf8')) as TestFile).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = tests.filter((t) => t.alertname === a);
      expect(mine.some((t) => t.exp_alerts.length > 0), `${a} never expected to fire`).toBe(true);
      expect(mine.some((t) => t.exp_alerts.length === 0), `${a} never expected to stay silent`).toBe(true);
    }
    expect(new Set(alerts).size).toBe(alerts.length);
  });

  it('every alert has a severity, a summary and a description, and names no address label', () => {
    for (const g of rules.groups) {
      for (const r of g.rules) {
        expect(['critical', 'warning', 'info']).toContain(r.labels?.severity);
        expect((r as { annotations?: Record<string, string> }).annotations).toMatchObject({ summary: expect.any(String), description: expect.any(String) });
        expect(r.expr).not.toMatch(/\b(ip|address|client)\s*=/);
      }
    }
  });
});

describe('Grafana dashboard', () => {
  const d = loadDashboard();
  const queries = panelQueries(d);

  it('has the overview, detection, enforcement and health rows, in that order, each with panels', () => {
    const rows = d.panels.filter((p) => p.type === 'row');
    expect(rows.map((r) => r.title)).toEqual(['Overview', 'Detection', 'Enforcement', 'Health']);
    for (let i = 0; i < rows.length; i++) {
      const start = d.panels.indexOf(rows[i]!);
      const end = i + 1 < rows.length ? d.panels.indexOf(rows[i + 1]!) : d.panels.length;
      expect(end - start - 1, `${rows[i]!.title} has no panels`).toBeGreaterThanOrEqual(3);
    }
  });

  it('takes its datasource from a variable, everywhere', () => {
    const ds = d.templating.list.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.description, `${p.title} has no description`).toBeTruthy();
      expect(p.targets?.length, `${p.title} has no query`).toBeGreaterThan(0);
    }
  });

  it('queries banhammer_* metrics only, each filtered by the agent variable', () => {
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) {
      const names = metricNames(q.expr);
      expect(names.length, `${q.panel}: ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) expect(n, `${q.panel}: ${q.expr}`).toMatch(/^banhammer_[a-z0-9_]+$/);
      expect(q.expr, q.panel).toContain('instance=~"$instance"');
    }
    expect(metricNames('sum by (le) (rate(x_bucket{a="b"}[5m])) / on (instance) y + time() - z offset 5m')).toEqual(['x_bucket', 'y', 'z']);
  });

  it('has panels that do not overlap and ids that are unique', () => {
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of d.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        const k = `${i},${j}`;
        expect(cells.has(k), `${p.title} overlaps at ${k}`).toBe(false);
        cells.add(k);
      }
    }
  });

  it.skipIf(PROMTOOL === undefined)('every query is valid PromQL once Grafana substituted its variables (promtool)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-dash-'));
    try {
      const rules = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: substitute(q.expr, { rateInterval: '1m', range: '1h' }, d) })) }] };
      writeFileSync(join(dir, 'queries.yml'), JSON.stringify(rules));
      const r = promtool(['check', 'rules', join(dir, 'queries.yml')], dir);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README "Dashboard and alerts"', () => {
  it('lists every metric the registry declares, every alert and every dashboard row', () => {
    const section = readmeSection();
    const declared = [...readFileSync(REGISTRY, 'utf8').matchAll(/name: '(banhammer_[a-z0-9_]+)'/g)].map((m) => m[1]!);
    expect(declared.length).toBeGreaterThan(25);
    for (const name of declared) expect(section, `README does not list ${name}`).toContain(`\`${name}\``);
    const alerts = [...readFileSync(ALERTS, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    for (const a of alerts) expect(section, `README does not list ${a}`).toContain(`\`${a}\``);
    for (const row of ['Overview', 'Detection', 'Enforcement', 'Health']) expect(section).toContain(`**${row}**`);
    // Every metric the dashboard or the rules read exists.
    const used = new Set([...panelQueries(loadDashboard()).flatMap((q) => metricNames(q.expr)), ...[...readFileSync(ALERTS, 'utf8').matchAll(/\b(banhammer_[a-z0-9_]+)/g)].map((m) => m[1]!)]);
    for (const m of used) expect(declared, `${m} is used but not declared`).toContain(m.replace(/_(bucket|sum|count)$/, ''));
  });
});
