/**
 * One replica of the shared-bans bench, as a child process (forked with IPC by bench/share/share.ts),
 * so that the replicas do not share an event loop: a share stage (createRedisShare, as the agent
 * builds it) driven by requests from the parent. Times are wall-clock milliseconds with sub-ms
 * resolution (performance.timeOrigin + performance.now()), comparable between processes on one host.
 *
 * Requests ({ id, op, ... }) and replies ({ id, ok, result | error }):
 *   start { url, group, replicaId }          → { connected }
 *   publish { first, n, intervalMs }         → { sentAt: number[] } (bans of benchAddress(first + i), paced)
 *   arrivals                                 → { ips: string[], at: number[] } (remote bans received so far)
 *   failures { first, n, chunk, startAt }    → FailuresResult (failure() in chunks, one per tick)
 *   load { url, group, replicaId, expect }   → { ms, delivered } (a fresh stage: start() until `expect` bans arrived)
 *   stop                                     → {} and the process exits
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/clock.js';
import { createRedisShare, type ShareEvents, type ShareStage } from '../../src/share/share.js';
import { benchAddress } from './stats.js';

export type AgentRequest =
  | { id: number; op: 'start'; url: string; group: string; replicaId: string }
  | { id: number; op: 'publish'; first: number; n: number; intervalMs: number }
  | { id: number; op: 'arrivals' }
  | { id: number; op: 'failures'; first: number; n: number; chunk: number; startAt: number }
  | { id: number; op: 'load'; url: string; group: string; replicaId: string; expect: number; timeoutMs: number }
  | { id: number; op: 'stop' };

export type AgentReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface FailuresResult {
  start: number;
  end: number;
  sent: number;
  dropped: number;
  offenses: number;
  /** This process's CPU time (user + system) during the run, ms. */
  cpuMs: number;
}

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const HOUR = 3_600_000;

const dir = mkdtempSync(join(tmpdir(), 'bh-bench-share-'));
let stage: ShareStage | null = null;
const arrivals: { ips: string[]; at: number[] } = { ips: [], at: [] };
let offenses = 0;
let problems = 0;

const log = {
  info: () => undefined,
  warn: () => {
    problems++;
  },
  error: () => {
    problems++;
  },
};

function makeStage(url: string, group: string, replicaId: string): ShareStage {
  return createRedisShare({ url, group, replicaId, outboxPath: join(dir, `${replicaId}.outbox.json`) }, { clock: systemClock, log });
}

function events(onBan: (ip: string, at: number) => void): ShareEvents {
  return {
    onRemoteBan: (ban) => onBan(ban.ip, now()),
    onRemoteUnban: () => undefined,
    onGroupOffense: () => {
      offenses++;
    },
    onStatus: () => undefined,
  };
}

async function handle(req: AgentRequest): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      stage = makeStage(req.url, req.group, req.replicaId);
      await stage.start(
        events((ip, at) => {
          arrivals.ips.push(ip);
          arrivals.at.push(at);
        }),
      );
      return { connected: stage.connected };
    }
    case 'publish': {
      const s = need();
      const sentAt: number[] = [];
      const t0 = now();
      for (let i = 0; i < req.n; i++) {
        const wait = t0 + i * req.intervalMs - now();
        if (wait > 0) await sleep(wait);
        const at = Date.now();
        sentAt.push(now());
        s.publishBan({ ip: benchAddress(req.first + i), family: 4, rule: 'http-403', at, until: at + HOUR, origin: s.replicaId });
      }
      return { sentAt };
    }
    case 'arrivals':
      return arrivals;
    case 'failures': {
      const s = need();
      const before = s.stats();
      const wait = req.startAt - now();
      if (wait > 0) await sleep(wait);
      const start = now();
      const cpu0 = process.cpuUsage();
      const t0 = Date.now();
      for (let i = 0; i < req.n; ) {
        // Back-pressure for the bench only (the agent drops failures beyond the stage's in-flight cap).
        // Below the stage's cap (50,000) by more than a chunk, so none is dropped; waits without spinning.
        while (s.stats().inFlight > 40_000) await sleep(1);
        const end = Math.min(req.n, i + req.chunk);
        for (; i < end; i++) s.failure({ ip: benchAddress(req.first + i), family: 4, rule: 'http-403', time: t0 + i, findtime: 600_000, maxretry: 5 });
        // One chunk of parsed lines per tick, as the pipeline hands them over.
        await new Promise((r) => setImmediate(r));
      }
      const deadline = now() + 120_000;
      while (s.stats().inFlight > 0 && now() < deadline) await sleep(1);
      const after = s.stats();
      const cpu = process.cpuUsage(cpu0);
      const r: FailuresResult = {
        start,
        end: now(),
        sent: after.failuresSent - before.failuresSent,
        dropped: after.failuresDropped - before.failuresDropped,
        offenses: after.groupOffenses - before.groupOffenses,
        cpuMs: (cpu.user + cpu.system) / 1000,
      };
      return r;
    }
    case 'load': {
      let delivered = 0;
      let doneAt = NaN;
      const fresh = makeStage(req.url, req.group, req.replicaId);
      const t0 = now();
      await fresh.start(
        events(() => {
          if (++delivered === req.expect) doneAt = now();
        }),
      );
      const deadline = t0 + req.timeoutMs;
      while (delivered < req.expect && now() < deadline) await sleep(1);
      await fresh.stop();
      return { ms: doneAt - t0, delivered };
    }
    case 'stop':
      if (stage !== null) await stage.stop();
      stage = null;
      return { problems, offenses };
  }
}

function need(): ShareStage {
  if (stage === null) throw new Error('no stage: send start first');
  return stage;
}

process.on('message', (msg: AgentRequest) => {
  handle(msg).then(
    (result) => {
      process.send?.({ id: msg.id, ok: true, result } satisfies AgentReply);
    },
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies AgentReply),
  );
});
// The parent disconnects after `stop` (or dies): remove the outbox dir and exit.
process.on('disconnect', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
