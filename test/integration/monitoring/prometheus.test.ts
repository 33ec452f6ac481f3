/**
 * The shipped dashboard and alert rules against a real Prometheus (Debian's /usr/bin/prometheus)
 * scraping a real agent (dist/banhammer.js via bin/banhammer.js, iptables enforcer) in throw-away
 * network namespaces with a real Apache (../agent/fixture.ts). The agent shares through a private
 * redis-server (when installed) and notifies a private webhook receiver, so the Redis and
 * notification series exist.
 *
 * Beside them run the compose example's blackbox probe (its blackbox.yml, probing Apache) and
 * Alertmanager (its alertmanager.yml, the receiver pointed at the test's webhook receiver), wired
 * as the README says.
 *
 * The attacker floods Apache with 403s (banned), then the test flushes the agent's ipset behind its
 * back (drift, repaired by the self-check). Then every query of every dashboard panel, with Grafana's
 * variables substituted, must return data through Prometheus's HTTP API (query_range over the
 * test's span, at least one finite value), the drift must be seen non-zero and then back at 0, the
 * alert rules must evaluate without error, BanhammerFirewallDrift must fire (while
 * BanhammerAgentDown does not) and reach the webhook through Alertmanager, and the probe must join
 * the agent's log series on `site` as BanhammerLogNotAdvancing expects. Every process started here
 * runs in the lab's namespaces and is stopped by lab.destroy(), which also removes the temp dir
 * (Prometheus's and Alertmanager's storage included).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_PORT, agentLabUnavailable, createAgentLab, until, type AgentLab } from '../agent/fixture.js';
import { ALERTS, loadDashboard, panelQueries, substitute } from '../../unit/monitoring/dashboard.js';

const PROMETHEUS = '/usr/bin/prometheus';
const PROM_PORT = 9390;
const REDIS_PORT = 6391;
const HOOK_PORT = 8391;
const ALERTMANAGER_PORT = 9393;
const BLACKBOX_PORT = 9115;
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';
const EXAMPLE = fileURLToPath(new URL('../../../compose.examples/monitoring/', import.meta.url));

const { skip: labSkip, mode } = await agentLabUnavailable();
const hasRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const skip =
  labSkip ??
  (!existsSync(PROMETHEUS)
    ? `${PROMETHEUS} is not installed (apt-get install prometheus)`
    : !existsSync(ALERTMANAGER) || !existsSync(BLACKBOX)
      ? 'prometheus-alertmanager and prometheus-blackbox-exporter are not installed (scripts/install-deps.sh)'
      : null);
/** Without redis-server (scripts/install-deps.sh installs it) the agent runs alone and the Redis panels' queries are left out, said so in the output. */
const SHARE_METRIC = /\bbanhammer_share_/;

interface PromResponse<T> {
  status: 'success' | 'error';
  error?: string;
  data: T;
}
type Matrix = { resultType: 'matrix'; result: { metric: Record<string, string>; values: [number, string][] }[] };
type Vector = { resultType: 'vector'; result: { metric: Record<string, string>; value: [number, string] }[] };

/**
 * A webhook receiver for the agent's notifications (/hook) and Alertmanager's (/alerts): answers 204
 * and appends `{"path":…,"body":…}` per request to the file named in argv[1].
 */
const RECEIVER = `const fs = require('node:fs'); const out = process.argv[1];
require('node:http').createServer((q, s) => { let b = ''; q.setEncoding('utf8'); q.on('data', (d) => { if (b.length < 1e6) b += d; });
  q.on('end', () => { fs.appendFileSync(out, JSON.stringify({ path: q.url, body: b }) + '\\n'); s.statusCode = 204; s.end(); }); }).listen(${HOOK_PORT}, '127.0.0.1');`;

describe.skipIf(skip !== null)(`the dashboard and alerts against a real Prometheus scraping a real agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let t0 = 0;
  let received = '';
  const requests = async (): Promise<{ path: string; body: string }[]> =>
    (await readFile(received, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { path: string; body: string });
  const log = (msg: string) => console.log(`[monitoring] ${msg}`);

  /** GET on Prometheus's HTTP API from inside the server namespace (it listens on its loopback). */
  async function api<T>(path: string, params: Record<string, string>): Promise<PromResponse<T>> {
    const args = ['-s', '-G', '--max-time', '10', `http://127.0.0.1:${PROM_PORT}${path}`];
    for (const [k, v] of Object.entries(params)) args.push('--data-urlencode', `${k}=${v}`);
    const r = await lab.inServer('curl', args, [0, 7, 28]);
    if (r.code !== 0) return { status: 'error', error: `curl exit ${r.code}`, data: undefined as T };
    return JSON.parse(r.stdout) as PromResponse<T>;
  }
  const instant = async (query: string): Promise<Vector['result']> => {
    const r = await api<Vector>('/api/v1/query', { query });
    return r.status === 'success' ? r.data.result : [];
  };

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    const pdir = join(lab.dir, 'prometheus');
    await mkdir(join(pdir, 'data'), { recursive: true });
    // The compose example's Prometheus configuration, with the lab's addresses and 1 s intervals.
    const prom = parse(readFileSync(join(EXAMPLE, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[]; relabel_configs?: { replacement?: string; target_label?: string }[] }[];
    };
    prom.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    prom.rule_files = [ALERTS];
    prom.alerting.alertmanagers[0]!.static_configs[0]!.targets = [`127.0.0.1:${ALERTMANAGER_PORT}`];
    for (const job of prom.scrape_configs) {
      job.static_configs[0]!.labels.site = 'lab';
      if (job.job_name === 'banhammer') job.static_configs[0]!.targets = [`127.0.0.1:${METRICS_PORT}`];
      if (job.job_name === 'banhammer-site-probe') {
        job.static_configs[0]!.targets = ['http://127.0.0.1:8080/ok'];
        job.relabel_configs!.find((r) => r.target_label === '__address__')!.replacement = `127.0.0.1:${BLACKBOX_PORT}`;
      }
    }
    await writeFile(join(pdir, 'prometheus.yml'), stringify(prom));
    // The example's Alertmanager configuration, its receiver pointed at the test's webhook, no waiting.
    const am = parse(readFileSync(join(EXAMPLE, 'alertmanager', 'alertmanager.yml'), 'utf8')) as { route: Record<string, unknown>; receivers: Record<string, unknown>[] };
    Object.assign(am.route, { group_wait: '1s', group_interval: '1s' });
    am.receivers[0]!.webhook_configs = [{ url: `http://127.0.0.1:${HOOK_PORT}/alerts` }];
    await mkdir(join(pdir, 'alertmanager'));
    await writeFile(join(pdir, 'alertmanager.yml'), stringify(am));
    received = join(lab.dir, 'received.jsonl');
    await writeFile(received, '');
    if (hasRedis) lab.star.spawnIn(lab.star.server, ['redis-server', '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', lab.dir]);
    else log('redis-server is not installed: the agent runs without sharing and the Redis panels are not queried');
    lab.star.spawnIn(lab.star.server, [process.execPath, '-e', RECEIVER, received]);
    lab.star.spawnIn(lab.star.server, [BLACKBOX, `--config.file=${join(EXAMPLE, 'blackbox', 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${BLACKBOX_PORT}`]);
    lab.star.spawnIn(lab.star.server, [
      ALERTMANAGER,
      `--config.file=${join(pdir, 'alertmanager.yml')}`,
      `--storage.path=${join(pdir, 'alertmanager')}`,
      `--web.listen-address=127.0.0.1:${ALERTMANAGER_PORT}`,
      '--cluster.listen-address=',
    ]);
    lab.star.spawnIn(lab.star.server, [
      PROMETHEUS,
      `--config.file=${join(pdir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(pdir, 'data')}`,
      `--web.listen-address=127.0.0.1:${PROM_PORT}`,
      '--log.level=warn',
    ]);
    if (hasRedis) await until('redis-server answering', () => lab.inServer('redis-cli', ['-p', String(REDIS_PORT), 'ping'], [0, 1]).then((r) => r.stdout.trim()), (v) => v === 'PONG', 20_000, 100);
    t0 = Math.floor(Date.now() / 1000);
    await lab.startAgent({
      ...(hasRedis && { BANHAMMER_REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, BANHAMMER_SHARE_GROUP: 'monitoring' }),
      BANHAMMER_NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${HOOK_PORT}/hook`,
    });
    await until('Prometheus scraping the agent', () => instant('up{job="banhammer"}'), (r) => r.some((s) => s.value[1] === '1'), 60_000, 250);
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('sees a 403 flood banned and a flushed set repaired (drift non-zero, then 0), and fires the drift alert', async () => {
    for (const family of [4, 6] as const) {
      for (let i = 0; i < 6; i++) await lab.curl(lab.attacker, { family, path: '/forbidden/' });
    }
    await until('both bans in the kernel', async () => (await lab.setEntries(4)).length + (await lab.setEntries(6)).length, (n) => n === 2, 15_000, 50);
    await until('Prometheus sees the bans read back from the kernel', () => instant('sum(banhammer_kernel_bans{job="banhammer"})'), (r) => r[0]?.value[1] === '2', 30_000, 250);

    // Someone flushes the IPv4 set: the next self-check (every 2 s) finds the ban missing and re-adds it.
    // The gauge is non-zero for one check interval; 1 s scrapes of a loaded machine may step over
    // it, so the flush is repeated (at most 5 times) until a scrape caught it.
    let seen = 0;
    for (let attempt = 1; attempt <= 5 && seen < 1; attempt++) {
      await lab.inServer('ipset', ['flush', lab.names.sets[4]]);
      await until('the ban re-added', async () => (await lab.setEntries(4)).length, (n) => n === 1, 15_000, 50);
      const drift = await until('Prometheus saw the drift', () => instant('max_over_time(banhammer_enforce_drift_entries_total{kind="missing"}[5m])'), (r) => Number(r[0]?.value[1] ?? 0) >= attempt, 30_000, 250);
      log(`flush ${attempt}: drift entries repaired, as scraped: ${drift[0]!.value[1]}`);
      await until('drift back to 0 at the last check', () => instant('banhammer_enforce_drift'), (r) => r.length === 1 && r[0]!.value[1] === '0', 30_000, 250);
      seen = Number((await instant('max_over_time(banhammer_enforce_drift[5m])'))[0]?.value[1] ?? 0);
    }
    expect(seen, 'the drift gauge was never scraped non-zero').toBeGreaterThanOrEqual(1);

    const firing = await until(
      'BanhammerFirewallDrift firing',
      async () => (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts', {})).data?.alerts ?? [],
      (a) => a.some((x) => x.labels.alertname === 'BanhammerFirewallDrift' && x.state === 'firing'),
      30_000,
      250,
    );
    const names = firing.map((a) => a.labels.alertname);
    expect(names).not.toContain('BanhammerAgentDown');
    expect(names).not.toContain('BanhammerEnforcementErrors');
    expect(names).not.toContain('BanhammerRedisDisconnected');
    expect(names).not.toContain('BanhammerLogNotRead');
    expect(names).not.toContain('BanhammerSelfCheckStale');
    log(`alerts active: ${firing.map((a) => `${a.labels.alertname} (${a.state})`).join(', ')}`);

    // Through the example's Alertmanager routing to the webhook.
    const delivered = await until(
      'BanhammerFirewallDrift delivered by Alertmanager',
      async () => (await requests()).filter((r) => r.path === '/alerts').map((r) => JSON.parse(r.body) as { status: string; alerts: { status: string; labels: Record<string, string> }[] }),
      (bodies) => bodies.some((b) => b.alerts.some((a) => a.labels.alertname === 'BanhammerFirewallDrift' && a.status === 'firing')),
      60_000,
      250,
    );
    const alert = delivered.flatMap((b) => b.alerts).find((a) => a.labels.alertname === 'BanhammerFirewallDrift')!;
    // The target's labels (site here) stay on the alert for routing.
    expect(alert.labels).toMatchObject({ severity: 'warning', job: 'banhammer', site: 'lab', instance: `127.0.0.1:${METRICS_PORT}` });
    // The agent's own ban notifications reached the same receiver on their own path.
    expect((await requests()).some((r) => r.path === '/hook')).toBe(true);
  });

  it('joins the probe with the agent on `site` as BanhammerLogNotAdvancing expects', async () => {
    await until('the probe of Apache succeeding', () => instant('probe_success{job="banhammer-site-probe"}'), (r) => r[0]?.value[1] === '1', 30_000, 250);
    const rules = parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] };
    const expr = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'BanhammerLogNotAdvancing')!.expr;
    expect(expr).toContain('> 300');
    // The rule with its threshold at -1 s: every followed file of a site whose probe succeeds.
    const joined = await instant(expr.replace('> 300', '> -1'));
    expect(joined.map((s) => ({ site: s.metric.site, file: s.metric.file }))).toEqual([{ site: 'lab', file: lab.accessLog }]);
    // Each probe is a request Apache logs: the last-line time keeps up with it.
    const age = await until('the log advancing with the probes', () => instant('time() - banhammer_log_last_line_timestamp_seconds'), (r) => r.length === 1 && Number(r[0]!.value[1]) < 10, 30_000, 500);
    log(`seconds since the last line read, with a probe every second: ${Number(age[0]!.value[1]).toFixed(1)}`);
  });

  it('evaluates every alert rule without error', async () => {
    const r = await api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules', {});
    expect(r.status).toBe('success');
    const rules = r.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(16);
    for (const rule of rules) expect({ rule: rule.name, health: rule.health, err: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', err: '' });
  });

  it('returns data for every query of every dashboard panel', async () => {
    const d = loadDashboard();
    const all = panelQueries(d);
    const queries = hasRedis ? all : all.filter((q) => !SHARE_METRIC.test(q.expr));
    if (!hasRedis) log(`not queried without redis-server: ${all.filter((q) => SHARE_METRIC.test(q.expr)).map((q) => `${q.panel} (${q.refId})`).join(', ')}`);
    // Let a few more scrapes land so rate() windows after the flood hold samples.
    await new Promise((res) => setTimeout(res, 3000));
    const end = Math.ceil(Date.now() / 1000);
    const range = `${end - t0 + 60}s`;
    const empty: string[] = [];
    for (const q of queries) {
      const expr = substitute(q.expr, { rateInterval: '10s', range }, d);
      const r = await api<Matrix>('/api/v1/query_range', { query: expr, start: String(t0), end: String(end), step: '1' });
      expect(r.status, `${q.panel} (${q.refId}): ${r.error ?? ''}\n${expr}`).toBe('success');
      const finite = r.data.result.some((s) => s.values.some(([, v]) => Number.isFinite(Number(v))));
      if (!finite) empty.push(`${q.panel} (${q.refId}): ${expr}`);
    }
    expect(empty, 'panel queries without data').toEqual([]);
    log(`${queries.length} queries of ${d.panels.filter((p) => p.type !== 'row').length} panels returned data`);
  });
});
