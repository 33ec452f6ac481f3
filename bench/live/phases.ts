/**
 * The measurements, each bounded in count and time. They take a log file (appended through one
 * O_APPEND descriptor), a probe into the kernel set and the measured process's pid; they know nothing
 * of which tool they measure.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { generateLogChunks } from '../generate-log.js';
import { IpsetProbe, nowMs, procCpu, procRchar, sleep, waitFor } from './sys.js';
import { forbiddenLine, isCountable403, median } from './util.js';

export function appendBytes(path: string, data: Buffer | string): void {
  const fd = openSync(path, 'a');
  try {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
  } finally {
    closeSync(fd);
  }
}

export interface LatencyResult {
  /** Detection latencies of the counted trials, ms (timeouts excluded). */
  readonly ms: number[];
  readonly trials: number;
  readonly timeouts: number;
  /** Median cost of one kernel-set query (ipset interactive round trip), ms. */
  readonly pollRttMs: number;
  /** Queries issued in all trials. */
  readonly polls: number;
}

/**
 * Per trial: 4 offending lines for a fresh address in one write, a pause, then the 5th line in one
 * write; the clock starts just before that write and stops when the kernel set holds the address
 * (queried every ~1 ms through the persistent probe). One uncounted warm-up trial first (fail2ban
 * creates its set and rules on the first ban).
 */
export async function measureLatency(o: {
  logPath: string;
  probe: IpsetProbe;
  set: string;
  trials: number;
  addr: (i: number) => string;
  boundMs: number;
  /** Pause between the 4th and 5th line (the tool reads the first four). */
  settleMs: number;
  onProgress?: (msg: string) => void;
}): Promise<LatencyResult> {
  const ms: number[] = [];
  const rtts: number[] = [];
  let timeouts = 0;
  for (let i = -1; i < o.trials; i++) {
    const ip = o.addr(i + 1);
    const ts = Date.now();
    appendBytes(o.logPath, forbiddenLine(ip, ts).repeat(4));
    await sleep(o.settleMs);
    const line5 = Buffer.from(forbiddenLine(ip, ts), 'latin1');
    const fd = openSync(o.logPath, 'a');
    let t0: number;
    try {
      t0 = nowMs();
      writeSync(fd, line5);
    } finally {
      closeSync(fd);
    }
    let got = Number.NaN;
    for (;;) {
      const q0 = nowMs();
      const inSet = await o.probe.has(o.set, ip);
      const q1 = nowMs();
      rtts.push(q1 - q0);
      if (inSet) {
        got = q1 - t0;
        break;
      }
      if (q1 - t0 > o.boundMs) break;
      await sleep(1);
    }
    if (i >= 0) {
      if (Number.isNaN(got)) timeouts++;
      else ms.push(got);
    }
    await sleep(150);
  }
  o.onProgress?.(`latency: ${ms.length}/${o.trials} trials, median ${median(ms).toFixed(1)} ms`);
  return { ms, trials: o.trials, timeouts, pollRttMs: median(rtts), polls: rtts.length };
}

export interface StormResult {
  readonly offenders: number;
  /** Entries added to the set within the bound. */
  readonly banned: number;
  /** Time until all were in the set, s (null when the bound was hit first). */
  readonly seconds: number | null;
  /** Time of the last observed increase, s. */
  readonly lastProgressSeconds: number;
  readonly boundSeconds: number;
  readonly bansPerSecond: number;
}

/** n offenders × 5 lines, round-robin (the 5th lines come last), in one write; polls the set size. */
export async function measureStorm(o: {
  logPath: string;
  probe: IpsetProbe;
  set: string;
  offenders: number;
  addr: (i: number) => string;
  boundMs: number;
  pollMs: number;
}): Promise<StormResult> {
  const ts = Date.now();
  const parts: string[] = [];
  for (let r = 0; r < 5; r++) for (let i = 0; i < o.offenders; i++) parts.push(forbiddenLine(o.addr(i), ts));
  const data = Buffer.from(parts.join(''), 'latin1');
  const before = await o.probe.count(o.set);
  const t0 = nowMs();
  appendBytes(o.logPath, data);
  let count = before;
  let last = t0;
  let seconds: number | null = null;
  for (;;) {
    const c = await o.probe.count(o.set);
    const t = nowMs();
    if (c > count) {
      count = c;
      last = t;
    }
    if (count - before >= o.offenders) {
      seconds = (t - t0) / 1000;
      break;
    }
    if (t - t0 > o.boundMs) break;
    await sleep(o.pollMs);
  }
  const banned = count - before;
  const lastProgressSeconds = (last - t0) / 1000;
  return {
    offenders: o.offenders,
    banned,
    seconds,
    lastProgressSeconds,
    boundSeconds: o.boundMs / 1000,
    bansPerSecond: banned / Math.max(seconds ?? lastProgressSeconds, 1e-3),
  };
}

export interface Traffic {
  readonly pieces: Buffer[];
  readonly piecesLines: number[];
  readonly lines: number;
  readonly bytes: number;
  readonly countable403: number;
}

/** Realistic traffic from the replay generator (log time starting now, `rate` lines per log second), cut into pieces of `pieceLines`. */
export function makeTraffic(lines: number, rate: number, seed: number, pieceLines: number, count403 = false): Traffic {
  const pieces: Buffer[] = [];
  const piecesLines: number[] = [];
  let total = 0;
  let bytes = 0;
  let countable403 = 0;
  const start = Date.now() - (Date.now() % 1000);
  for (const chunk of generateLogChunks({ lines, seed, start, rate }, 50_000)) {
    const b = Buffer.from(chunk, 'latin1');
    let from = 0;
    let n = 0;
    let pos = 0;
    while (pos < b.length) {
      const nl = b.indexOf(10, pos);
      const end = nl < 0 ? b.length : nl + 1;
      if (count403 && isCountable403(chunk.slice(pos, end - 1))) countable403++;
      pos = end;
      n++;
      if (n === pieceLines || pos >= b.length) {
        pieces.push(b.subarray(from, pos));
        piecesLines.push(n);
        total += n;
        from = pos;
        n = 0;
      }
    }
    bytes += b.length;
  }
  return { pieces, piecesLines, lines: total, bytes, countable403 };
}

export interface GrowthResult {
  readonly targetLinesPerSecond: number;
  readonly linesWritten: number;
  readonly bytesWritten: number;
  readonly writeSeconds: number;
  readonly achievedLinesPerSecond: number;
  /** CPU of the measured process during the write window, % of one core (its own threads). */
  readonly cpuPercent: number;
  /** CPU of its reaped children (ipset restore, iptables -C …) in the window, % of one core. */
  readonly childCpuPercent: number;
  /** Unread bytes (file size − bytes the process read, from /proc/<pid>/io rchar) when writing stopped, 1 s later, and at the end of the wait. */
  readonly lagAtEndBytes: number;
  readonly lagAt1sBytes: number;
  readonly lagFinalBytes: number;
  /** Largest rchar lag sampled while writing. */
  readonly maxLagBytes: number;
  /** ms after the end of writing until the rchar lag reached 0 (null: not within the bound). */
  readonly caughtUpMs: number | null;
  readonly catchUpBoundMs: number;
}

/**
 * Appends pre-made traffic at a fixed line rate (catching up on a late timer, never exceeding the
 * schedule) for at most `seconds` (+2 s grace), then waits up to `catchUpBoundMs` for the reader.
 * Lag is measured from rchar, which also counts the process's small non-log reads (inotify events,
 * sockets), so it can read slightly low; callers cross-check with the tool's own position.
 */
export async function measureGrowth(o: {
  logPath: string;
  pid: number;
  traffic: Traffic;
  rate: number;
  seconds: number;
  catchUpBoundMs: number;
  onProgress?: (msg: string) => void;
}): Promise<GrowthResult> {
  const rchar0 = procRchar(o.pid);
  const lagNow = (written: number): number => Math.max(0, written - (procRchar(o.pid) - rchar0));
  const fd = openSync(o.logPath, 'a');
  let lines = 0;
  let written = 0;
  let maxLag = 0;
  let next = 0;
  const cpu0 = procCpu(o.pid);
  const t0 = nowMs();
  let lastSample = t0;
  try {
    while (next < o.traffic.pieces.length) {
      const el = nowMs() - t0;
      if (el > (o.seconds + 2) * 1000) break;
      const due = Math.min(o.traffic.lines, Math.floor((el / 1000) * o.rate));
      while (next < o.traffic.pieces.length && lines + (o.traffic.piecesLines[next] as number) <= due) {
        const b = o.traffic.pieces[next] as Buffer;
        let off = 0;
        while (off < b.length) off += writeSync(fd, b, off, b.length - off);
        written += b.length;
        lines += o.traffic.piecesLines[next] as number;
        next++;
      }
      if (nowMs() - lastSample >= 250) {
        lastSample = nowMs();
        maxLag = Math.max(maxLag, lagNow(written));
      }
      await sleep(5);
    }
  } finally {
    closeSync(fd);
  }
  const tEnd = nowMs();
  const cpu1 = procCpu(o.pid);
  const writeSeconds = (tEnd - t0) / 1000;
  const lagAtEnd = lagNow(written);
  let lagAt1s = Number.NaN;
  let caughtUpMs: number | null = lagAtEnd === 0 ? 0 : null;
  let lagFinal = lagAtEnd;
  for (;;) {
    const t = nowMs() - tEnd;
    lagFinal = lagNow(written);
    if (caughtUpMs === null && lagFinal === 0) caughtUpMs = t;
    if (Number.isNaN(lagAt1s) && t >= 1000) lagAt1s = lagFinal;
    if ((caughtUpMs !== null && t >= 1000) || t > o.catchUpBoundMs) break;
    await sleep(20);
  }
  if (Number.isNaN(lagAt1s)) lagAt1s = lagFinal;
  const window = writeSeconds;
  o.onProgress?.(`growth: ${lines} lines in ${writeSeconds.toFixed(1)} s`);
  return {
    targetLinesPerSecond: o.rate,
    linesWritten: lines,
    bytesWritten: written,
    writeSeconds,
    achievedLinesPerSecond: lines / writeSeconds,
    cpuPercent: ((cpu1.self - cpu0.self) / window) * 100,
    childCpuPercent: ((cpu1.children - cpu0.children) / window) * 100,
    lagAtEndBytes: lagAtEnd,
    lagAt1sBytes: lagAt1s,
    lagFinalBytes: lagFinal,
    maxLagBytes: Math.max(maxLag, lagAtEnd),
    caughtUpMs,
    catchUpBoundMs: o.catchUpBoundMs,
  };
}

/** Waits (bounded) until the process has read at least `bytes` more than at `rchar0`. */
export async function waitRead(pid: number, rchar0: number, bytes: number, boundMs: number): Promise<boolean> {
  try {
    await waitFor('the reader', boundMs, () => procRchar(pid) - rchar0 >= bytes, 50);
    return true;
  } catch {
    return false;
  }
}
