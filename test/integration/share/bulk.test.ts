/**
 * Many bans from the group (anyone on the group's channel can publish up to maxBans of them, and a
 * busy group holds that many): what the agent does per ban must not grow with the number of bans
 * (review: helper). Timings are compared with a baseline measured here, on a quarter of the bans.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GroupLink } from '../../../src/share/group-link.js';
import { createRedisShare, type ShareStage } from '../../../src/share/share.js';
import { hasRedisServer, startRedisServer, type RedisServer } from './redis-server.js';
import { waitFor } from './replica.js';

const HOUR = 3_600_000;
const silent = { info() {}, warn() {}, error() {} };

describe.skipIf(!hasRedisServer)('share stage: many bans from the group', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const stages: ShareStage[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });

  afterAll(async () => {
    for (const s of stages) await s.stop().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** An agent (pipeline, group link, real share stage) that adopted `n` bans published on its group's channel. */
  async function agentWith(group: string, n: number): Promise<{ link: GroupLink; pipeline: Pipeline }> {
    const dir = mkdtempSync(join(tmpdir(), 'bh-bulk-'));
    dirs.push(dir);
    const share = createRedisShare({ url: redis.url(), group, replicaId: `${group}-a`, outboxPath: join(dir, 'outbox.json'), maxBackoffMs: 300 }, { clock: systemClock, log: silent });
    stages.push(share);
    const pipeline = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live' });
    let adopted = 0;
    const link = new GroupLink({ share, pipeline, clock: systemClock, log: silent, onAdopted: () => adopted++, onLifted: () => undefined, scoped: false });
    await link.start();
    const now = Date.now();
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
          const k = i + j;
          const ip = `198.18.${k >> 8}.${k & 255}`;
          return admin.publish(`banhammer:{${group}}:events`, JSON.stringify({ v: 1, t: 'ban', ip, family: 4, rule: 'forbidden', at: now, until: now + HOUR, origin: 'other', sent: now }));
        }),
      );
    }
    await waitFor(`${n} bans adopted`, () => adopted === n, 20_000);
    return { link, pipeline };
  }

  it('`unban --all` of the bans adopted from the group takes time in proportion to them, not to their square', async () => {
    const n = 4000;
    const time = async (group: string, count: number): Promise<number> => {
      const { link, pipeline } = await agentWith(group, count);
      const lifted = pipeline.unbanAll({ at: Date.now(), by: 'control-all' });
      expect(lifted).toHaveLength(count);
      const t0 = performance.now();
      link.unbanned(lifted);
      return performance.now() - t0;
    };
    const base = await time('bulk-base', n);
    const big = await time('bulk-big', 4 * n);
    console.log(`[share] unbanned(): ${n} bans ${base.toFixed(1)} ms, ${4 * n} bans ${big.toFixed(1)} ms`);
    // Linear: about 4 times the baseline; the square of it: 16 times.
    expect(big).toBeLessThan(8 * base + 50);
  }, 60_000);
});
