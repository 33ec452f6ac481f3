/** Shared fakes for the issue-10 audit: a real Daemon with a manual clock, fake source, memory store, recording enforcer. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { validateState } from '../../../src/run.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { clf } from '../../support/clf.js';

export const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
export const line = (ip: string, t: number, path = '/private', status = 403) => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl/8"`;
export const jsonLine = (ip: string, t: number, path = '/private') => JSON.stringify({ log: `${line(ip, t, path)}\n`, stream: 'stdout', time: new Date(t).toISOString() });
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 12; i++) await new Promise((r) => setImmediate(r));
};

export class Store {
  doc: DaemonState | null = null;
  async load() {
    return this.doc ? validateState(JSON.parse(JSON.stringify(this.doc))) : null;
  }
  async save(d: DaemonState) {
    this.doc = JSON.parse(JSON.stringify(d)) as DaemonState;
  }
}

export const A = 'a1'.repeat(32);
export const B = 'b2'.repeat(32);

const roots: string[] = [];
export function cleanup(): void {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
}

export function containersRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'bh-seams-'));
  roots.push(root);
  for (const [id, name, addr] of [[A, 'shop', '198.19.151.2'], [B, 'blog', '198.19.151.3']] as const) {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
  }
  return root;
}

export interface AgentOpts {
  env?: Record<string, string>;
  host?: boolean;
  root?: string;
  store?: Store;
  enforcer?: RecordingEnforcer;
  clock?: ManualClock;
  hostAddresses?: readonly string[] | (() => readonly string[]);
}

export function agent(o: AgentOpts = {}) {
  const clock = o.clock ?? new ManualClock(NOW);
  const enforcer = o.enforcer ?? new RecordingEnforcer();
  const store = o.store ?? new Store();
  const root = o.host ? (o.root ?? containersRoot()) : undefined;
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (x) => (source = new FakeSource(x.onLine));
  const baseEnv = root !== undefined ? { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: `${root}/*/*-json.log`, BANHAMMER_DOCKER_CONTAINERS_DIR: root, BANHAMMER_INSTANCE: 'host' } : {};
  const mk = (env: Record<string, string>): Config => loadConfig({ env: { ...baseEnv, ...env }, hostname: 'unit' });
  let next = mk(o.env ?? {});
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const warnings: string[] = [];
  const logger = { debug() {}, error() {}, info: (obj: object, msg?: string) => void infos.push({ obj: obj as Record<string, unknown>, msg: msg ?? '' }), warn: (_o: object, m?: string) => void warnings.push(m ?? '') };
  const daemon = new Daemon({ config: next, clock, logger, enforcer, store, createSource, hostAddresses: o.hostAddresses ?? [], reloadConfig: () => next });
  const emit = (l: string, id?: string) => source!.onLine(l, id === undefined ? '/var/log/access.log' : join(root!, id, `${id}-json.log`));
  const feed = async (ip: string, n: number, id?: string, path?: string): Promise<void> => {
    for (let i = 0; i < n; i++) emit(id === undefined ? line(ip, clock.now(), path) : jsonLine(ip, clock.now(), path), id);
    await settle();
  };
  const reloadWith = async (env: Record<string, string>): Promise<void> => {
    next = mk(env);
    daemon.reload();
    await settle();
  };
  const banned = (): string[] =>
    daemon
      .status()
      .rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip}${b.containerId ? ` ${b.containerId.slice(0, 2)}` : ''}`))
      .sort();
  const held = (): string[] => [...enforcer.held.keys()].map((k) => k.replace(/ (..)[0-9a-f]{62}$/, ' $1')).sort();
  return { clock, enforcer, store, daemon, emit, feed, reloadWith, banned, held, infos, warnings, root, mk };
}
