/**
 * Sharing bans, `banhammer ban X --for 10m` at a replica holding its own 3-hour ban of X under the same
 * rule keeps the 3-hour ban (BanBook.banManually keepLonger: the group keeps the longest, review H43).
 * The shorter ban is then made nowhere, and the agent must not act as if it were: published, the share
 * stage took it for this replica's ban of X in place of the longer one the book and the group hold (its
 * stale-unban and restored-ban checks then measured against the wrong ban); reported, the log and the
 * notifications announced a ban nothing holds, and status counted it in "Total banned". A shorter ban
 * under a longer ADOPTED one is held (kept under it, Ban.under) and is published and reported as before.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { FakeSource } from '../../fakes/agent-io.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A connected group that stores nothing: what the daemon publishes, and its events to call. */
class RecordingShare implements ShareStage {
  readonly connected = true;
  readonly replicaId = 'me';
  readonly published: SharedBan[] = [];
  events!: ShareEvents;
  async start(e: ShareEvents) {
    this.events = e;
  }
  async stop() {}
  failure() {}
  publishBan(b: SharedBan) {
    this.published.push(b);
  }
  publishUnban() {}
  async snapshot() {
    return [];
  }
  stats() {
    return {} as ShareStats;
  }
}

async function agent() {
  const clock = new ManualClock(T0);
  const share = new RecordingShare();
  const reported: Ban[] = [];
  const config = loadConfig({ env: {}, hostname: 'unit' });
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const daemon = new Daemon({
    config,
    clock,
    logger: silent,
    enforcer: new RecordingEnforcer(),
    store: { load: async () => null, save: async () => {} },
    createSource,
    hostAddresses: [],
    share,
    notifier: { banned: (b: Ban) => reported.push(b), unbanned() {}, close: async () => {} },
  });
  await daemon.start();
  return { clock, share, daemon, reported };
}

const total = (d: Daemon, rule: string): number => d.status().rules.find((r) => r.name === rule)?.totalBanned ?? -1;

describe('sharing bans: a manual ban shorter than a ban in force', () => {
  it('shorter than this replica\'s own: neither published nor counted; the answer says until when the longer one holds it', async () => {
    const { clock, share, daemon, reported } = await agent();
    const ip = '198.18.72.1';
    const long = await daemon.ban(ip, { rule: 'forbidden', forMs: 3 * HOUR });
    expect(share.published.map((b) => b.until)).toEqual([long.until]);
    expect(reported.map((b) => b.until)).toEqual([long.until]);
    expect(total(daemon, 'forbidden')).toBe(1);
    clock.advance(5_000);
    const reply = await daemon.ban(ip, { rule: 'forbidden', forMs: 600_000 });
    expect(reply.heldUntil).toBe(long.until);
    expect(share.published.map((b) => b.until)).toEqual([long.until]);
    expect(reported.map((b) => b.until)).toEqual([long.until]);
    expect(total(daemon, 'forbidden')).toBe(1);
    const why = daemon.why(ip);
    expect(why.active.map((b) => b.until)).toEqual([new Date(long.until!).toISOString()]);
    await daemon.stop();
  });

  it('shorter than an adopted one: kept under it, published (this replica\'s own) and counted', async () => {
    const { clock, share, daemon, reported } = await agent();
    const ip = '198.18.72.2';
    share.events.onRemoteBan({ ip, family: 4, rule: 'manual', at: clock.now(), until: null, origin: 'other', nth: 1 } as SharedBan);
    clock.advance(5_000);
    const reply = await daemon.ban(ip, { forMs: 3 * HOUR });
    expect(reply.heldUntil).toBeNull();
    expect(share.published.map((b) => [b.ip, b.until])).toEqual([[ip, reply.until]]);
    expect(reported.map((b) => b.until)).toEqual([null, reply.until]);
    expect(total(daemon, 'manual')).toBe(1);
    await daemon.stop();
  });
});
