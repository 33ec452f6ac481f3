/**
 * The set-up most share tests repeat: a redis-server on a private port with an admin client (the
 * default user, every right), replicas and cuttable proxies made by the test, all stopped and removed
 * in afterAll. Call useRedisGroup() inside a describe block; its fields are set once beforeAll ran.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import { startProxy, startRedisServer, type CuttableProxy, type RedisServer } from './redis-server.js';
import { removeReplicaDirs, startReplica, type Replica } from './replica.js';

export type AdminClient = ReturnType<typeof createClient>;

export interface RedisGroup {
  /** Set in beforeAll. */
  readonly redis: RedisServer;
  /** Set in beforeAll: connected as the default user. */
  readonly admin: AdminClient;
  readonly replicas: Replica[];
  readonly proxies: CuttableProxy[];
  /** startReplica, stopped in afterAll. */
  replica(...a: Parameters<typeof startReplica>): Promise<Replica>;
  /** A cuttable proxy to the server, closed in afterAll. */
  proxy(): Promise<CuttableProxy>;
}

export function useRedisGroup(opts: { aclLines?: string[] } = {}): RedisGroup {
  let redis: RedisServer | undefined;
  let admin: AdminClient | undefined;
  const replicas: Replica[] = [];
  const proxies: CuttableProxy[] = [];
  beforeAll(async () => {
    redis = await startRedisServer(opts);
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const p of proxies) await p.close();
    await admin?.close().catch(() => undefined);
    await redis?.stop();
    removeReplicaDirs();
  });
  const set = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(`useRedisGroup: ${what} is set in beforeAll`);
    return x;
  };
  return {
    get redis() {
      return set(redis, 'redis');
    },
    get admin() {
      return set(admin, 'admin');
    },
    replicas,
    proxies,
    async replica(...a) {
      const r = await startReplica(...a);
      replicas.push(r);
      return r;
    },
    async proxy() {
      const p = await startProxy(set(redis, 'redis').port);
      proxies.push(p);
      return p;
    },
  };
}
