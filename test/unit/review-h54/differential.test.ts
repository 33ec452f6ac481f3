/**
 * Helper H54: the seeded differential of harness.ts. Each seed: the live agent against the live
 * pipeline (same clock), against itself reloaded (same configuration; bantime and description
 * changed) or restarted from its state file at a chosen line, and `banhammer replay` on one thread,
 * with --explain and (built code) on 2 and 3 threads. H54_SEEDS=N runs N seeds, H54_FROM the first.
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { replayFile } from '../../../src/replay/replay.js';
import { rng } from '../../support/random.js';
import { banKey, cleanup, configOf, liveAgent, randomScenario, referencePipeline, tmp, writeLog, type Scenario } from './harness.js';

afterAll(cleanup);
const N = process.env.H54_SEEDS === undefined ? 6 : Number(process.env.H54_SEEDS);
const FROM = Number(process.env.H54_FROM ?? 1);
/** The syslog logs: 8 by default (the first seed whose reload falls between two pieces that matter is the 7th). */
const N_SYSLOG = process.env.H54_SEEDS === undefined ? 8 : N;
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));

const first = (a: string[], b: string[]): string => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `#${i}: ${a[i]} != ${b[i]}`;
  return 'same';
};

async function replayRoads(s: Scenario): Promise<string[]> {
  const problems: string[] = [];
  const config = configOf(s.knobs, tmp());
  const f = writeLog(s);
  const one = (await replayFile(f, config, { threads: 1 })).bans.map((b) => banKey(b));
  const explained = (await replayFile(f, config, { explain: true })).bans.map((b) => banKey(b));
  if (first(one, explained) !== 'same') problems.push(`seed ${s.seed}: replay --explain vs one thread ${first(explained, one)}`);
  if (haveBuild) {
    const dist = (await import(new URL('../../../dist/replay/replay.js', import.meta.url).href)) as typeof import('../../../src/replay/replay.js');
    for (const threads of [2, 3]) {
      const got = (await dist.replayFile(f, config, { threads })).bans.map((b) => banKey(b));
      if (first(got, one) !== 'same') problems.push(`seed ${s.seed}: replay --threads ${threads} vs one thread ${first(got, one)}`);
    }
  }
  // In log order, the live agent's clock is the line's time: replay must ban the same.
  if (s.lines.every((l) => l.t === l.readAt)) {
    const live = referencePipeline(s, { kind: 'none' }).bans;
    if (first(one, live) !== 'same') problems.push(`seed ${s.seed}: replay vs live ${first(one, live)}`);
  }
  return problems;
}

async function liveRoads(s: Scenario): Promise<string[]> {
  const problems: string[] = [];
  const r = rng(s.seed * 7 + 1);
  // The reloads come before a line chosen at random (between two pieces of a split line now and
  // then); the restart before a line that starts (a restart between two pieces loses the line:
  // see the report of review H54).
  const pieces = s.lines.flatMap((l, i) => (l.inside === true && i < s.lines.length - 1 ? [i] : []));
  const at = pieces.length > 0 && r() < 0.6 ? pieces[Math.floor(r() * pieces.length)]! : 1 + Math.floor(r() * (s.lines.length - 2));
  let restartAt = at;
  while (restartAt < s.lines.length - 1 && s.lines[restartAt]!.inside === true) restartAt++;
  const ref = referencePipeline(s, { kind: 'none' });
  const agent = await liveAgent(s, { kind: 'none' });
  if (first(agent.bans, ref.bans) !== 'same') problems.push(`seed ${s.seed}: agent vs live pipeline ${first(agent.bans, ref.bans)}`);
  if (first(agent.end.book, ref.end.book) !== 'same') problems.push(`seed ${s.seed}: agent's book at the end vs pipeline's ${first(agent.end.book, ref.end.book)}`);
  problems.push(...agent.end.problems.map((p) => `seed ${s.seed}: agent: ${p}`));
  // A reload of the very same configuration changes nothing.
  const same = await liveAgent(s, { kind: 'reload', at, knobs: s.knobs });
  if (first(same.bans, agent.bans) !== 'same') problems.push(`seed ${s.seed}: reload (same config) at line ${at} vs none ${first(same.bans, agent.bans)}`);
  if (same.parsed !== agent.parsed) problems.push(`seed ${s.seed}: reload (same config) at line ${at}: ${same.parsed} events read, ${agent.parsed} without it`);
  problems.push(...same.end.problems.map((p) => `seed ${s.seed}: reloaded agent: ${p}`));
  // Only bantime and description changed: the agent reloaded as the pipeline reconfigured.
  const knobs = { ...s.knobs, bantime: s.knobs.bantime * 2, probeBantime: s.knobs.probeBantime + 10, description: 'h54 changed' };
  const reloaded = await liveAgent(s, { kind: 'reload', at, knobs });
  const reconfigured = referencePipeline(s, { kind: 'reload', at, knobs });
  if (reloaded.parsed !== agent.parsed) problems.push(`seed ${s.seed}: reload (bantime) at line ${at}: ${reloaded.parsed} events read, ${agent.parsed} without it`);
  if (first(reloaded.bans, reconfigured.bans) !== 'same') problems.push(`seed ${s.seed}: reload (bantime) at line ${at} vs reconfigured pipeline ${first(reloaded.bans, reconfigured.bans)}`);
  if (first(reloaded.end.book, reconfigured.end.book) !== 'same') problems.push(`seed ${s.seed}: reload (bantime) book at the end ${first(reloaded.end.book, reconfigured.end.book)}`);
  problems.push(...reloaded.end.problems.map((p) => `seed ${s.seed}: reloaded (bantime) agent: ${p}`));
  // Stopped and started again from its state file.
  const restarted = await liveAgent(s, { kind: 'restart', at: restartAt });
  const restored = referencePipeline(s, { kind: 'restart', at: restartAt });
  if (restarted.parsed !== agent.parsed) problems.push(`seed ${s.seed}: restart at line ${restartAt}: ${restarted.parsed} events read, ${agent.parsed} without it`);
  if (first(restarted.bans, restored.bans) !== 'same') problems.push(`seed ${s.seed}: restart at line ${restartAt} vs restored pipeline ${first(restarted.bans, restored.bans)}`);
  if (first(restarted.end.book, restored.end.book) !== 'same') problems.push(`seed ${s.seed}: restart book at the end ${first(restarted.end.book, restored.end.book)}`);
  problems.push(...restarted.end.problems.map((p) => `seed ${s.seed}: restarted agent: ${p}`));
  return problems;
}

describe('review H54: XFF, mapped spellings, window edges, caps: every road bans the same', () => {
  it(`${N} seeded logs in order: agent, reload, restart, replay (threads, --explain)`, async () => {
    const all: string[] = [];
    for (let seed = FROM; seed < FROM + N; seed++) {
      const s = randomScenario(seed);
      all.push(...(await replayRoads(s)).slice(0, 2), ...(await liveRoads(s)).slice(0, 2));
    }
    if (process.env.H54_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);

  it(`${N} seeded logs with lines read up to 5 s late`, async () => {
    const all: string[] = [];
    for (let seed = FROM + 1000; seed < FROM + 1000 + N; seed++) {
      const s = randomScenario(seed, { lateMs: 5000 });
      all.push(...(await replayRoads(s)).slice(0, 2), ...(await liveRoads(s)).slice(0, 2));
    }
    if (process.env.H54_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);
});

describe('review H54: Docker json-file, lines split over records', () => {
  it(`${N} seeded logs whose long lines Docker split (a reload now and then between two pieces)`, async () => {
    const all: string[] = [];
    let inside = 0;
    for (let seed = FROM + 2000; seed < FROM + 2000 + N; seed++) {
      const s = randomScenario(seed, { docker: true });
      inside += s.lines.filter((l) => l.inside).length;
      all.push(...(await replayRoads(s)).slice(0, 2), ...(await liveRoads(s)).slice(0, 2));
    }
    if (process.env.H54_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
    expect(inside).toBeGreaterThan(N);
  }, 120_000);

  it(`${N_SYSLOG} seeded syslog logs (Docker's syslog driver) whose long lines are cut inside the user field`, async () => {
    const all: string[] = [];
    for (let seed = FROM + 3000; seed < FROM + 3000 + N_SYSLOG; seed++) {
      const s = randomScenario(seed, { syslog: true });
      all.push(...(await replayRoads(s)).slice(0, 2), ...(await liveRoads(s)).slice(0, 2));
    }
    if (process.env.H54_VERBOSE) console.log(all.join('\n'));
    expect(all).toEqual([]);
  }, 120_000);

  it('the reload falls between two pieces of a split line in some of these seeds', () => {
    let between = 0;
    for (let seed = FROM + 2000; seed < FROM + 2000 + N; seed++) {
      const s = randomScenario(seed, { docker: true });
      const r = rng(s.seed * 7 + 1);
      const pieces = s.lines.flatMap((l, i) => (l.inside === true && i < s.lines.length - 1 ? [i] : []));
      if (pieces.length > 0 && r() < 0.6) between++;
    }
    expect(between).toBeGreaterThan(0);
  });
});
