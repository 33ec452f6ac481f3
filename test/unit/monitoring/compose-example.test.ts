/**
 * compose.examples/monitoring holds together without Docker: every file it mounts exists, the
 * Prometheus configuration (with the container paths mapped back through the compose mounts)
 * passes `promtool check config` (which also checks the mounted alert rules), the scrape jobs carry
 * the job names and `site` label the alert rules join on, the targets match the services' ports,
 * and Grafana is pointed at the shipped dashboard. Alertmanager's configuration passes `amtool
 * check-config`, the probe's the blackbox exporter's own check, and `docker-compose config` (or
 * `docker compose config`) runs too; each where the tool is installed (scripts/install-deps.sh).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const EXAMPLE = fileURLToPath(new URL('../../../compose.examples/monitoring/', import.meta.url));
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const AMTOOL = ['/usr/bin/amtool', '/usr/local/bin/amtool'].find((p) => existsSync(p));
const BLACKBOX = ['/usr/bin/prometheus-blackbox-exporter', '/usr/local/bin/blackbox_exporter'].find((p) => existsSync(p));

interface Service {
  build?: string | { context: string; args?: Record<string, string> };
  image?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
}
const compose = parse(readFileSync(join(EXAMPLE, 'compose.yaml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

/** Bind mounts of a service: [host path (absolute), container path]. Named volumes are left out. */
function binds(s: Service): [string, string][] {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([src]) => src!.startsWith('.') || src!.startsWith('/'))
    .map(([src, dst]) => [resolve(EXAMPLE, src!), dst!]);
}

function composer(): string[] | null {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  return null;
}

describe('compose.examples/monitoring', () => {
  const prom = compose.services.prometheus!;
  const promConfig = parse(readFileSync(join(EXAMPLE, 'prometheus', 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[]; relabel_configs?: { replacement?: string; target_label?: string }[] }[];
  };

  it('mounts files and directories that exist, and builds from directories that exist', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [src] of binds(s)) expect(existsSync(src), `${name} mounts ${src}`).toBe(true);
      const ctx = typeof s.build === 'string' ? s.build : s.build?.context;
      if (ctx !== undefined) expect(statSync(join(EXAMPLE, ctx, 'Dockerfile')).isFile(), `${name} builds ${ctx}`).toBe(true);
      for (const v of (s.volumes ?? []).map((x) => x.split(':')[0]!).filter((x) => !x.startsWith('.') && !x.startsWith('/'))) expect(compose.volumes, `${name}: volume ${v}`).toHaveProperty(v);
    }
    expect(binds(prom).map(([src]) => src)).toContain(resolve(EXAMPLE, '../../monitoring/prometheus/banhammer-alerts.yml'));
    const grafana = compose.services.grafana!;
    expect(grafana.profiles).toEqual(['grafana']);
    const dash = binds(grafana).find(([, dst]) => dst === '/var/lib/grafana/dashboards/banhammer');
    expect(dash && existsSync(join(dash[0], 'banhammer-dashboard.json'))).toBe(true);
  });

  it('scrapes the agent where it listens, under the job and site the alert rules expect; every address lines up', () => {
    const listen = (s: Service) => s.command?.find((c) => c.startsWith('--web.listen-address='))?.split('=')[1];
    // Host networking throughout (the agent's in-container iptables needs it; see host-network).
    for (const [name, s] of Object.entries(compose.services)) expect((s as { network_mode?: string }).network_mode, name).toBe('host');
    const web = compose.services.web!;
    const agentJob = promConfig.scrape_configs.find((j) => j.job_name === 'banhammer');
    expect(agentJob?.static_configs[0]?.targets).toEqual([web.environment!.BANHAMMER_METRICS_ADDR]);
    expect(web.environment!.BANHAMMER_METRICS_ADDR).toMatch(/^127\.0\.0\.1:/);
    const httpPort = /\$\{HTTP_PORT:-(\d+)\}/.exec(web.environment!.HTTP_PORT!)?.[1];
    const probe = promConfig.scrape_configs.find((j) => j.job_name === 'banhammer-site-probe');
    expect(probe?.static_configs[0]?.targets).toEqual([`http://127.0.0.1:${httpPort}/`]);
    expect(probe?.static_configs[0]?.labels?.site).toBe(agentJob?.static_configs[0]?.labels?.site);
    expect(probe?.relabel_configs?.find((r) => r.target_label === '__address__')?.replacement).toBe(listen(compose.services.blackbox!));
    expect(promConfig.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual([listen(compose.services.alertmanager!)]);
    const ds = parse(readFileSync(join(EXAMPLE, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { url: string; type: string }[] };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: `http://${listen(prom)}` });
    for (const s of [prom, compose.services.blackbox!, compose.services.alertmanager!]) expect(listen(s)).toMatch(/^127\.0\.0\.1:\d+$/);
    const rules = readFileSync(resolve(EXAMPLE, '../../monitoring/prometheus/banhammer-alerts.yml'), 'utf8');
    expect(rules).toContain('job="banhammer"');
    expect(rules).toContain('job="banhammer-site-probe"');
    // Every rule file Prometheus reads is one compose mounts.
    for (const f of promConfig.rule_files) expect(binds(prom).map(([, dst]) => dst), f).toContain(f);
  });

  it.skipIf(PROMTOOL === undefined)('passes promtool check config with its rules, the container paths mapped back through the mounts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-compose-prom-'));
    try {
      let text = readFileSync(join(EXAMPLE, 'prometheus', 'prometheus.yml'), 'utf8');
      for (const [src, dst] of binds(prom)) text = text.replaceAll(dst, src);
      writeFileSync(join(dir, 'prometheus.yml'), text);
      const r = spawnSync(PROMTOOL!, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(AMTOOL === undefined)(`passes amtool check-config${AMTOOL ? '' : ' (skipped: amtool is not installed; apt-get install prometheus-alertmanager)'}`, () => {
    const r = spawnSync(AMTOOL!, ['check-config', join(EXAMPLE, 'alertmanager', 'alertmanager.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
    expect(r.stdout).toContain('1 inhibit rules');
  });

  it.skipIf(BLACKBOX === undefined)(`has a blackbox configuration the exporter accepts${BLACKBOX ? '' : ' (skipped: apt-get install prometheus-blackbox-exporter)'}`, () => {
    const r = spawnSync(BLACKBOX!, ['--config.check', `--config.file=${join(EXAMPLE, 'blackbox', 'blackbox.yml')}`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('Config file is ok');
  });

  const c = composer();
  it.skipIf(c === null)(`passes ${c?.join(' ') ?? 'docker-compose'} config${c === null ? ' (skipped: neither docker-compose nor docker compose is installed)' : ''}`, () => {
    const r = spawnSync(c![0]!, [...c!.slice(1), '-f', join(EXAMPLE, 'compose.yaml'), '--profile', 'grafana', 'config', '-q'], { cwd: EXAMPLE, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
