/**
 * The "shared bans (Redis)" section of `npm run bench` (issue 11). It starts its own redis-server
 * (Debian's binary; the section is skipped with its reason when it is missing) on a free port of
 * 127.0.0.1 with an ACL user for one group (shareAclLine), runs every replica as a child process
 * (bench/share/agent.ts, the bench's compiled code: no shared event loop) connected as that user,
 * and measures, with bounded loops and timeouts:
 *
 * 1. propagation lag with three replicas: one publishes 1,000 bans (paced, after 50 warm-up bans),
 *    the other two record when each arrives (onRemoteBan); lag = arrival − the moment publishBan was
 *    called, on the one host clock. CrowdSec's firewall bouncer is quoted by its documented default
 *    poll interval (update_frequency 10 s): a setting, not a measurement.
 * 2. shared-count throughput: three replicas call stage.failure() for distinct addresses (3 × 100,000;
 *    3 × 20,000 with --quick), a chunk of 2,000 per tick as the pipeline hands parsed lines over, so
 *    the stage pipelines them (one script per 256); counted failures per second from the common
 *    start until the last reply. Target ≥ 50,000/s.
 * 3. a new replica loading 100,000 shared bans: the group's hash is filled the way replicas store
 *    them (encodeBan), then fresh replicas (3 runs, each a new process) time start() until the
 *    100,000th onRemoteBan. Target ≤ 2 s (on the median).
 *
 * The redis-server and every child are stopped by pid in a finally.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeBan } from '../../src/share/messages.js';
import { shareAclLine } from '../../src/share/share.js';
import type { AgentReply, AgentRequest, FailuresResult } from './agent.js';
import { processCpuMs, redisServerMissing, startBenchRedis, type BenchRedis } from './redis.js';
import { benchAddress, fmtCount, fmtMs, median, summarize, timesFaster } from './stats.js';

export const SHARE_TARGETS = Object.freeze({
  propagationP99Ms: 100,
  failuresPerSecond: 50_000,
  load100kMs: 2_000,
});

/** CrowdSec's firewall bouncer: documented default `update_frequency` (its LAPI poll interval). */
export const CROWDSEC_BOUNCER_POLL_MS = 10_000;

const GROUP = 'bench';
const REPLICAS = 3;
const BANS = 1_000;
const WARMUP = 50;
const PACE_MS = 2;
const LOAD_BANS = 100_000;
const LOAD_RUNS = 3;

export interface ShareReport {
  skipped?: string;
  redisVersion?: string;
  cores: number;
  /** The 1-minute load average when the section started (the machine may be shared). */
  loadAverage: number;
  propagation?: { replicas: number; bans: number; warmup: number; intervalMs: number; arrivals: number; missing: number; p50Ms: number; p99Ms: number; maxMs: number };
  throughput?: {
    agents: number;
    perAgent: number;
    counted: number;
    dropped: number;
    seconds: number;
    perSecond: number;
    windowKeys: number;
    offenses: number;
    /** redis-server's CPU time over the run, % of one core. */
    redisCpuPercent: number;
    /** The three agents' CPU time together, % of one core. */
    agentsCpuPercent: number;
  };
  load?: { bans: number; runsMs: number[]; delivered: number[]; medianMs: number };
  targets: Array<{ name: string; pass: boolean; value: string }>;
  errors: string[];
}

type Admin = {
  flushDb(): Promise<unknown>;
  dbSize(): Promise<number>;
  hSet(key: string, value: Record<string, string>): Promise<number>;
  hLen(key: string): Promise<number>;
  info(section?: string): Promise<string>;
  close(): Promise<unknown>;
};

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
type Body<R> = R extends { id: number } ? Omit<R, 'id'> : never;

/** A replica child process and its request/reply channel. */
class Agent {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: AgentReply) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(m.error));
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2_000);
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`replica process exited (${code ?? signal}): ${this.stderr.trim().slice(-500)}`));
      this.waiting.clear();
    });
  }

  static spawn(): Agent {
    // Compiled (npm run bench): bench/dist/bench/share/agent.js beside this module; under tsx: agent.ts.
    const ts = import.meta.url.endsWith('.ts');
    const file = fileURLToPath(new URL(ts ? './agent.ts' : './agent.js', import.meta.url));
    return new Agent(fork(file, [], { execArgv: ts ? ['--import', 'tsx'] : [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
  }

  call<T>(req: Body<AgentRequest>, timeoutMs: number): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`replica: ${req.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.child.send({ ...req, id });
    });
  }

  /** Stops its stage, then disconnects; killed by pid if it has not exited within 3 s. */
  async close(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    await this.call({ op: 'stop' }, 5_000).catch(() => undefined);
    if (c.connected) c.disconnect();
    const t = setTimeout(() => c.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(t);
  }
}

export async function runShareBench(opts: { quick: boolean; progress: (msg: string) => void }): Promise<ShareReport> {
  const report: ShareReport = { cores: cpus().length, loadAverage: loadavg()[0] ?? NaN, targets: [], errors: [] };
  const missing = redisServerMissing();
  if (missing !== null) {
    report.skipped = missing;
    return report;
  }
  const password = randomBytes(18).toString('hex');
  let redis: BenchRedis | null = null;
  let admin: Admin | null = null;
  const agents: Agent[] = [];
  const closeAgents = async (): Promise<void> => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
  };
  // Interrupted (Ctrl-C, kill): the redis-server goes too (the children see their IPC channel close and exit).
  const onSignal = (sig: NodeJS.Signals): void => {
    if (redis !== null) {
      try {
        process.kill(redis.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(redis.dir, { recursive: true, force: true });
    }
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    opts.progress('shared bans: starting redis-server');
    redis = await startBenchRedis([shareAclLine(GROUP, password)]);
    const { createClient } = await import('redis');
    const a = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    a.on('error', () => undefined);
    await a.connect();
    admin = a as unknown as Admin;
    report.redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1];
    const url = redis.url(GROUP, password);

    // 1. Propagation lag with three replicas.
    try {
      opts.progress(`shared bans: propagation (${REPLICAS} replicas, ${fmtCount(BANS)} bans)`);
      await admin.flushDb();
      for (let i = 0; i < REPLICAS; i++) agents.push(Agent.spawn());
      const started = await Promise.all(agents.map((ag, i) => ag.call<{ connected: boolean }>({ op: 'start', url, group: GROUP, replicaId: `bench-r${i}` }, 15_000)));
      if (!started.every((s) => s.connected)) throw new Error('a replica did not connect to redis-server');
      const [pub, ...subs] = agents as [Agent, ...Agent[]];
      const arrivals = (): Promise<Array<{ ips: string[]; at: number[] }>> => Promise.all(subs.map((s) => s.call<{ ips: string[]; at: number[] }>({ op: 'arrivals' }, 10_000)));
      const waitArrivals = async (n: number, timeoutMs: number): Promise<Array<{ ips: string[]; at: number[] }>> => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const got = await arrivals();
          if (got.every((g) => g.ips.length >= n) || Date.now() > deadline) return got;
          await sleep(50);
        }
      };
      await pub.call({ op: 'publish', first: 0, n: WARMUP, intervalMs: PACE_MS }, 30_000);
      await waitArrivals(WARMUP, 5_000);
      const first = 1_000;
      const { sentAt } = await pub.call<{ sentAt: number[] }>({ op: 'publish', first, n: BANS, intervalMs: PACE_MS }, 60_000);
      const got = await waitArrivals(WARMUP + BANS, 10_000);
      const sentByIp = new Map<string, number>();
      sentAt.forEach((t, i) => sentByIp.set(benchAddress(first + i), t));
      const lags: number[] = [];
      for (const g of got) {
        g.ips.forEach((ip, i) => {
          const t = sentByIp.get(ip);
          if (t !== undefined) lags.push(g.at[i]! - t);
        });
      }
      const s = summarize(lags);
      report.propagation = { replicas: REPLICAS, bans: BANS, warmup: WARMUP, intervalMs: PACE_MS, arrivals: s.n, missing: subs.length * BANS - s.n, p50Ms: s.p50, p99Ms: s.p99, maxMs: s.max };
    } catch (err) {
      report.errors.push(`propagation: ${err instanceof Error ? err.message : String(err)}`);
    }

    // 2. Shared-count throughput: three agents, distinct addresses, into one Redis.
    try {
      const per = opts.quick ? 20_000 : 100_000;
      opts.progress(`shared bans: shared-count throughput (${REPLICAS} agents × ${fmtCount(per)} failures)`);
      await admin.flushDb();
      if (agents.length !== REPLICAS) throw new Error('the replicas did not start');
      const startAt = now() + 300;
      const pid = redis.pid;
      const redisCpu0 = processCpuMs(pid);
      const results = await Promise.all(agents.map((ag, k) => ag.call<FailuresResult>({ op: 'failures', first: 100_000 + k * per, n: per, chunk: 2_000, startAt }, 180_000)));
      const redisCpuMs = processCpuMs(pid) - redisCpu0;
      const start = Math.min(...results.map((r) => r.start));
      const end = Math.max(...results.map((r) => r.end));
      const sent = results.reduce((n, r) => n + r.sent, 0);
      const dropped = results.reduce((n, r) => n + r.dropped, 0);
      const counted = sent - dropped;
      const seconds = (end - start) / 1000;
      report.throughput = {
        agents: REPLICAS,
        perAgent: per,
        counted,
        dropped,
        seconds,
        perSecond: counted / seconds,
        windowKeys: await admin.dbSize(),
        offenses: results.reduce((n, r) => n + r.offenses, 0),
        // (redis-server's CPU from 300 ms before the common start: it idles then.)
        redisCpuPercent: (redisCpuMs / (end - start)) * 100,
        agentsCpuPercent: (results.reduce((n, r) => n + r.cpuMs, 0) / (end - start)) * 100,
      };
    } catch (err) {
      report.errors.push(`throughput: ${err instanceof Error ? err.message : String(err)}`);
    }
    await closeAgents();

    // 3. A new replica loads 100,000 shared bans.
    try {
      opts.progress(`shared bans: filling the group's hash with ${fmtCount(LOAD_BANS)} bans`);
      await admin.flushDb();
      const key = `banhammer:{${GROUP}}:bans`;
      const t = Date.now();
      const writes: Array<Promise<number>> = [];
      for (let c = 0; c < LOAD_BANS / 1_000; c++) {
        const entries: Record<string, string> = {};
        for (let i = 0; i < 1_000; i++) {
          const ip = benchAddress(c * 1_000 + i);
          entries[ip] = encodeBan({ ip, family: 4, rule: 'http-403', at: t, until: t + 3_600_000, origin: 'bench-gone', nth: 1 }, t);
        }
        writes.push(admin.hSet(key, entries));
      }
      await Promise.all(writes);
      const stored = await admin.hLen(key);
      if (stored !== LOAD_BANS) throw new Error(`the hash holds ${stored} bans, not ${LOAD_BANS}`);
      const runsMs: number[] = [];
      const delivered: number[] = [];
      for (let r = 0; r < LOAD_RUNS; r++) {
        opts.progress(`shared bans: new replica loads ${fmtCount(LOAD_BANS)} bans, run ${r + 1}/${LOAD_RUNS}`);
        const ag = Agent.spawn();
        agents.push(ag);
        const res = await ag.call<{ ms: number; delivered: number }>({ op: 'load', url, group: GROUP, replicaId: `bench-new${r}`, expect: LOAD_BANS, timeoutMs: 30_000 }, 60_000);
        await closeAgents();
        runsMs.push(res.ms);
        delivered.push(res.delivered);
      }
      report.load = { bans: LOAD_BANS, runsMs, delivered, medianMs: median(runsMs) };
    } catch (err) {
      report.errors.push(`load: ${err instanceof Error ? err.message : String(err)}`);
    }
  } catch (err) {
    report.errors.push(err instanceof Error ? err.message : String(err));
  } finally {
    await closeAgents().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const p = report.propagation;
  if (p) report.targets.push({ name: `propagation p99 ≤ ${SHARE_TARGETS.propagationP99Ms} ms (3 replicas)`, pass: p.missing === 0 && p.p99Ms <= SHARE_TARGETS.propagationP99Ms, value: `${fmtMs(p.p99Ms)}${p.missing ? `, ${p.missing} never arrived` : ''}` });
  const th = report.throughput;
  if (th) report.targets.push({ name: `shared count ≥ ${fmtCount(SHARE_TARGETS.failuresPerSecond)} failures/s (3 agents)`, pass: th.dropped === 0 && th.perSecond >= SHARE_TARGETS.failuresPerSecond, value: `${fmtCount(th.perSecond)}/s${th.dropped ? `, ${fmtCount(th.dropped)} dropped` : ''}` });
  const l = report.load;
  if (l) report.targets.push({ name: `new replica loads ${fmtCount(l.bans)} bans ≤ ${SHARE_TARGETS.load100kMs / 1000} s`, pass: l.delivered.every((d) => d === l.bans) && l.medianMs <= SHARE_TARGETS.load100kMs, value: `median ${fmtMs(l.medianMs)}` });
  return report;
}

export function formatShare(r: ShareReport): string {
  const out: string[] = ['', 'shared bans (Redis)', ''];
  if (r.skipped) return [...out, `  skipped: ${r.skipped}`, ''].join('\n');
  out.push(
    `  ${REPLICAS} replicas as child processes (share stage, ACL user of group "${GROUP}") and redis-server ${r.redisVersion ?? '?'} on 127.0.0.1; ${r.cores} cores, load average ${r.loadAverage.toFixed(2)} at the start`,
  );
  const row = (a: string, b: string): string => `  ${a.padEnd(36)}${b}`;
  const p = r.propagation;
  out.push(
    row(
      `propagation lag, ${p?.replicas ?? REPLICAS} replicas`,
      p
        ? `p50 ${fmtMs(p.p50Ms)}, p99 ${fmtMs(p.p99Ms)}, max ${fmtMs(p.maxMs)} (${fmtCount(p.bans)} bans by one replica, ${p.intervalMs} ms apart, after ${p.warmup} warm-up; ${fmtCount(p.arrivals)} arrivals at the other two${p.missing ? `, ${fmtCount(p.missing)} MISSING` : ''})`
        : 'n/a',
    ),
  );
  if (p) {
    out.push(
      row(
        '  vs CrowdSec',
        `its firewall bouncer's documented default poll interval is ${CROWDSEC_BOUNCER_POLL_MS / 1000} s (update_frequency: 10s; the peer's setting, not measured here):`,
      ),
      row('', `a decision can wait up to 10 s for it; 10 s is ${timesFaster(p.p99Ms, CROWDSEC_BOUNCER_POLL_MS)} banhammer's p99 and ${timesFaster(p.p50Ms, CROWDSEC_BOUNCER_POLL_MS)} its p50`),
    );
  }
  const th = r.throughput;
  out.push(
    row(
      'shared-count throughput',
      th
        ? `${fmtCount(th.perSecond)} failures/s into one Redis (${th.agents} agents × ${fmtCount(th.perAgent)} distinct addresses: ${fmtCount(th.counted)} counted in ${th.seconds.toFixed(2)} s, ${fmtCount(th.dropped)} dropped; ${fmtCount(th.windowKeys)} window keys, ${th.offenses} group offenses)`
        : 'n/a',
    ),
  );
  if (th) {
    out.push(row('  CPU during the run', `redis-server ${th.redisCpuPercent.toFixed(0)} % of one core, the 3 agents ${th.agentsCpuPercent.toFixed(0)} % together (${r.cores} cores shared by all four and anything else running)`));
    // Redis's own cost per failure, measured; the rate it implies for a whole core is arithmetic, not a measurement.
    const us = (th.redisCpuPercent / 100) * th.seconds * 1e6 / th.counted;
    out.push(row('  redis-server CPU per failure', `${us.toFixed(1)} µs (one core's worth would be ${fmtCount(1e6 / us)} failures/s: computed, not measured)`));
  }
  const l = r.load;
  out.push(
    row(
      `new replica loads ${fmtCount(l?.bans ?? LOAD_BANS)} bans`,
      l ? `median ${fmtMs(l.medianMs)} from start() to the last onRemoteBan (runs: ${l.runsMs.map((ms) => fmtMs(ms)).join(', ')}; each a new process)` : 'n/a',
    ),
  );
  out.push('', '  share targets:');
  for (const t of r.targets) out.push(`    ${t.pass ? 'PASS' : 'FAIL'}  ${t.name.padEnd(46)} ${t.value}`);
  for (const e of r.errors) out.push(`  ERROR: ${e}`);
  out.push('');
  return out.join('\n');
}
