/**
 * The kernel enforcers side by side (issue 12): nftables and iptables (ipset), measured in the same
 * run with the real agent (bin/banhammer.js → dist/banhammer.js, BANHAMMER_ENFORCER=nftables or
 * iptables), inside network namespaces made here and deleted in `finally` (addresses 198.18.0.0/15).
 *
 * 1. Detect → drop latency: a prober in the client namespace opens a TCP connection to the protected
 *    port from the attacker's own address every millisecond (localAddress; each attacker a fresh
 *    address on the client's interface); 4 offending lines are appended, then, 100 ms later, the 5th.
 *    The latency runs from just before that write to the sending of the first connection attempt
 *    that the kernel dropped (it and the next 4 never answered within 200 ms): a packet from the
 *    attacker is dropped, which is what counts, whatever set or rule holds it. Same lab, same prober
 *    and same trials for fail2ban (its stock iptables-ipset action), for the ratio.
 * 2. Start-up with 100,000 bans: a state file in the agent's format (src/decide/state-store.ts
 *    envelope, data = { bans, history, positions }) holding 100,000 unexpired bans; the agent is
 *    started and timed until it logs "banhammer started" (Daemon.start logs it only after the
 *    restored bans were applied: the kernel holds them all), then the kernel's set is counted (not
 *    timed) and must hold all 100,000. An empty state file gives the fixed cost of a start.
 * 3. Packet path with 100,000 bans in an nft set: HTTP req/s (ab, keep-alive) from the client through
 *    a base chain of the agent's layout (hook input, priority -10, `tcp dport { 8080 } ip saddr @set
 *    drop`) whose rule points at an empty set or at a set of 100,000 addresses (the client not among
 *    them), switched with `nft replace rule`, A B B A. A counter rule before it proves the packets
 *    reached the lookup. The bench's own table; the agent is not running.
 * Every phase is bounded in count and time; processes are ended by pid.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { blockRule, chainDefinition, setDefinition, nftNames, type NftLayout, type NftNames } from '../../src/enforce/nft-args.js';
import { Cleanup, createLab, endChild, nowMs, sh, sleep, startChild, tempDir, waitFor, type Lab } from './sys.js';
import { imageEnv, startAgent, startFail2ban } from './tools.js';
import { forbiddenLine, mean, median, parseAb, percentile, v4At } from './util.js';

export type KernelEnforcer = 'nftables' | 'iptables';
export const KERNEL_ENFORCERS: readonly KernelEnforcer[] = ['nftables', 'iptables'];

export const KERNEL_TARGETS = Object.freeze({
  /** 100,000 bans from the state file into the kernel at start, nftables. */
  load100kMs: 1000,
  packetRatio: 0.95,
});

const PORT = 8080;
const LOAD_BANS = 100_000;
/** Attackers of the latency phase: 198.18.0.100 + i on the client's interface (same /24 as the lab). */
const ATTACKER_BASE = 100;

export interface DropLatency {
  readonly tool: string;
  /** ms from the write of the 5th line to the first dropped attempt, per counted trial. */
  readonly ms: number[];
  readonly trials: number;
  readonly timeouts: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly maxMs: number;
}

export interface LoadRun {
  /** Spawn → "banhammer started", ms. */
  readonly readyMs: number;
  /** Spawn → "restored bans from state" (state read, bans restored in memory; the enforcer was set up meanwhile), ms. */
  readonly restoredMs: number;
  /** The agent's CPU time until ready (user + system), its own and its reaped children's (nft, ipset), ms. */
  readonly cpuMs: number;
  /**
   * Of cpuMs, its main thread's (the JavaScript: parse, restore, batches, forks), without V8's GC and
   * libuv's helper threads: the start's critical path, and less moved by a busy machine than wall time.
   */
  readonly mainCpuMs: number;
  readonly childCpuMs: number;
  /** Elements the kernel set held once ready (must equal the bans). */
  readonly inKernel: number;
  /** The agent's resident memory when ready. */
  readonly rssBytes: number;
}

export interface LoadResult {
  readonly enforcer: KernelEnforcer;
  readonly bans: number;
  readonly runs: LoadRun[];
  /** The same start with an empty state file (the fixed cost), one run. */
  readonly empty?: LoadRun;
  readonly medianReadyMs: number;
}

export interface NftPacketResult {
  readonly tool: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly emptyRps: number[];
  readonly loadedRps: number[];
  readonly loadedEntries: number;
  readonly ratio: number;
  readonly failedRequests: number;
  /** Packets counted by the counter rule right before the lookup during the A B B A runs. */
  readonly lookedUp: number;
}

export interface KernelReport {
  skipped?: string;
  cores: number;
  /** 1-minute load average when the section started (the machine may be shared). */
  loadAverage: number;
  latency: Partial<Record<KernelEnforcer | 'fail2ban', DropLatency>>;
  load: Partial<Record<KernelEnforcer, LoadResult>>;
  packet?: NftPacketResult;
  targets: { name: string; pass: boolean; value: string }[];
  errors: string[];
}

export interface KernelOptions {
  readonly root: string;
  readonly fail2ban: boolean;
  readonly quick: boolean;
  readonly progress: (msg: string) => void;
}

async function nftUsable(): Promise<string | null> {
  try {
    await sh.run('nft', ['--version']);
    return null;
  } catch (e) {
    return `nft is not usable: ${(e as Error).message} (apt-get install nftables)`;
  }
}

export async function runKernel(opts: KernelOptions): Promise<KernelReport> {
  const report: KernelReport = { cores: cpus().length, loadAverage: loadavg()[0] ?? Number.NaN, latency: {}, load: {}, targets: [], errors: [] };
  const why = await nftUsable();
  if (why !== null) {
    report.skipped = why;
    return report;
  }
  // The agent is run from a copy of bin/ and dist/ taken now: a build during the run (other work on
  // the same tree) would otherwise swap the bundle's chunks under a starting agent.
  const snapshot = new Cleanup();
  try {
    const root = tempDir(snapshot, 'bhb-agent-copy-');
    for (const part of ['bin', 'dist', 'package.json']) cpSync(join(opts.root, part), join(root, part), { recursive: true });
    symlinkSync(join(opts.root, 'node_modules'), join(root, 'node_modules'));
    await phases({ ...opts, root }, report);
  } catch (e) {
    report.errors.push((e as Error).message);
  } finally {
    report.errors.push(...(await snapshot.run()));
  }
  report.targets = kernelTargets(report);
  return report;
}

async function phases(opts: KernelOptions, report: KernelReport): Promise<void> {
  const trials = opts.quick ? 10 : 20;
  // Five each: the figure is a median against a 1 s target, and a shared machine moves single runs by 0.5 s.
  const loadRuns = opts.quick ? 1 : 5;
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    opts.progress(`kernel: ${name}`);
    try {
      return await fn();
    } catch (e) {
      report.errors.push(`${name}: ${(e as Error).message}`);
      return undefined;
    }
  };
  for (const enforcer of KERNEL_ENFORCERS) {
    const l = await step(`${enforcer}: detect → drop latency (${trials} trials)`, () => latencyPhase(opts, trials, { enforcer }));
    if (l) report.latency[enforcer] = l;
  }
  if (opts.fail2ban) {
    const l = await step(`fail2ban: detect → drop latency (${trials} trials)`, () => latencyPhase(opts, trials, { fail2ban: true }));
    if (l) report.latency.fail2ban = l;
  }
  await step(`${LOAD_BANS.toLocaleString('en-US')} bans from the state file at start (${loadRuns} run(s) each, enforcers alternated, + 1 empty each)`, () => loadPhase(opts, loadRuns, report));
  report.packet = await step('nftables packet path (0 vs 100,000 in the set)', () => nftPacketPath(opts.quick));
}

// ── 1. detect → drop latency ───────────────────────────────────────────────

/**
 * The prober, run by node in the client namespace. Commands on stdin, one per line:
 * `probe ADDR HOST PORT BOUND_MS` starts a connection attempt from ADDR every millisecond, prints
 * `ready` after the first that connected, then `drop T` with the send time (performance.timeOrigin +
 * performance.now(), comparable between processes) of the first attempt that got no answer in 200 ms
 * when it and the next 4 all got none, or `bound` when BOUND_MS passed first; then it stops.
 */
const PROBER = String.raw`
const net = require('node:net');
const now = () => performance.timeOrigin + performance.now();
const out = (s) => process.stdout.write(s + '\n');
let run = null;
function probe(addr, host, port, bound) {
  const attempts = [];
  let ready = false, next = 0, stopped = false;
  const t0 = now();
  const stop = (msg) => { if (stopped) return; stopped = true; clearInterval(iv); out(msg); };
  const check = () => {
    // the earliest dropped attempt followed by 4 more, every earlier one settled
    for (; next < attempts.length; next++) {
      const a = attempts[next];
      if (a.state === 'pending') return;
      if (a.state !== 'drop') continue;
      const win = attempts.slice(next, next + 5);
      if (win.length < 5 || win.some((x) => x.state === 'pending')) return;
      if (win.every((x) => x.state === 'drop')) return stop('drop ' + a.t);
    }
  };
  const iv = setInterval(() => {
    if (stopped) return;
    if (now() - t0 > bound) return stop('bound');
    const a = { t: now(), state: 'pending' };
    attempts.push(a);
    const s = net.connect({ host, port, localAddress: addr });
    const timer = setTimeout(() => { if (a.state === 'pending') { a.state = 'drop'; s.destroy(); check(); } }, 200);
    s.once('connect', () => { a.state = 'ok'; clearTimeout(timer); s.destroy(); if (!ready) { ready = true; out('ready'); } check(); });
    s.once('error', () => { if (a.state === 'pending') { a.state = 'error'; clearTimeout(timer); check(); } });
  }, 1);
  run = { stop };
}
let buf = '';
process.stdin.setEncoding('utf8').on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const [cmd, addr, host, port, bound] = buf.slice(0, nl).split(' ');
    buf = buf.slice(nl + 1);
    if (cmd === 'probe') probe(addr, host, Number(port), Number(bound));
  }
});
process.stdin.on('end', () => process.exit(0));
`;

class Prober {
  private out = '';
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.out += s;
      this.poke();
    });
    child.once('exit', (c) => {
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`prober exited with ${c}`));
      }
    });
  }
  private poke(): void {
    for (const w of [...this.waiters]) {
      const m = w.re.exec(this.out);
      if (!m) continue;
      this.out = this.out.slice(m.index + m[0].length);
      this.waiters.splice(this.waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(m);
    }
  }
  wait(re: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`prober: no ${re.source} in ${ms} ms`));
      }, ms);
      const w = { re, resolve, reject, timer };
      this.waiters.push(w);
      this.poke();
    });
  }
  probe(addr: string, host: string, port: number, boundMs: number): void {
    this.out = '';
    this.child.stdin!.write(`probe ${addr} ${host} ${port} ${boundMs}\n`);
  }
}

const wallNow = (): number => performance.timeOrigin + performance.now();

function append(path: string, text: string): void {
  const fd = openSync(path, 'a');
  try {
    const b = Buffer.from(text, 'latin1');
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
  } finally {
    closeSync(fd);
  }
}

/** A plain TCP listener on the protected port in the server namespace (connects are answered by the kernel). */
async function listen(cleanup: Cleanup, lab: Lab): Promise<void> {
  const script = `require('node:net').createServer((s) => s.destroy()).listen(${PORT}, process.argv[1], () => console.log('ready'));`;
  const server = startChild(cleanup, 'ip', ['netns', 'exec', lab.server, process.execPath, '-e', script, lab.serverAddr]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('listener did not start in 15 s')), 15_000);
    server.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    server.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`listener exited with ${c}`));
    });
  });
}

async function clientDevice(lab: Lab): Promise<string> {
  const r = await sh.run('ip', ['-n', lab.client, '-o', 'link', 'show']);
  const dev = r.stdout.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).find((d) => d !== undefined && d !== 'lo');
  if (!dev) throw new Error(`no interface in ${lab.client}`);
  return dev;
}

async function latencyPhase(opts: KernelOptions, trials: number, who: { enforcer?: KernelEnforcer; fail2ban?: boolean }): Promise<DropLatency> {
  const cleanup = new Cleanup();
  try {
    const lab = await createLab(cleanup, who.fail2ban ? 'k' : who.enforcer === 'nftables' ? 'n' : 'i');
    const dev = await clientDevice(lab);
    const attackers = Array.from({ length: trials + 1 }, (_, i) => `198.18.0.${ATTACKER_BASE + i}`);
    for (const a of attackers) await sh.run('ip', ['-n', lab.client, 'addr', 'add', `${a}/24`, 'dev', dev]);
    await listen(cleanup, lab);
    const dir = tempDir(cleanup, 'bhb-kernel-');
    let logPath: string;
    let tool: string;
    let stop: () => Promise<void>;
    if (who.fail2ban) {
      const f = await startFail2ban(cleanup, { ns: lab.server, dir, port: PORT });
      logPath = f.logPath;
      tool = `fail2ban (${f.backend}, iptables-ipset-proto6)`;
      stop = () => f.stop();
    } else {
      const a = await startAgent(cleanup, { root: opts.root, ns: lab.server, dir, instance: 'bhbk', port: PORT, enforcer: who.enforcer! });
      logPath = a.logPath;
      tool = `banhammer (${who.enforcer})`;
      stop = () => a.stop();
      await sleep(500);
    }
    const child = startChild(cleanup, 'ip', ['netns', 'exec', lab.client, process.execPath, '-e', PROBER], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => undefined);
    const prober = new Prober(child);
    const ms: number[] = [];
    let timeouts = 0;
    const boundMs = who.fail2ban ? 10_000 : 5000;
    // Trial -1 is a warm-up (fail2ban creates its set and rule at its first ban).
    for (let i = -1; i < trials; i++) {
      const ip = attackers[i + 1]!;
      const ts = Date.now();
      prober.probe(ip, lab.serverAddr, PORT, boundMs + (who.fail2ban && i < 0 ? 20_000 : 0) + 2000);
      await prober.wait(/ready\n/, 5000);
      append(logPath, forbiddenLine(ip, ts).repeat(4));
      await sleep(100);
      const t0 = wallNow();
      append(logPath, forbiddenLine(ip, ts));
      const m = await prober.wait(/(drop (\S+)|bound)\n/, boundMs + 25_000);
      if (i < 0) continue;
      if (m[2] === undefined) timeouts++;
      else ms.push(Math.max(0, Number(m[2]) - t0));
      await sleep(100);
    }
    child.stdin!.end();
    await endChild(child, 2000);
    await stop();
    return { tool, ms, trials, timeouts, medianMs: median(ms), p95Ms: percentile(ms, 95), maxMs: ms.length ? Math.max(...ms) : Number.NaN };
  } finally {
    const errs = await cleanup.run();
    if (errs.length > 0) throw new Error(errs.join('; '));
  }
}

// ── 2. start-up with 100,000 bans ──────────────────────────────────────────

/** The agent's state file (src/decide/state-store.ts envelope; data as src/run.ts validateState reads it) with n unexpired bans. */
export function stateFileText(n: number, now: number): string {
  const bans: unknown[] = [];
  for (let i = 0; i < n; i++) {
    bans.push({ ip: v4At(4096 + i), family: 4, rule: 'forbidden', at: now - 60_000, until: now + 3_600_000 + (i % 1000) * 1000, failures: 5, nth: 1, manual: false });
  }
  return JSON.stringify({ version: 1, savedAt: now, data: { bans, history: [], positions: [] } });
}

function statCpu(pid: number): { self: number; children: number; main: number } {
  const fields = (path: string): number[] => {
    const f = readFileSync(path, 'latin1');
    return f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
  };
  const r = fields(`/proc/${pid}/stat`);
  // utime stime cutime cstime are fields 14–17 (rest[11..14]), in clock ticks (USER_HZ 100); the
  // main thread's task has the process's id.
  const t = fields(`/proc/${pid}/task/${pid}/stat`);
  return { self: ((r[11] ?? 0) + (r[12] ?? 0)) * 10, children: ((r[13] ?? 0) + (r[14] ?? 0)) * 10, main: ((t[11] ?? 0) + (t[12] ?? 0)) * 10 };
}

async function kernelCount(ns: string, enforcer: KernelEnforcer, instance: string): Promise<number> {
  if (enforcer === 'nftables') {
    const r = await sh.run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', nftNames(instance).table, 'addr4'], { timeoutMs: 60_000 });
    const list = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables;
    return list.reduce((n, o) => n + (o.set?.elem?.length ?? 0), 0);
  }
  const r = await sh.run('ip', ['netns', 'exec', ns, 'ipset', 'list', '-t', `bh-${instance}-v4`], { timeoutMs: 60_000 });
  const m = /^Number of entries: (\d+)/m.exec(r.stdout);
  return m ? Number(m[1]) : Number.NaN;
}

async function oneLoad(opts: KernelOptions, enforcer: KernelEnforcer, state: string, bans: number): Promise<LoadRun> {
  const cleanup = new Cleanup();
  try {
    const ns = `bhb-load-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    await sh.run('ip', ['netns', 'add', ns]);
    cleanup.add(`netns ${ns}`, async () => {
      await sh.run('ip', ['netns', 'del', ns]);
    });
    await sh.run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    const dir = tempDir(cleanup, 'bhb-load-');
    const instance = 'bhbl';
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, `state-${instance}.json`), state);
    writeFileSync(join(dir, 'access.log'), '');
    const env = imageEnv();
    Object.assign(env, {
      BANHAMMER_INSTANCE: instance,
      BANHAMMER_LOG_PATH: join(dir, 'access.log'),
      BANHAMMER_LOG_FORMAT: 'apache-combined',
      BANHAMMER_STATE_DIR: stateDir,
      BANHAMMER_SOCKET: join(dir, 'bh.sock'),
      BANHAMMER_PORTS: String(PORT),
      BANHAMMER_ENFORCER: enforcer,
      BANHAMMER_LOG_LEVEL: 'info',
    });
    const t0 = nowMs();
    const child = startChild(cleanup, 'ip', ['netns', 'exec', ns, process.execPath, join(opts.root, 'bin', 'banhammer.js'), 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let restoredMs = Number.NaN;
    let cpu = { self: Number.NaN, children: Number.NaN, main: Number.NaN };
    let rssBytes = Number.NaN;
    const readyMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready in 60 s: ${out.slice(-800)}`)), 60_000);
      child.stdout!.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (Number.isNaN(restoredMs) && out.includes('"restored bans from state"')) restoredMs = nowMs() - t0;
        if (out.includes('"banhammer started"')) {
          const t = nowMs() - t0;
          try {
            cpu = statCpu(child.pid!);
            rssBytes = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid!}/status`, 'latin1'))?.[1]) * 1024;
          } catch {
            // gone
          }
          clearTimeout(timer);
          resolve(t);
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.once('exit', (c) => {
        clearTimeout(timer);
        reject(new Error(`agent exited with ${c}: ${out.slice(-800)}`));
      });
    });
    const inKernel = await kernelCount(ns, enforcer, instance);
    if (inKernel !== bans) throw new Error(`${enforcer}: the kernel holds ${inKernel} of ${bans} bans once the agent is ready`);
    await endChild(child, 30_000);
    if (child.exitCode !== 0) throw new Error(`agent exited with ${child.exitCode ?? child.signalCode}: ${out.slice(-800)}`);
    return { readyMs, restoredMs, cpuMs: cpu.self, mainCpuMs: cpu.main, childCpuMs: cpu.children, inKernel, rssBytes };
  } finally {
    const errs = await cleanup.run();
    if (errs.length > 0) throw new Error(errs.join('; '));
  }
}

async function loadPhase(opts: KernelOptions, runs: number, report: KernelReport): Promise<void> {
  const now = Date.now();
  const full = stateFileText(LOAD_BANS, now);
  const got = new Map<KernelEnforcer, LoadRun[]>(KERNEL_ENFORCERS.map((e) => [e, []]));
  // Alternated (n i n i …): load on a shared machine changes by the minute.
  for (let r = 0; r < runs; r++) {
    for (const enforcer of KERNEL_ENFORCERS) {
      opts.progress(`kernel: ${enforcer} load, run ${r + 1}/${runs}`);
      got.get(enforcer)!.push(await oneLoad(opts, enforcer, full, LOAD_BANS));
    }
  }
  for (const enforcer of KERNEL_ENFORCERS) {
    const list = got.get(enforcer)!;
    const empty = await oneLoad(opts, enforcer, stateFileText(0, now), 0);
    report.load[enforcer] = { enforcer, bans: LOAD_BANS, runs: list, empty, medianReadyMs: median(list.map((x) => x.readyMs)) };
  }
}

// ── 3. packet path, nftables ───────────────────────────────────────────────

const SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain', 'content-length': 3}); res.end('ok\\n'); });
s.keepAliveTimeout = 60000;
s.listen(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;

const PKT_NAMES: NftNames = { instance: 'bhb-pkt', table: 'bhb_pkt', chain: 'input', sets: { 4: 'full4', 6: 'full6' }, nets: { 4: 'net4', 6: 'net6' } };

async function nftPacketPath(quick: boolean): Promise<NftPacketResult> {
  try {
    await sh.run('ab', ['-V']);
  } catch {
    throw new Error('ab not found (apt-get install apache2-utils)');
  }
  const cleanup = new Cleanup();
  try {
    const lab = await createLab(cleanup, 'p');
    const server = startChild(cleanup, 'ip', ['netns', 'exec', lab.server, process.execPath, '-e', SERVER, lab.serverAddr, String(PORT)]);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('http server did not start in 15 s')), 15_000);
      server.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      server.once('exit', (c) => {
        clearTimeout(t);
        reject(new Error(`http server exited with ${c}`));
      });
    });
    const nft = (args: string[], input?: string) =>
      sh.run('ip', ['netns', 'exec', lab.server, 'nft', ...args], input === undefined ? { timeoutMs: 60_000 } : { input, timeoutMs: 60_000 });
    const layout: NftLayout = { names: PKT_NAMES, ports: [PORT], action: 'drop', families: [4] };
    const t = `inet ${PKT_NAMES.table}`;
    const full = { name: 'full4', family: 4 as const, kind: 'addr' as const };
    const empty = { name: 'empty4', family: 4 as const, kind: 'addr' as const };
    const target = 100_000;
    // The agent's set definition and block rule; a counter rule for the port before it.
    await nft(['-f', '-'], [
      `add table ${t}`,
      `add set ${t} full4 ${setDefinition(layout, full)}`,
      `add set ${t} empty4 ${setDefinition(layout, empty)}`,
      `add chain ${t} input ${chainDefinition('input')}`,
      `add rule ${t} input tcp dport ${PORT} counter`,
      `add rule ${t} input ${blockRule(layout, empty)}`,
      '',
    ].join('\n'));
    cleanup.add('nft table bhb_pkt', async () => {
      await nft(['delete', 'table', 'inet', PKT_NAMES.table]).catch(() => undefined);
    });
    // 100,000 addresses the client (198.18.0.2) is not among, in transactions of 5,000.
    for (let k = 0; k < target; k += 5000) {
      const els: string[] = [];
      for (let n = k; n < Math.min(target, k + 5000); n++) els.push(`${v4At(4096 + n)} timeout 1h`);
      await nft(['-f', '-'], `add element ${t} full4 { ${els.join(', ')} }\n`);
    }
    const listing = await nft(['-j', '-a', 'list', 'chain', 'inet', PKT_NAMES.table, 'input']);
    const rules = (JSON.parse(listing.stdout) as { nftables: { rule?: { handle: number; expr: unknown[] } }[] }).nftables.filter((o) => o.rule).map((o) => o.rule!);
    const counterRule = rules[0];
    const blockHandle = rules[1]?.handle;
    if (!counterRule || blockHandle === undefined) throw new Error('the bench chain does not hold its two rules');
    const use = (set: typeof full) => nft(['-f', '-'], `replace rule ${t} input handle ${blockHandle} ${blockRule(layout, set)}\n`);
    const counted = async (): Promise<number> => {
      const r = await nft(['-j', 'list', 'chain', 'inet', PKT_NAMES.table, 'input']);
      const first = (JSON.parse(r.stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables.find((o) => o.rule)?.rule;
      return first?.expr.find((e) => e.counter)?.counter?.packets ?? Number.NaN;
    };
    const count = async (): Promise<number> => {
      const r = await nft(['-j', 'list', 'set', 'inet', PKT_NAMES.table, 'full4']);
      return (JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables.reduce((n, o) => n + (o.set?.elem?.length ?? 0), 0);
    };
    const loaded = await count();
    if (loaded !== target) throw new Error(`full4 holds ${loaded} elements, not ${target}`);
    const secs = quick ? 2 : 4;
    const c = 16;
    const ab = async (s: number): Promise<{ rps: number; failed: number }> => {
      const r = await sh.run('ip', ['netns', 'exec', lab.client, 'ab', '-k', '-q', '-c', String(c), '-t', String(s), '-n', '100000000', '-s', '5', `http://${lab.serverAddr}:${PORT}/`], { timeoutMs: (s + 30) * 1000 });
      const a = parseAb(r.stdout);
      return { rps: a.requestsPerSecond, failed: a.failed };
    };
    await ab(1); // warm-up
    const before = await counted();
    const emptyRps: number[] = [];
    const loadedRps: number[] = [];
    let failed = 0;
    // A B B A: a drift of the machine's load over the phase weighs on both alike.
    for (const set of [empty, full, full, empty]) {
      await use(set);
      const a = await ab(secs);
      (set === empty ? emptyRps : loadedRps).push(a.rps);
      failed += a.failed;
    }
    const lookedUp = (await counted()) - before;
    const requests = (mean(emptyRps) + mean(loadedRps)) * 2 * secs;
    if (!(lookedUp >= requests * 0.5)) throw new Error(`only ${lookedUp} packets reached the lookup for ~${Math.round(requests)} requests`);
    return { tool: 'ab (apache2-utils), keep-alive', seconds: secs, concurrency: c, emptyRps, loadedRps, loadedEntries: loaded, ratio: mean(loadedRps) / mean(emptyRps), failedRequests: failed, lookedUp };
  } finally {
    const errs = await cleanup.run();
    if (errs.length > 0) throw new Error(errs.join('; '));
  }
}

// ── report ─────────────────────────────────────────────────────────────────

const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(x < 100 ? 1 : 0)} ms`);
const int = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));

function kernelTargets(r: KernelReport): KernelReport['targets'] {
  const out: KernelReport['targets'] = [];
  const n = r.load.nftables;
  out.push({
    name: `nftables: ${int(LOAD_BANS)} bans from the state file ≤ ${KERNEL_TARGETS.load100kMs / 1000} s`,
    pass: !!n && n.medianReadyMs <= KERNEL_TARGETS.load100kMs,
    value: n ? `median ${ms(n.medianReadyMs)} (${n.runs.map((x) => ms(x.readyMs)).join(', ')})` : 'not measured',
  });
  const pk = r.packet;
  out.push({
    name: `nftables: req/s with ${int(pk?.loadedEntries ?? LOAD_BANS)} banned ≥ ${KERNEL_TARGETS.packetRatio * 100} % of none`,
    pass: !!pk && pk.ratio >= KERNEL_TARGETS.packetRatio,
    value: pk ? `${(pk.ratio * 100).toFixed(1)} %` : 'not measured',
  });
  return out;
}

export function formatKernel(r: KernelReport): string {
  const out: string[] = ['', 'kernel enforcers: nftables vs iptables (ipset), real agent, network namespaces, same run', ''];
  if (r.skipped) return [...out, `  skipped: ${r.skipped}`, ''].join('\n');
  out.push(`  ${r.cores} cores, load average ${r.loadAverage.toFixed(2)} at the start`, '');
  const row = (a: string, ...cols: string[]): string => `  ${a.padEnd(38)}${cols.map((c) => c.padEnd(46)).join('')}`.trimEnd();
  out.push(row('measure', 'nftables', 'iptables (ipset)', 'fail2ban'));
  const lat = (l?: DropLatency): string => (l ? `med ${ms(l.medianMs)}, p95 ${ms(l.p95Ms)}, max ${ms(l.maxMs)}${l.timeouts ? `, ${l.timeouts} t/o` : ''}` : 'n/a');
  out.push(row(`detect → drop (${r.latency.nftables?.trials ?? r.latency.iptables?.trials ?? 0} bans)`, lat(r.latency.nftables), lat(r.latency.iptables), r.latency.fail2ban ? lat(r.latency.fail2ban) : 'skipped'));
  const f = r.latency.fail2ban;
  const ratio = (l?: DropLatency): string => (l && f ? `fail2ban / this: ${(f.medianMs / l.medianMs).toFixed(1)}×` : '');
  if (f) out.push(row('  median ratio', ratio(r.latency.nftables), ratio(r.latency.iptables)));
  const ld = (x?: LoadResult): string => (x ? `median ${ms(x.medianReadyMs)} (${x.runs.map((y) => ms(y.readyMs)).join(', ')})` : 'n/a');
  out.push(row(`${int(LOAD_BANS)} bans at start: ready`, ld(r.load.nftables), ld(r.load.iptables), '—'));
  const part = (x?: LoadResult): string => {
    const m = x?.runs[0] ? x.runs : undefined;
    if (!m) return 'n/a';
    return `state read + restored ${ms(median(m.map((y) => y.restoredMs)))}`;
  };
  out.push(row('  of which', part(r.load.nftables), part(r.load.iptables)));
  const cpu = (x?: LoadResult): string => (x ? `agent ${ms(median(x.runs.map((y) => y.cpuMs)))} (main ${ms(median(x.runs.map((y) => y.mainCpuMs)))}) + children ${ms(median(x.runs.map((y) => y.childCpuMs)))}` : 'n/a');
  out.push(row('  CPU until ready (median)', cpu(r.load.nftables), cpu(r.load.iptables)));
  const rss = (x?: LoadResult): string => (x ? `${(median(x.runs.map((y) => y.rssBytes)) / 1e6).toFixed(1)} MB` : 'n/a');
  out.push(row('  RSS when ready (median)', rss(r.load.nftables), rss(r.load.iptables)));
  const em = (x?: LoadResult): string => (x?.empty ? `ready ${ms(x.empty.readyMs)}` : 'n/a');
  out.push(row('  empty state file (fixed cost)', em(r.load.nftables), em(r.load.iptables)));
  const pk = r.packet;
  out.push(row('HTTP req/s: 0 vs N in the nft set', pk ? `${int(mean(pk.emptyRps))} vs ${int(mean(pk.loadedRps))} (${int(pk.loadedEntries)})` : 'n/a', 'see the live section', '—'));
  if (pk) {
    out.push(`    ${pk.tool}, ${pk.concurrency} connections, A B B A × ${pk.seconds} s: empty ${pk.emptyRps.map(int).join(', ')}; loaded ${pk.loadedRps.map(int).join(', ')}; ${pk.failedRequests} failed; ${int(pk.lookedUp)} packets reached the lookup`);
  }
  out.push('    detect → drop: from the write of the offending line to the first TCP attempt from the attacker that the kernel dropped (attempts every 1 ms)');
  out.push('', '  kernel targets:');
  for (const t of r.targets) out.push(`    ${t.pass ? 'PASS' : 'FAIL'}  ${t.name.padEnd(52)} ${t.value}`);
  for (const e of r.errors) out.push(`  ERROR: ${e}`);
  out.push('');
  return out.join('\n');
}
