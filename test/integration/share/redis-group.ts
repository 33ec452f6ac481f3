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

/**
 * A redis-server on a private port and an admin client for the tests of one describe block: started
 * in beforeAll; in afterAll `cleanUp` runs first (stopping what the tests made), then both stop.
 */
export function useRedisServer(opts: { aclLines?: string[] } = {}, cleanUp: () => Promise<void> = async () => {}): { readonly redis: RedisServer; readonly admin: AdminClient } {
  let redis: RedisServer | undefined;
  let admin: AdminClient | undefined;
  beforeAll(async () => {
    redis = await startRedisServer(opts);
    admin = createClient({ url: redis.url(), disableClientInfo: true, maintNotifications: 'disabled' });
    admin.on('error', () => undefined);
    await admin.connect();
  });
  afterAll(async () => {
    await cleanUp();
    await admin?.close().catch(() => undefined);
    await redis?.stop();
  });
  return {
    get redis() {
      return set(redis, 'redis');
    },
    get admin() {
      return set(admin, 'admin');
    },
  };
}

function set<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`useRedisServer: ${what} is set in beforeAll`);
  return x;
}

export function useRedisGroup(opts: { aclLines?: string[] } = {}): RedisGroup {
  const replicas: Replica[] = [];
  const proxies: CuttableProxy[] = [];
  const server = useRedisServer(opts, async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const p of proxies) await p.close();
    removeReplicaDirs();
  });
  return {
    get redis() {
      return server.redis;
    },
    get admin() {
      return server.admin;
    },
    replicas,
    proxies,
    async replica(...a) {
      const r = await startReplica(...a);
      replicas.push(r);
      return r;
    },
    async proxy() {
      const p = await startProxy(server.redis.port);
      proxies.push(p);
      return p;
    },
  };
}
