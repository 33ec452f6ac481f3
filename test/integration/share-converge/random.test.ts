/**
 * Seeded randomized convergence of shared bans across disconnections (helper h35).
 *
 * The promise: once every replica is connected again and quiet for a few seconds, every replica's
 * view (its own bans, plus what it adopted through onRemoteBan, minus onRemoteUnban) agrees with the
 * group: an address unbanned anywhere is banned nowhere, a ban made anywhere (not unbanned since) is
 * in force everywhere, a late joiner gets exactly those, nothing lost, nothing resurrected.
 *
 * Each seed runs a random schedule on three replicas of its own group, each behind a cuttable proxy
 * (harness.ts): bans and unbans (own and others' bans, re-bans after unbans, a scoped ban, a network
 * ban, an IPv6 address; a fifth of the bans permanent) at any running replica, connected or not (then through its outbox); cuts and
 * restores of a replica's link; CLIENT KILL of its channel connection, its commands connection or
 * both; stops and starts of a replica (a new stage on the same outbox file, handed its view as the
 * state file would); small real waits. Clocks: each replica is skewed by up to ±250 ms, and the
 * group's virtual time moves 2.6 s before every ban or unban, so two of them are always more than
 * CLOCK_SKEW_MS (2 s) apart: within it the README says a ban and an unban crossing may disagree (by
 * design), and that is not what this checks. The model: per address, the last ban or unban in time.
 *
 * Seeds 11–40 by default (CONVERGE_FIRST_SEED, CONVERGE_SEEDS, CONVERGE_STEP, CONVERGE_SKEW override
 * for longer hunts). What the hunts found is reduced to a deterministic test each in cases.test.ts;
 * seed 34 failed on the code before them (a ban lifted for missing from a catch-up's read). Seed 41
 * failed until the ban book kept an own ban under a longer one adopted in its place (Ban.under,
 * BanBook.liftAdopted; test/integration/share/own-under-adopted.test.ts): before, that own ban was no
 * longer its own after a restart, and an unban made between the two, replayed later, lost it group-wide.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hasRedisServer, type RedisServer } from '../share/redis-server.js';
import type { AdminClient } from '../share/redis-group.js';
import { clientKill, fieldOf, HOUR, makeWorld, prng, sleep, useConvergeServer, type Node, type Target } from './harness.js';

const SEEDS = Number(process.env.CONVERGE_SEEDS ?? 30);
const FIRST_SEED = Number(process.env.CONVERGE_FIRST_SEED ?? 11);
const OPS = 25;
const PARALLEL = 10;
/**
 * Virtual time between two bans/unbans: beyond CLOCK_SKEW_MS (2 s) plus twice the largest skew, and
 * two steps within COVER_SLACK_MS (5 s), so a ban two steps after another of the same address is
 * covered by it (the group stores one of them).
 */
const STEP = Number(process.env.CONVERGE_STEP ?? 2_300);
const MAX_SKEW = Number(process.env.CONVERGE_SKEW ?? 100);
/**
 * Own bans each replica makes first and never touches: the watchdog looks up one own ban per round
 * and repairs what it finds missing (checkEpoch); with these it comes to the ones the schedule
 * touches only after many rounds, so the test sees what the stage does at once, not that sampling.
 */
const FILLER = 12;

type Op =
  | { k: 'ban'; n: number; t: number; permanent: boolean }
  | { k: 'unban'; n: number; t: number }
  | { k: 'cut' | 'restore' | 'stop' | 'start' | 'restart'; n: number }
  | { k: 'kill'; n: number; which: 'sub' | 'main' | 'both' }
  | { k: 'wait'; ms: number };

function targetsOf(seed: number): Target[] {
  const b = `198.18.${1 + (seed % 250)}`;
  return [
    { ip: `${b}.1`, family: 4 },
    { ip: `${b}.2`, family: 4 },
    { ip: `${b}.1`, family: 4, scope: 'ctr-a' },
    { ip: `${b}.64/28`, family: 4 },
    { ip: `2001:db8:${(seed % 65535).toString(16)}::7`, family: 6 },
  ];
}

function schedule(seed: number, nodes: number, targets: number): { ops: Op[]; gaps: number[]; skews: number[] } {
  const rnd = prng(seed * 7919 + 17);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const skews = Array.from({ length: nodes }, () => Math.round((rnd() * 2 - 1) * MAX_SKEW));
  const running = Array.from({ length: nodes }, () => true);
  const linked = Array.from({ length: nodes }, () => true);
  const ops: Op[] = [];
  const gaps: number[] = [];
  const all = [...Array(nodes).keys()];
  // Fewer addresses than operations, so most ops touch an address again (re-bans, unbans of others' bans).
  // Half the bans and unbans touch the address of the one before (re-bans, unbans of a ban just
  // made elsewhere, crossings with a replica away).
  let lastT = 0;
  const target = (): number => (lastT = rnd() < 0.5 ? lastT : Math.floor(rnd() * targets));
  while (ops.length < OPS) {
    const up = all.filter((i) => running[i]);
    const r = rnd() * 100;
    let op: Op | null = null;
    if (r < 30 && up.length > 0) op = { k: 'ban', n: pick(up), t: target(), permanent: rnd() < 0.2 };
    else if (r < 55 && up.length > 0) op = { k: 'unban', n: pick(up), t: target() };
    else if (r < 67) {
      const c = all.filter((i) => linked[i]);
      if (c.length > 1) op = { k: 'cut', n: pick(c) };
    } else if (r < 77) {
      const c = all.filter((i) => !linked[i]);
      if (c.length > 0) op = { k: 'restore', n: pick(c) };
    } else if (r < 83) {
      const c = all.filter((i) => running[i] && linked[i]);
      if (c.length > 0) op = { k: 'kill', n: pick(c), which: pick(['sub', 'sub', 'main', 'both'] as const) };
    } else if (r < 87) {
      if (up.length > 1) op = { k: 'stop', n: pick(up) };
    } else if (r < 93) {
      const c = all.filter((i) => !running[i]);
      if (c.length > 0) op = { k: 'start', n: pick(c) };
    } else if (r < 97) {
      if (up.length > 0) op = { k: 'restart', n: pick(up) };
    } else op = { k: 'wait', ms: Math.floor(rnd() * 400) };
    if (op === null) continue;
    if (op.k === 'cut') linked[op.n] = false;
    if (op.k === 'restore') linked[op.n] = true;
    if (op.k === 'stop') running[op.n] = false;
    if (op.k === 'start') running[op.n] = true;
    ops.push(op);
    gaps.push(Math.floor(rnd() * 60));
  }
  return { ops, gaps, skews };
}

const show = (op: Op, ts: Target[]): string => {
  if (op.k === 'ban' || op.k === 'unban') return `${op.k}${op.k === 'ban' && op.permanent ? '-permanent' : ''}@${op.n} ${fieldOf(ts[op.t]!)}`;
  if (op.k === 'kill') return `kill-${op.which}@${op.n}`;
  if (op.k === 'wait') return `wait ${op.ms}`;
  return `${op.k}@${op.n}`;
};

describe.skipIf(!hasRedisServer)('shared bans converge after random disconnections (seeded)', () => {
  const server = useConvergeServer();
  let redis: RedisServer;
  let admin: AdminClient;
  beforeAll(() => {
    ({ redis, admin } = server);
  });

  /** Runs one seed; resolves with a failure report, or null. */
  async function runSeed(seed: number): Promise<string | null> {
    const group = `cv${seed}`;
    const world = makeWorld(redis.port, group);
    const targets = targetsOf(seed);
    const { ops, gaps, skews } = schedule(seed, 3, targets.length);
    const ns: Node[] = [];
    for (let i = 0; i < 3; i++) ns.push(await server.node(world, 'abc'[i]!, { skew: skews[i]!, start: false }));
    const tStart = Date.now();
    await Promise.all(ns.map((n) => n.start()));
    const last = new Map<string, 'ban' | 'unban'>();
    ns.forEach((n, i) => {
      for (let k = 0; k < FILLER; k++) {
        const t: Target = { ip: `198.19.${1 + (seed % 80) * 3 + i}.${k + 1}`, family: 4 };
        n.ban(t);
        last.set(fieldOf(t), 'ban');
      }
    });
    await sleep(50);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      world.trace.push(`--- op ${i}: ${show(op, targets)}`);
      switch (op.k) {
        case 'ban':
        case 'unban': {
          world.vt += STEP;
          const n = ns[op.n]!;
          const t = targets[op.t]!;
          if (op.k === 'ban') n.ban(t, op.permanent ? null : HOUR);
          else pending.push(n.unban(t));
          last.set(fieldOf(t), op.k);
          break;
        }
        case 'cut':
          ns[op.n]!.cut();
          break;
        case 'restore':
          ns[op.n]!.restore();
          break;
        case 'kill':
          await clientKill(admin, ns[op.n]!, op.which);
          break;
        case 'stop':
          await ns[op.n]!.stop();
          break;
        case 'start':
          await ns[op.n]!.start();
          break;
        case 'restart':
          await ns[op.n]!.stop();
          await ns[op.n]!.start();
          break;
        case 'wait':
          await sleep(op.ms);
          break;
      }
      await sleep(gaps[i]!);
    }
    // Everything back; then quiet.
    world.trace.push('--- restore everything');
    for (const n of ns) if (!n.proxy.isOpen) n.restore();
    await Promise.all(ns.map((n) => n.start()));
    await Promise.all(pending);
    const tOps = Date.now();
    const expected = [...last].filter(([, k]) => k === 'ban').map(([f]) => f).sort();
    const t0 = Date.now();
    while (!ns.every((n) => n.settled()) && Date.now() - t0 < 8_000) await sleep(20);
    if (!ns.every((n) => n.settled())) {
      return report(`not settled (connected, outbox empty) within 8 s: ${ns.filter((n) => !n.settled()).map((n) => `${n.name} ${JSON.stringify(n.stage === null ? null : (({ connected, outboxDepth, inFlight, hung }) => ({ connected, outboxDepth, inFlight, hung }))(n.stage.stats()))}`).join('; ')}`);
    }
    const tSettled = Date.now();
    const diff = (held: string[]): string => `lacks [${expected.filter((f) => !held.includes(f)).join(', ')}], holds besides [${held.filter((f) => !expected.includes(f)).join(', ')}]`;
    const agree = (): string[] => ns.filter((n) => n.heldFields().join(',') !== expected.join(',')).map((n) => `${n.name} ${diff(n.heldFields())}`);
    const t1 = Date.now();
    while (agree().length > 0 && Date.now() - t1 < 6_000) await sleep(25);
    if (agree().length > 0) return report(`views disagree with the model after 6 s quiet: ${agree().join('; ')}`);
    // Quiet longer: nothing comes back (a late watchdog round, a retry).
    await sleep(1_500);
    if (agree().length > 0) return report(`views changed after agreeing: ${agree().join('; ')}`);
    const stored = ((await admin.hKeys(`banhammer:{${group}}:bans`)) as string[]).slice().sort();
    if (stored.join(',') !== expected.join(',')) return report(`the group's hash ${diff(stored)}`);
    // A late joiner gets exactly the group's bans.
    const late = await server.node(world, 'late');
    const t2 = Date.now();
    while (late.heldFields().join(',') !== expected.join(',') && Date.now() - t2 < 3_000) await sleep(20);
    if (late.heldFields().join(',') !== expected.join(',')) return report(`a late joiner ${diff(late.heldFields())}`);
    await Promise.all([...ns, late].map((n) => n.stop()));
    if (process.env.CONVERGE_DEBUG) console.log(`seed ${seed}: start+ops ${tOps - tStart} ms, settle ${tSettled - tOps} ms, total ${Date.now() - tStart} ms`);
    return null;

    function report(what: string): string {
      return [
        `seed ${seed}: ${what}`,
        `schedule: ${ops.map((o) => show(o, targets)).join(' | ')}`,
        `skews: ${skews.join(', ')}`,
        ...ns.map((n) => `${n.name} logs: ${n.logs.slice(-5).join(' / ')}`),
        ...world.trace.filter((l) => !l.includes('198.19.')),
      ].join('\n');
    }
  }

  /** Seeds in groups of PARALLEL, one test each (every test well under 20 s). */
  const seeds = Array.from({ length: SEEDS }, (_, i) => FIRST_SEED + i);
  for (let i = 0; i < seeds.length; i += PARALLEL) {
    const batch = seeds.slice(i, i + PARALLEL);
    it(`seeds ${batch[0]}–${batch[batch.length - 1]} (${OPS} operations, 3 replicas, run at once): every view agrees with the model once quiet`, async () => {
      const r = await Promise.all(batch.map((s) => runSeed(s).catch((e: unknown) => `seed ${s}: threw ${String(e)}`)));
      const failures = r.filter((x): x is string => x !== null);
      if (failures.length > 0) console.log(failures.join('\n\n'));
      expect(failures.map((f) => f.split('\n')[0])).toEqual([]);
    }, 60_000);
  }
});
