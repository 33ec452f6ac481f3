/** A share stage as a "replica" in the test process, recording every event it receives and every log line. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../../src/clock.js';
import { createRedisShare, type ShareEvents, type ShareSettings, type ShareStage, type SharedBan } from '../../../src/share/share.js';

export interface Replica {
  readonly name: string;
  readonly stage: ShareStage;
  readonly bans: Array<{ ban: SharedBan; at: number }>;
  readonly unbans: Array<{ ip: string; family: 4 | 6; scope?: string; origin: string }>;
  readonly offenses: Array<Parameters<ShareEvents['onGroupOffense']>[0]>;
  readonly statuses: Array<{ connected: boolean; error?: string }>;
  readonly logs: Array<{ level: string; msg: string; obj: object }>;
  /** Propagation lags reported through deps.onLag. */
  readonly lags: number[];
  readonly outboxPath: string;
  /** Called with each remote ban as it arrives (latency measurements). */
  onBan?: (ban: SharedBan) => void;
}

const dirs: string[] = [];

/** Removes the outbox directories the replicas of this file made (call in afterAll, after stopping them). */
export function removeReplicaDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function makeReplica(name: string, settings: Partial<ShareSettings> & { url: string; group: string }): Replica {
  let outboxPath = settings.outboxPath;
  if (outboxPath === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'bh-share-'));
    dirs.push(dir);
    outboxPath = join(dir, 'outbox.json');
  }
  const logs: Replica['logs'] = [];
  const lags: number[] = [];
  const log = (level: string) => (obj: object, msg?: string) => {
    logs.push({ level, msg: msg ?? '', obj });
  };
  const stage = createRedisShare(
    { replicaId: name, maxBackoffMs: 300, ...settings, outboxPath },
    { clock: systemClock, log: { info: log('info'), warn: log('warn'), error: log('error') }, onLag: (ms) => lags.push(ms) },
  );
  const r: Replica = { name, stage, bans: [], unbans: [], offenses: [], statuses: [], logs, lags, outboxPath };
  return r;
}

export function eventsOf(r: Replica): ShareEvents {
  return {
    onRemoteBan: (ban) => {
      r.bans.push({ ban, at: performance.now() });
      r.onBan?.(ban);
    },
    onRemoteUnban: (u) => {
      r.unbans.push(u);
    },
    onGroupOffense: (o) => {
      r.offenses.push(o);
    },
    onStatus: (s) => {
      r.statuses.push(s);
    },
  };
}

export async function startReplica(name: string, settings: Partial<ShareSettings> & { url: string; group: string }): Promise<Replica> {
  const r = makeReplica(name, settings);
  await r.stage.start(eventsOf(r));
  return r;
}

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const t0 = performance.now();
  while (!(await pred())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
