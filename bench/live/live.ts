/**
 * The live-agent benchmark (`npm run bench`, after the replay part; `--no-live` skips it,
 * `--live-only` runs only it). Same run, same machine, everything inside network namespaces it
 * creates (addresses from 198.18.0.0/15 and 2001:db8::/32 only), every phase bounded in count and
 * time, and everything it made (processes by pid, namespaces — with their rules and sets —, temp
 * dirs) removed in `finally`, also on failure.
 *
 * banhammer (`node bin/banhammer.js run`, enforcer iptables) in namespace S, clients in C:
 *   agent 1: idle RSS → detection latency (20 trials) → ban storm (10,000 offenders) → packet path
 *            (HTTP req/s from C through a hash:ip set of the agent's type with 0 vs 100,000 entries:
 *            the bench's own set, chain and INPUT jump below the agent's, contents swapped in and out
 *            with `ipset swap`, A B A B; the agent's own set is never touched) → memory after
 *            1,000,000 distinct addresses failed once;
 *   agent 2: live growth (50,000 lines/s of generated traffic for 30 s): CPU and read lag.
 * fail2ban (`fail2ban-server -f`, see tools.ts) in its own namespace: latency (20 trials), storm
 * (1,000 offenders, 30 s bound), growth (20,000 lines/s for 15 s, 60 s catch-up bound).
 * A missed target prints FAIL; only a broken setup is an error.
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { measureGrowth, measureLatency, measureStorm, makeTraffic, waitRead, type GrowthResult, type LatencyResult, type StormResult } from './phases.js';
import { Cleanup, createLab, IpsetProbe, liveUnavailable, nowMs, procMem, procRchar, sh, sleep, startChild, tempDir, waitFor, type Lab } from './sys.js';
import { savedOffset, startAgent, startFail2ban, type Agent } from './tools.js';
import { blockSpec, createSetArgs, firewallNames, jumpSpecs, WAIT } from '../../src/enforce/iptables-args.js';
import { forbiddenLine, jumpPackets, mean, median, parseAb, percentile, v4At, v6At } from './util.js';

export const LIVE_TARGETS = Object.freeze({
  latencyMedianMs: 50,
  latencyMaxMs: 250,
  growthCpuPercent: 50,
  stormSeconds: 1,
  idleRssBytes: 60 * 1e6,
  loadedRssBytes: 256 * 1e6,
  packetRatio: 0.95,
});

export interface LiveOptions {
  readonly root: string;
  readonly fail2ban: boolean;
  readonly quick: boolean;
  readonly progress: (msg: string) => void;
}

const PORT = 8080;
// Address plan (n → v4At(n), 198.18.0.0/15): 0–255 the lab; storm and packet fill 4096…;
// latency 130000…; fail2ban latency 129000…, fail2ban storm 120000…
const LAT_BASE = 130_000;
const F2B_LAT_BASE = 129_000;
const STORM_BASE = 4096;
const F2B_STORM_BASE = 120_000;

export interface LiveReport {
  skipped?: string;
  banhammer: {
    idleRssBytes?: number;
    latency?: LatencyResult & { medianMs: number; p95Ms: number; maxMs: number };
    storm?: StormResult;
    packet?: PacketResult;
    memory?: MemoryResult;
    growth?: GrowthResult & { savedOffset: number; fileBytes: number };
  };
  fail2ban: {
    backend?: string;
    latency?: LatencyResult & { medianMs: number; p95Ms: number; maxMs: number };
    storm?: StormResult;
    growth?: GrowthResult & { countable403: number; totalFailedAtEnd: number; totalFailedFinal: number };
    skipped?: string;
  };
  targets: { name: string; pass: boolean; value: string }[];
  errors: string[];
}

interface PacketResult {
  readonly tool: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly emptyRps: number[];
  readonly loadedRps: number[];
  readonly loadedEntries: number;
  readonly ratio: number;
  readonly failedRequests: number;
  /** Packets that took the INPUT jump to the bench's chain during the A B A B runs (the lookup was on the path). */
  readonly jumpPackets: number;
  /** `ipset swap` attempts answered EBUSY (another dump held a set) and retried. */
  readonly swapRetries: number;
}

interface MemoryResult {
  readonly addresses: number;
  readonly readAll: boolean;
  readonly totalFailed: number;
  readonly tracked: number;
  /** From the first write until the agent had read every line, s. */
  readonly readSeconds: number;
  readonly rssBytes: number;
  readonly hwmBytes: number;
}

const lat = (r: LatencyResult) => ({ ...r, medianMs: median(r.ms), p95Ms: percentile(r.ms, 95), maxMs: r.ms.length ? Math.max(...r.ms) : Number.NaN });

async function section<T>(report: LiveReport, name: string, progress: (m: string) => void, fn: () => Promise<T>): Promise<T | undefined> {
  progress(`live: ${name}`);
  try {
    return await fn();
  } catch (e) {
    report.errors.push(`${name}: ${(e as Error).message}`);
    return undefined;
  }
}

export async function runLive(opts: LiveOptions): Promise<LiveReport> {
  const report: LiveReport = { banhammer: {}, fail2ban: {}, targets: [], errors: [] };
  const why = await liveUnavailable();
  if (why !== null) {
    report.skipped = why;
    return report;
  }
  const p = opts.progress;
  const trials = opts.quick ? 10 : 20;
  const stormN = opts.quick ? 2000 : 10_000;
  const memN = opts.quick ? 200_000 : 1_000_000;
  const growthSeconds = opts.quick ? 10 : 30;

  // ── banhammer ────────────────────────────────────────────────────────────
  {
    const cleanup = new Cleanup();
    try {
      const lab = await createLab(cleanup, 'a');
      const probe = new IpsetProbe(cleanup, lab.server);
      cleanup.add('ipset probe', () => probe.close());
      const dir1 = tempDir(cleanup, 'bhb-agent1-');
      const agent = await startAgent(cleanup, { root: opts.root, ns: lab.server, dir: dir1, instance: 'bhb1', port: PORT });
      await waitFor(`set ${agent.setV4}`, 10_000, async () => (await probe.count(agent.setV4).catch(() => Number.NaN)) >= 0, 100);
      await sleep(2000);
      report.banhammer.idleRssBytes = procMem(agent.pid).rssBytes;

      const l = await section(report, `banhammer detection latency (${trials} trials)`, p, () =>
        measureLatency({ logPath: agent.logPath, probe, set: agent.setV4, trials, addr: (i) => v4At(LAT_BASE + i), boundMs: 5000, settleMs: 100 }),
      );
      if (l) report.banhammer.latency = lat(l);

      report.banhammer.storm = await section(report, `banhammer ban storm (${stormN} offenders)`, p, () =>
        measureStorm({ logPath: agent.logPath, probe, set: agent.setV4, offenders: stormN, addr: (i) => v4At(STORM_BASE + i), boundMs: 30_000, pollMs: 5 }),
      );

      report.banhammer.packet = await section(report, 'packet path (0 vs 100,000 banned)', p, () => packetPath(cleanup, lab, agent, probe, opts.quick));

      report.banhammer.memory = await section(report, `memory after ${memN} distinct failing addresses`, p, () => memory(agent, memN));

      await agent.stop();
    } catch (e) {
      report.errors.push(`banhammer: ${(e as Error).message}`);
    } finally {
      report.errors.push(...(await cleanup.run()));
    }
  }
  {
    const cleanup = new Cleanup();
    try {
      const rate = 50_000;
      p(`live: generating ${rate * growthSeconds} lines of traffic`);
      const traffic = makeTraffic(rate * growthSeconds, rate, 7, 500);
      const lab = await createLab(cleanup, 'g');
      const dir2 = tempDir(cleanup, 'bhb-agent2-');
      const agent = await startAgent(cleanup, { root: opts.root, ns: lab.server, dir: dir2, instance: 'bhb2', port: PORT });
      await sleep(1000);
      const g = await section(report, `banhammer live growth (${rate} lines/s for ${growthSeconds} s)`, p, () =>
        measureGrowth({ logPath: agent.logPath, pid: agent.pid, traffic, rate, seconds: growthSeconds, catchUpBoundMs: 15_000 }),
      );
      if (g) {
        const fileBytes = statSync(agent.logPath).size;
        // The agent saves its read position every second while it moves.
        let saved = Number.NaN;
        await waitFor('the saved read position', 5000, () => (saved = savedOffset(agent.stateFile).offset) >= fileBytes, 100).catch(() => undefined);
        report.banhammer.growth = { ...g, savedOffset: saved, fileBytes };
      }
      await agent.stop();
    } catch (e) {
      report.errors.push(`banhammer growth: ${(e as Error).message}`);
    } finally {
      report.errors.push(...(await cleanup.run()));
    }
  }

  // ── fail2ban ─────────────────────────────────────────────────────────────
  if (!opts.fail2ban) {
    report.fail2ban.skipped = '--no-fail2ban';
  } else {
    const cleanup = new Cleanup();
    try {
      const lab = await createLab(cleanup, 'f');
      const probe = new IpsetProbe(cleanup, lab.server);
      cleanup.add('ipset probe', () => probe.close());
      const dir = tempDir(cleanup, 'bhb-f2b-');
      const f2b = await startFail2ban(cleanup, { ns: lab.server, dir, port: PORT });
      report.fail2ban.backend = f2b.backend;
      // The stock action creates its set at the first ban: the latency phase's warm-up trial.
      const l = await section(report, `fail2ban detection latency (${trials} trials, ${f2b.backend})`, p, async () => {
        const first = v4At(F2B_LAT_BASE);
        appendBytes5(f2b.logPath, first);
        await waitFor(`fail2ban's set ${f2b.set}`, 20_000, async () => (await sh.run('ip', ['netns', 'exec', lab.server, 'ipset', 'list', '-n'])).stdout.split('\n').includes(f2b.set), 100);
        return measureLatency({ logPath: f2b.logPath, probe, set: f2b.set, trials, addr: (i) => v4At(F2B_LAT_BASE + 1 + i), boundMs: 10_000, settleMs: 100 });
      });
      if (l) report.fail2ban.latency = lat(l);
      report.fail2ban.storm = await section(report, 'fail2ban ban storm (1,000 offenders, 30 s bound)', p, () =>
        measureStorm({ logPath: f2b.logPath, probe, set: f2b.set, offenders: 1000, addr: (i) => v4At(F2B_STORM_BASE + i), boundMs: 30_000, pollMs: 50 }),
      );
      const rate = 20_000;
      const seconds = opts.quick ? 5 : 15;
      const g = await section(report, `fail2ban live growth (${rate} lines/s for ${seconds} s, 60 s catch-up bound)`, p, async () => {
        const traffic = makeTraffic(rate * seconds, rate, 8, 200, true);
        const before = await f2b.status();
        const r = await measureGrowth({ logPath: f2b.logPath, pid: f2b.pid, traffic, rate, seconds, catchUpBoundMs: 60_000 });
        const after = await f2b.status();
        return { ...r, countable403: traffic.countable403, totalFailedAtEnd: Number.NaN, totalFailedFinal: after.totalFailed - before.totalFailed };
      });
      if (g) report.fail2ban.growth = g;
      await f2b.stop();
    } catch (e) {
      report.errors.push(`fail2ban: ${(e as Error).message}`);
    } finally {
      report.errors.push(...(await cleanup.run()));
    }
  }

  report.targets = targets(report);
  return report;
}

function appendBytes5(path: string, ip: string): void {
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, forbiddenLine(ip, Date.now()).repeat(5));
  } finally {
    closeSync(fd);
  }
}

const SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain', 'content-length': 3}); res.end('ok\\n'); });
s.keepAliveTimeout = 60000;
s.listen(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;

/** The bench's own kernel objects for the packet path (never the agent's: its 2 s check repairs those). */
const PKT_SET = 'bhb-pkt-v4';
const PKT_SCRATCH = 'bhb-pkt-swap';
const PKT_CHAIN = 'BHB-PKT';

/**
 * `ipset swap` answers EBUSY while another netlink dump holds either set (the agent's 2 s check runs
 * `ipset list -t`, which walks every set in the namespace): retried briefly; the swap itself is atomic.
 */
async function swapSets(inS: (args: string[]) => Promise<unknown>, a: string, b: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await inS(['ipset', 'swap', a, b]);
      return attempt;
    } catch (e) {
      if (attempt >= 50 || !/busy/i.test((e as Error).message)) throw e;
      await sleep(20);
    }
  }
}

/**
 * HTTP req/s from C through a hash:ip set lookup with 0 vs 100,000 entries, on the same kernel path
 * as the agent's rule but with the bench's own objects: a set of the agent's type (createSetArgs: hash:ip,
 * family inet, timeout 0, maxelem 1,048,576) filled with 100,000 addresses the client is not among, an
 * empty scratch set of the same type, and a chain BHB-PKT holding the agent's block rule (blockSpec) on
 * that set, jumped to from INPUT for the port right below the agent's own jumps (which the agent keeps
 * at the top). `ipset swap` exchanges the two sets' contents under the rule's set name (A B A B).
 * The agent's set and chain are left alone (its 2 s check compares them with its ban book and would
 * remove stray entries). Everything made here is removed in `finally` (the namespace's deletion
 * removes anything left after a failure).
 */
async function packetPath(cleanup: Cleanup, lab: Lab, agent: Agent, probe: IpsetProbe, quick: boolean): Promise<PacketResult> {
  try {
    await sh.run('ab', ['-V']);
  } catch {
    throw new Error('ab not found (apt-get install apache2-utils)');
  }
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
  const inS = (args: string[], input?: string) => sh.run('ip', ['netns', 'exec', lab.server, ...args], input === undefined ? { timeoutMs: 60_000 } : { input, timeoutMs: 60_000 });
  const ipt = (args: string[]) => inS(['iptables', ...args]);
  const target = 100_000;
  const jump = jumpSpecs(PKT_CHAIN, [PORT])[0] as string[];
  const made = { sets: false, chain: false, jump: false };
  const empty: number[] = [];
  const full: number[] = [];
  let failed = 0;
  let loaded = Number.NaN;
  let swapRetries = 0;
  let jumped = Number.NaN;
  try {
    made.sets = true;
    for (const set of [PKT_SET, PKT_SCRATCH]) {
      await inS(['ipset', ...createSetArgs(set, 4)]);
      await inS(['ipset', 'flush', set]);
    }
    const adds: string[] = [];
    for (let n = STORM_BASE + 10_000; adds.length < target; n++) adds.push(`add ${PKT_SET} ${v4At(n)} timeout 3600`);
    await inS(['ipset', '-exist', 'restore'], `${adds.join('\n')}\n`);
    loaded = await probe.count(PKT_SET);
    if (loaded !== target) throw new Error(`${PKT_SET} holds ${loaded} entries, not ${target}`);
    if (await probe.has(PKT_SET, lab.clientAddr)) throw new Error(`the client ${lab.clientAddr} is in ${PKT_SET}`);

    made.chain = true;
    await ipt([...WAIT, '-N', PKT_CHAIN]);
    await ipt([...WAIT, '-A', PKT_CHAIN, ...blockSpec(PKT_SET, 'drop')]);
    // Right below the agent's jumps (its check moves them back to the top if anything sits above).
    const agentChain = firewallNames(agent.instance).chain;
    const rules = (await ipt([...WAIT, '-S', 'INPUT'])).stdout.split('\n').filter((l) => l.startsWith('-A INPUT '));
    let pos = 0;
    rules.forEach((l, i) => {
      if (l.endsWith(` -j ${agentChain}`)) pos = i + 1;
    });
    if (pos === 0) throw new Error(`no INPUT jump to the agent's chain ${agentChain}`);
    made.jump = true;
    await ipt([...WAIT, '-I', 'INPUT', String(pos + 1), ...jump]);

    const secs = quick ? 2 : 4;
    const c = 16;
    const ab = async (s: number): Promise<{ rps: number; failed: number }> => {
      const r = await sh.run(
        'ip',
        ['netns', 'exec', lab.client, 'ab', '-k', '-q', '-c', String(c), '-t', String(s), '-n', '100000000', '-s', '5', `http://${lab.serverAddr}:${PORT}/`],
        { timeoutMs: (s + 30) * 1000 },
      );
      const a = parseAb(r.stdout);
      return { rps: a.requestsPerSecond, failed: a.failed };
    };
    const expect = async (n: number, what: string): Promise<void> => {
      const got = await probe.count(PKT_SET);
      if (got !== n) throw new Error(`${what}: ${PKT_SET} holds ${got} entries, not ${n}`);
    };
    const before = jumpPackets((await ipt([...WAIT, '-S', 'INPUT', '-v'])).stdout, PKT_CHAIN);
    await ab(1); // warm-up
    for (let round = 0; round < 2; round++) {
      swapRetries += await swapSets(inS, PKT_SET, PKT_SCRATCH);
      await expect(0, 'after the swap out');
      const a = await ab(secs);
      empty.push(a.rps);
      failed += a.failed;
      swapRetries += await swapSets(inS, PKT_SET, PKT_SCRATCH);
      await expect(target, 'after the swap in');
      const b = await ab(secs);
      full.push(b.rps);
      failed += b.failed;
    }
    jumped = jumpPackets((await ipt([...WAIT, '-S', 'INPUT', '-v'])).stdout, PKT_CHAIN) - before;
    // The lookup was on the path: every request's packets took the jump (keep-alive: ≥ 1 per request).
    const requests = (mean(empty) + mean(full)) * 2 * secs;
    if (!(jumped >= requests * 0.5)) throw new Error(`only ${jumped} packets took the jump to ${PKT_CHAIN} for ~${Math.round(requests)} requests`);
    return {
      tool: 'ab (apache2-utils), keep-alive',
      seconds: secs,
      concurrency: c,
      emptyRps: empty,
      loadedRps: full,
      loadedEntries: loaded,
      ratio: mean(full) / mean(empty),
      failedRequests: failed,
      jumpPackets: jumped,
      swapRetries,
    };
  } finally {
    // Reverse order: the jump, the chain (its rule references the set), then the sets.
    if (made.jump) await ipt([...WAIT, '-D', 'INPUT', ...jump]).catch(() => undefined);
    if (made.chain) {
      await ipt([...WAIT, '-F', PKT_CHAIN]).catch(() => undefined);
      await ipt([...WAIT, '-X', PKT_CHAIN]).catch(() => undefined);
    }
    if (made.sets) for (const set of [PKT_SET, PKT_SCRATCH]) await inS(['ipset', 'destroy', set]).catch(() => undefined);
  }
}

async function memory(agent: Agent, n: number): Promise<MemoryResult> {
  const before = (await agent.status()).rules.find((r) => r.name === 'forbidden')?.totalFailed ?? 0;
  const rchar0 = procRchar(agent.pid);
  const fd = openSync(agent.logPath, 'a');
  let bytes = 0;
  const t0 = nowMs();
  try {
    const ts = Date.now();
    for (let i = 0; i < n; i += 10_000) {
      let s = '';
      for (let k = i; k < Math.min(n, i + 10_000); k++) s += forbiddenLine(v6At(k), ts);
      const b = Buffer.from(s, 'latin1');
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      bytes += b.length;
      // Do not run far ahead of the reader (bounded: the phase gives up after 120 s).
      while (procRchar(agent.pid) - rchar0 < bytes - 50 * 1e6 && nowMs() - t0 < 120_000) await sleep(20);
    }
  } finally {
    closeSync(fd);
  }
  const readAll = await waitRead(agent.pid, rchar0, bytes, 120_000);
  const readSeconds = (nowMs() - t0) / 1000;
  let st = await agent.status();
  await waitFor('the agent to count every failure', 30_000, async () => {
    st = await agent.status();
    return (st.rules.find((r) => r.name === 'forbidden')?.totalFailed ?? 0) - before >= n;
  }, 250).catch(() => undefined);
  await sleep(1000);
  const rule = st.rules.find((r) => r.name === 'forbidden');
  const m = procMem(agent.pid);
  return { addresses: n, readAll, totalFailed: (rule?.totalFailed ?? 0) - before, tracked: rule?.currentlyFailed ?? Number.NaN, readSeconds, rssBytes: m.rssBytes, hwmBytes: m.hwmBytes };
}

const MB = (b: number | undefined): string => (b === undefined || !Number.isFinite(b) ? 'n/a' : `${(b / 1e6).toFixed(1)} MB`);
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(1)} ms`);
const int = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(1)} %`);

function targets(r: LiveReport): LiveReport['targets'] {
  const T = LIVE_TARGETS;
  const b = r.banhammer;
  const out: LiveReport['targets'] = [];
  const l = b.latency;
  out.push({ name: `detection latency median ≤ ${T.latencyMedianMs} ms`, pass: !!l && l.timeouts === 0 && l.medianMs <= T.latencyMedianMs, value: l ? `${ms(l.medianMs)}${l.timeouts ? `, ${l.timeouts} timeouts` : ''}` : 'not measured' });
  out.push({ name: `detection latency max ≤ ${T.latencyMaxMs} ms`, pass: !!l && l.timeouts === 0 && l.maxMs <= T.latencyMaxMs, value: l ? ms(l.maxMs) : 'not measured' });
  const g = b.growth;
  out.push({
    name: `growth ${int(g?.targetLinesPerSecond ?? 50_000)} lines/s: lag 0 within 1 s`,
    pass: !!g && g.lagAt1sBytes === 0 && g.savedOffset >= g.fileBytes,
    value: g ? `${int(g.lagAt1sBytes)} B at +1 s, saved position ${g.savedOffset >= g.fileBytes ? '= file size' : `${int(g.fileBytes - g.savedOffset)} B short`}` : 'not measured',
  });
  out.push({ name: `growth CPU < ${T.growthCpuPercent} % of one core`, pass: !!g && g.cpuPercent < T.growthCpuPercent, value: g ? pct(g.cpuPercent) : 'not measured' });
  const s = b.storm;
  out.push({ name: `ban storm ${int(s?.offenders ?? 10_000)} in set ≤ ${T.stormSeconds} s`, pass: !!s && s.seconds !== null && s.seconds <= T.stormSeconds, value: s ? (s.seconds !== null ? `${s.seconds.toFixed(3)} s` : `${int(s.banned)} in ${s.boundSeconds} s`) : 'not measured' });
  out.push({ name: `idle RSS ≤ ${MB(T.idleRssBytes)}`, pass: (b.idleRssBytes ?? Infinity) <= T.idleRssBytes, value: MB(b.idleRssBytes) });
  const m = b.memory;
  out.push({ name: `RSS after ${int(m?.addresses ?? 1_000_000)} addresses ≤ ${MB(T.loadedRssBytes)} (peak)`, pass: !!m && m.readAll && m.hwmBytes <= T.loadedRssBytes, value: m ? `${MB(m.rssBytes)} now, ${MB(m.hwmBytes)} peak` : 'not measured' });
  const pk = b.packet;
  out.push({ name: `req/s with ${int(pk?.loadedEntries ?? 100_000)} banned ≥ ${T.packetRatio * 100} % of none`, pass: !!pk && pk.ratio >= T.packetRatio, value: pk ? pct(pk.ratio * 100) : 'not measured' });
  return out;
}

export function formatLive(r: LiveReport): string {
  const out: string[] = ['', 'live-agent benchmark (iptables+ipset in network namespaces; same run, same machine)', ''];
  if (r.skipped) return [...out, `  skipped: ${r.skipped}`, ''].join('\n');
  const b = r.banhammer;
  const f = r.fail2ban;
  const row = (a: string, x: string, y: string): string => `  ${a.padEnd(34)}${x.padEnd(54)}${y}`;
  out.push(row('measure', 'banhammer', `fail2ban${f.backend ? ` (${f.backend})` : ''}`));
  const latS = (l?: LiveReport['banhammer']['latency']): string =>
    l ? `med ${ms(l.medianMs)}, p95 ${ms(l.p95Ms)}, max ${ms(l.maxMs)}${l.timeouts ? `, ${l.timeouts} t/o` : ''}` : 'n/a';
  out.push(row(`detection latency (${b.latency?.trials ?? f.latency?.trials ?? 0} trials)`, latS(b.latency), f.skipped ? 'skipped' : latS(f.latency)));
  out.push(row('  set query cost (median)', ms(b.latency?.pollRttMs), ms(f.latency?.pollRttMs)));
  const st = (s?: StormResult): string =>
    s ? `${int(s.banned)}/${int(s.offenders)} in ${s.seconds !== null ? `${s.seconds.toFixed(3)} s` : `${s.boundSeconds} s (bound)`}, ${int(s.bansPerSecond)} bans/s` : 'n/a';
  out.push(row('ban storm', st(b.storm), f.skipped ? 'skipped' : st(f.storm)));
  const gr = (g?: GrowthResult): string => (g ? `${int(g.achievedLinesPerSecond)} lines/s × ${g.writeSeconds.toFixed(1)} s` : 'n/a');
  out.push(row('live growth: written', gr(b.growth), f.skipped ? 'skipped' : gr(f.growth)));
  const cpu = (g?: GrowthResult): string => (g ? `${pct(g.cpuPercent)} (+ children ${pct(g.childCpuPercent)})` : 'n/a');
  out.push(row('  CPU, % of one core', cpu(b.growth), cpu(f.growth)));
  const per = (g?: GrowthResult): string => (g ? `${((g.cpuPercent / g.achievedLinesPerSecond) * 10_000).toFixed(1)} % per 10,000 lines/s` : 'n/a');
  out.push(row('  CPU cost per line rate', per(b.growth), per(f.growth)));
  const lag = (g?: GrowthResult): string =>
    g ? `end ${int(g.lagAtEndBytes)} B, +1 s ${int(g.lagAt1sBytes)} B, max ${int(g.maxLagBytes)} B` : 'n/a';
  out.push(row('  unread bytes (rchar)', lag(b.growth), lag(f.growth)));
  const cu = (g?: GrowthResult): string => (g ? (g.caughtUpMs !== null ? `caught up +${g.caughtUpMs.toFixed(0)} ms` : `behind ${int(g.lagFinalBytes)} B after ${g.catchUpBoundMs / 1000} s`) : 'n/a');
  out.push(row('  catch-up after writing stops', cu(b.growth), cu(f.growth)));
  out.push(
    row(
      '  own account',
      b.growth ? `saved position ${b.growth.savedOffset >= b.growth.fileBytes ? '= file size' : `${int(b.growth.fileBytes - b.growth.savedOffset)} B short`}` : 'n/a',
      f.growth ? `Total failed ${int(f.growth.totalFailedFinal)} of ${int(f.growth.countable403)} 403s` : 'n/a',
    ),
  );
  out.push(row('idle RSS', MB(b.idleRssBytes), '—'));
  out.push(row(`RSS after ${int(b.memory?.addresses)} addresses`, b.memory ? `${MB(b.memory.rssBytes)} (peak ${MB(b.memory.hwmBytes)}), read in ${b.memory.readSeconds.toFixed(1)} s` : 'n/a', '—'));
  const pk = b.packet;
  out.push(
    row(
      'HTTP req/s: 0 vs N banned',
      pk ? `${int(mean(pk.emptyRps))} vs ${int(mean(pk.loadedRps))} (${int(pk.loadedEntries)})` : 'n/a',
      '—',
    ),
  );
  if (pk) {
    out.push(`    ${pk.tool}, ${pk.concurrency} connections, A B A B × ${pk.seconds} s: empty ${pk.emptyRps.map(int).join(', ')}; loaded ${pk.loadedRps.map(int).join(', ')}; ${pk.failedRequests} failed`);
    out.push(`    the bench's own hash:ip set (agent's type) behind its own INPUT jump below the agent's: ${int(pk.jumpPackets)} packets took it; ${pk.swapRetries} swap(s) retried on EBUSY`);
  }
  out.push('    hash:ip lookups are O(1) (one hash probe per packet whatever the set size), so the rate should not fall with entries.');
  out.push('', '  live targets:');
  for (const t of r.targets) out.push(`    ${t.pass ? 'PASS' : 'FAIL'}  ${t.name.padEnd(46)} ${t.value}`);
  if (f.latency && r.banhammer.latency) out.push(`  fail2ban / banhammer median latency: ${(f.latency.medianMs / r.banhammer.latency.medianMs).toFixed(1)}×`);
  for (const e of r.errors) out.push(`  ERROR: ${e}`);
  out.push('');
  return out.join('\n');
}

