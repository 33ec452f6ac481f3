/**
 * Measures how fast appended log lines reach onLine, and what following costs when idle.
 *
 *   npm run bench:tail -- [--appends 50] [--idle-seconds 5] [--idle-files 10]
 *
 * For each follower setup it appends --appends lines (each carrying its write time) to a temp file
 * at random 10–150 ms intervals and reports median / p95 / max delivery latency, then follows
 * --idle-files untouched files for --idle-seconds and reports the process CPU used (% of one core).
 * Setups: banhammer's Tailer (inotify-triggered reads + 1 s fallback poll), the same with watching
 * disabled (poll only, the fallback path), and @logdna/tail-file at its default 1 s poll and at 25 ms.
 * Everything lives under a fresh os.tmpdir() directory, removed at the end.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import TailFile from '@logdna/tail-file';
import { Tailer } from '../src/source/tailer.js';

const { values } = parseArgs({
  options: {
    appends: { type: 'string', default: '50' },
    'idle-seconds': { type: 'string', default: '5' },
    'idle-files': { type: 'string', default: '10' },
  },
});
const APPENDS = Math.min(10_000, Math.max(1, Number(values.appends)));
const IDLE_MS = Math.min(120, Math.max(1, Number(values['idle-seconds']))) * 1000;
const IDLE_FILES = Math.min(1000, Math.max(1, Number(values['idle-files'])));

interface Follower {
  stop(): Promise<void>;
}
type Setup = { name: string; follow(files: string[], onLine: (line: string) => void): Promise<Follower> };

const setups: Setup[] = [
  {
    name: 'Tailer (fs.watch + 1 s poll)',
    async follow(files, onLine) {
      const t = new Tailer({ paths: files, onLine });
      await t.start();
      return t;
    },
  },
  {
    name: 'Tailer, watch off (1 s poll only)',
    async follow(files, onLine) {
      const t = new Tailer({ paths: files, onLine, watchDir: null });
      await t.start();
      return t;
    },
  },
  { name: '@logdna/tail-file, 1000 ms poll', follow: (files, onLine) => followTailFile(files, onLine, 1000) },
  { name: '@logdna/tail-file, 25 ms poll', follow: (files, onLine) => followTailFile(files, onLine, 25) },
];

async function followTailFile(files: string[], onLine: (line: string) => void, pollFileIntervalMs: number): Promise<Follower> {
  const tails = files.map((f) => {
    const t = new TailFile(f, { pollFileIntervalMs });
    let rest = '';
    t.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    });
    t.on('tail_error', (e: Error) => console.error('tail_error', e.message));
    return t;
  });
  for (const t of tails) await t.start();
  return {
    async stop() {
      for (const t of tails) await t.quit();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measureLatency(setup: Setup, dir: string): Promise<number[]> {
  const file = join(dir, `latency-${setups.indexOf(setup)}.log`);
  writeFileSync(file, '');
  const latencies: number[] = [];
  const f = await setup.follow([file], (line) => {
    const sent = Number(line.split(' ')[1]);
    if (Number.isFinite(sent)) latencies.push(now() - sent);
  });
  await sleep(200); // let the follower settle (first poll done)
  for (let i = 0; i < APPENDS; i++) {
    await sleep(10 + Math.random() * 140);
    appendFileSync(file, `198.18.0.${i % 250} ${now().toFixed(3)} "GET /x HTTP/1.1" 403\n`);
  }
  const deadline = Date.now() + 5000;
  while (latencies.length < APPENDS && Date.now() < deadline) await sleep(20);
  await f.stop();
  if (latencies.length !== APPENDS) console.error(`${setup.name}: only ${latencies.length}/${APPENDS} lines delivered`);
  return latencies.sort((a, b) => a - b);
}

async function measureIdleCpu(setup: Setup, dir: string): Promise<number> {
  const files: string[] = [];
  for (let i = 0; i < IDLE_FILES; i++) {
    const file = join(dir, `idle-${setups.indexOf(setup)}-${i}.log`);
    writeFileSync(file, 'x\n');
    files.push(file);
  }
  const f = await setup.follow(files, () => undefined);
  await sleep(300);
  const before = process.cpuUsage();
  await sleep(IDLE_MS);
  const used = process.cpuUsage(before);
  await f.stop();
  return ((used.user + used.system) / 1000 / IDLE_MS) * 100;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-tail-latency-'));
  try {
    // Baseline: the idle cost of this process with nothing followed.
    const b0 = process.cpuUsage();
    await sleep(IDLE_MS);
    const b = process.cpuUsage(b0);
    const baseline = ((b.user + b.system) / 1000 / IDLE_MS) * 100;
    console.log(`${APPENDS} appends at random 10-150 ms intervals; idle: ${IDLE_FILES} files for ${IDLE_MS / 1000} s`);
    console.log(`process idle baseline: ${baseline.toFixed(3)} % of one core\n`);
    console.log(['setup'.padEnd(36), 'median ms', '  p95 ms', '  max ms', ' idle CPU %'].join(' '));
    for (const s of setups) {
      const lat = await measureLatency(s, dir);
      const cpu = await measureIdleCpu(s, dir);
      const fmt = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(1)).padStart(9);
      console.log(
        [s.name.padEnd(36), fmt(lat.length ? quantile(lat, 0.5) : undefined), fmt(lat.length ? quantile(lat, 0.95) : undefined), fmt(lat.at(-1)), cpu.toFixed(3).padStart(11)].join(' '),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
