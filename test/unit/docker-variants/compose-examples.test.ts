/**
 * compose.examples/host-network and two-tenants (issue 4): what each compose.yaml must hold for the
 * claims of the issue and README — host networking, NET_ADMIN, a state volume on /var/lib/banhammer
 * (bans survive restart and re-creation), a stop grace period longer than the agent's stop budget,
 * distinct ports and instance names for the two tenants, a short README — and, since the image copies
 * every access-log line to `docker logs`, a bounded json-file log ("it never grows without bound":
 * Docker's default json-file log has no size limit). `docker-compose config` validates each file when
 * docker-compose is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../../../compose.examples');

interface Service {
  build?: string | { context: string };
  network_mode?: string;
  cap_add?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  stop_grace_period?: string;
  logging?: { driver?: string; options?: Record<string, string> };
}
const load = (example: string): { services: Record<string, Service>; volumes?: Record<string, unknown> } =>
  parse(readFileSync(join(ROOT, example, 'compose.yaml'), 'utf8'));

/** Compose's default for `${VAR:-default}`, else the value itself. */
const dflt = (v: string | undefined): string | undefined => (v === undefined ? undefined : /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(v)?.[1] ?? v);

const seconds = (d: string): number => {
  const m = /^(\d+)(s|m)?$/.exec(d);
  if (m === null) throw new Error(`unexpected duration ${d}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};
const bytes = (s: string): number => {
  const m = /^(\d+)([kmg]?)b?$/i.exec(s);
  if (m === null) throw new Error(`unexpected size ${s}`);
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2]!.toLowerCase()]!;
};

const dockerCompose = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' }).status === 0;

describe.each(['host-network', 'two-tenants'])('compose.examples/%s', (example) => {
  const compose = load(example);
  const services = Object.entries(compose.services);

  it('has a short README with the commands', () => {
    const readme = readFileSync(join(ROOT, example, 'README.md'), 'utf8');
    expect(readme).toMatch(/docker compose up --build -d/);
    expect(readme).toMatch(/docker-compose up --build -d/);
    expect(readme).toMatch(/banhammer status/);
  });

  it('each service: host network, NET_ADMIN, its own state volume, a stop grace period above the agent stop budget', () => {
    const volumes = new Set<string>();
    for (const [name, s] of services) {
      expect(s.network_mode, name).toBe('host');
      expect(s.cap_add, name).toContain('NET_ADMIN');
      const state = (s.volumes ?? []).find((v) => v.split(':')[1] === '/var/lib/banhammer');
      expect(state, `${name} keeps /var/lib/banhammer on a volume`).toBeDefined();
      const vol = state!.split(':')[0]!;
      expect(Object.keys(compose.volumes ?? {}), name).toContain(vol); // a named volume, not an anonymous one
      expect(volumes.has(vol), `${name} shares a state volume`).toBe(false);
      volumes.add(vol);
      // banhammer-shutdown: agent (AGENT_STOP_TIMEOUT, default 6 s) + Apache 5 s + syslogd 1 s.
      const budget = Number(dflt(s.environment?.AGENT_STOP_TIMEOUT) ?? 6) + 6;
      expect(seconds(s.stop_grace_period ?? '10s'), name).toBeGreaterThan(budget);
      const build = typeof s.build === 'string' ? s.build : s.build?.context;
      expect(readFileSync(join(ROOT, example, build!, 'Dockerfile'), 'utf8')).toMatch(/^FROM banhammer:debian$/m);
    }
  });

  it('tenants on one host: distinct HTTP_PORT and BANHAMMER_INSTANCE defaults', () => {
    const ports = services.map(([, s]) => dflt(s.environment?.HTTP_PORT) ?? '80');
    const instances = services.map(([, s]) => dflt(s.environment?.BANHAMMER_INSTANCE));
    expect(new Set(ports).size).toBe(services.length);
    expect(instances.every((i) => i !== undefined && i !== '')).toBe(true);
    expect(new Set(instances).size).toBe(services.length);
    for (const p of ports) expect(Number(p)).toBeGreaterThan(0);
  });

  it('each service bounds its docker logs (json-file max-size and max-file), which carry every access-log line', () => {
    for (const [name, s] of services) {
      expect(s.logging?.driver ?? 'json-file', name).toBe('json-file');
      const size = s.logging?.options?.['max-size'];
      const files = s.logging?.options?.['max-file'];
      expect(size, `${name}: logging.options.max-size`).toBeDefined();
      expect(bytes(size!)).toBeLessThanOrEqual(100 * 1024 ** 2);
      expect(Number(files ?? 1), name).toBeGreaterThanOrEqual(1);
    }
  });

  it.skipIf(!dockerCompose)('docker-compose config accepts it', () => {
    const r = spawnSync('docker-compose', ['-f', join(ROOT, example, 'compose.yaml'), 'config', '-q'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

it('the quick start README command names the container that docker-compose v1 and v2 create', () => {
  const readme = readFileSync(resolve(ROOT, '../README.md'), 'utf8');
  const quick = readFileSync(resolve(ROOT, '../scripts/quickstart-docker.sh'), 'utf8');
  const project = /^PROJECT=(\S+)$/m.exec(quick)?.[1];
  expect(project).toBeDefined();
  expect(readme).toContain(`docker exec ${project}_web_1 banhammer status`);
  expect(readme).toContain(`${project}-web-1`);
  expect(Object.keys(load('host-network').services)).toEqual(['web']);
  expect(existsSync(resolve(ROOT, '../scripts/quickstart-docker-down.sh'))).toBe(true);
});
