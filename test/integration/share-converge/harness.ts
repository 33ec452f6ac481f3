/**
 * Convergence harness (helper h35): share stages as replicas in this process, each behind its own
 * cuttable TCP proxy to one real redis-server, each with a clock of its own (a per-replica skew plus a
 * "virtual time" the whole group shares, which a test advances between operations so that two
 * operations on one address lie further apart than the stage's CLOCK_SKEW_MS without waiting for it).
 *
 * Every replica keeps the view a ban book would keep from what the stage tells it: its own bans
 * (publishBan, until it unbans them or an unban reaches it) and the bans it adopted (onRemoteBan,
 * kept as BanBook.adopt keeps them: a remote ban replaces a held one only when it lasts longer),
 * minus onRemoteUnban. A restart stops the stage and starts a new one (new replica id, as the agent's
 * default id is hostname-pid-random) on the same outbox file, handing it its view as the state file
 * would (restored(): own and adopted).
 *
 * With virtual time the group's clock (Redis TIME) cannot be used: TIME answers real time, and each
 * replica would measure an offset that moves with every jump. The stages run as a user without +time
 * (share.ts: each stamps with its own clock, the skew between them being what the stage tolerates).
 */
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../../src/clock.js';
import { banField } from '../../../src/share/keys.js';
import { createRedisShare, type ShareEvents, type ShareStage, type SharedBan } from '../../../src/share/share.js';
import { rng } from '../../support/random.js';
import type { RedisServer } from '../share/redis-server.js';
import { useRedisServer, type AdminClient } from '../share/redis-group.js';

export const HOUR = 3_600_000;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A password every stage's ACL user shares (tests only). */
export const PW = 'converge-pw';
/** ACL line of the stages' user: everything but TIME (see the header). */
export const NO_TIME_USER = `user conv on >${PW} ~* &* +@all -time`;

export interface KillableProxy {
  readonly port: number;
  /** Drops every connection and refuses new ones (a partition for this replica only). */
  cut(): void;
  restore(): void;
  readonly isOpen: boolean;
  /** The local ports of the proxy's connections to Redis (what CLIENT LIST shows as addr). */
  upstreamPorts(): number[];
  /**
   * Holds back every script call (EVALSHA/EVAL) and whatever the replica sends after it on that
   * connection, while PING, TIME and SUBSCRIBE pass: the replica is connected and hears the channel,
   * but its catch-up waits (orders what it hears before what it replays).
   */
  holdScripts(): void;
  releaseScripts(): void;
  /**
   * Once the replica sends a command holding `marker` (a script's SHA1) on a connection, Redis runs it
   * but its reply, and every later reply on that connection, waits until releaseReplies(): the
   * replica acts on what Redis read then, after whatever it hears meanwhile on its other connection.
   * Resolves `held()` true once a reply is waiting.
   */
  holdRepliesAfter(marker: string): void;
  repliesHeld(): boolean;
  releaseReplies(): void;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:target that can be cut, and tells which Redis clients are its own. */
export async function startKillableProxy(target: number): Promise<KillableProxy> {
  let open = true;
  let held = false;
  let marker: string | null = null;
  const pairs = new Set<{ client: Socket; upstream: Socket; queue: Buffer[]; holdDown: boolean; down: Buffer[] }>();
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: target });
    const p = { client, upstream, queue: [] as Buffer[], holdDown: false, down: [] as Buffer[] };
    pairs.add(p);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(p);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d: Buffer) => {
      if (marker !== null && d.toString('latin1').includes(marker)) p.holdDown = true;
      if (p.queue.length > 0 || (held && /EVAL/i.test(d.toString('latin1')))) p.queue.push(d);
      else upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (p.holdDown) p.down.push(d);
      else client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  return {
    port: a.port,
    get isOpen() {
      return open;
    },
    cut() {
      open = false;
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
    },
    restore() {
      open = true;
    },
    holdScripts() {
      held = true;
    },
    releaseScripts() {
      held = false;
      for (const p of pairs) for (const d of p.queue.splice(0)) p.upstream.write(d);
    },
    holdRepliesAfter(m: string) {
      marker = m;
    },
    repliesHeld() {
      return [...pairs].some((p) => p.down.length > 0);
    },
    releaseReplies() {
      marker = null;
      for (const p of pairs) {
        p.holdDown = false;
        for (const d of p.down.splice(0)) p.client.write(d);
      }
    },
    upstreamPorts() {
      return [...pairs].map((p) => p.upstream.localPort).filter((x): x is number => typeof x === 'number');
    },
    async close() {
      open = false;
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Target {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly scope?: string;
}
export const fieldOf = (t: { ip: string; scope?: string | undefined }): string => banField(t.ip, t.scope);

export interface Held {
  readonly own: boolean;
  readonly ban: SharedBan;
  /** An adopted ban that replaced an own one: that own ban (BanBook's Ban.under). */
  readonly under?: SharedBan;
}

/** The shared time of one group (virtual ms added to every replica's clock). */
export interface World {
  vt: number;
  readonly redisPort: number;
  readonly group: string;
  readonly trace: string[];
  readonly t0: number;
}

export function makeWorld(redisPort: number, group: string): World {
  return { vt: 0, redisPort, group, trace: [], t0: Date.now() };
}

const dirs: string[] = [];
/** Stops the nodes, closes the proxies and removes the nodes' directories (a describe block's afterAll). */
export async function stopAll(nodes: readonly Node[], proxies: readonly KillableProxy[]): Promise<void> {
  for (const n of nodes) await n.stop().catch(() => undefined);
  for (const p of proxies) await p.close();
  removeNodeDirs();
}

/** A suite's replicas on one redis-server (useConvergeServer): the server, and every proxy and node made there. */
export interface ConvergeServer {
  readonly redis: RedisServer;
  readonly admin: AdminClient;
  readonly nodes: Node[];
  readonly proxies: KillableProxy[];
  /** A cuttable proxy to the server, closed after the suite. */
  proxy(): Promise<KillableProxy>;
  /** A replica of `w` (skew 0 unless given) behind a proxy of its own, started unless `start` is false; stopped after the suite. */
  node(w: World, name: string, opts?: { skew?: number; start?: boolean; settings?: Node['settings'] }): Promise<Node>;
}

/**
 * The set-up the converge and failover suites share: one redis-server whose stages' user has no
 * +time (NO_TIME_USER: virtual time, see the top of this file), with every node and proxy a test makes
 * stopped and closed after the suite, before the server.
 */
export function useConvergeServer(): ConvergeServer {
  const proxies: KillableProxy[] = [];
  const nodes: Node[] = [];
  const server = useRedisServer({ aclLines: [NO_TIME_USER] }, () => stopAll(nodes, proxies));
  const proxy = async (): Promise<KillableProxy> => {
    const p = await startKillableProxy(server.redis.port);
    proxies.push(p);
    return p;
  };
  return {
    get redis() {
      return server.redis;
    },
    get admin() {
      return server.admin;
    },
    nodes,
    proxies,
    proxy,
    async node(w, name, opts = {}) {
      const n = new Node(w, name, await proxy(), opts.skew ?? 0, opts.settings);
      nodes.push(n);
      if (opts.start !== false) await n.start();
      return n;
    },
  };
}

export function removeNodeDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export class Node {
  stage: ShareStage | null = null;
  gen = 0;
  /** What the replica's ban book holds, by field. */
  readonly view = new Map<string, Held>();
  readonly clock: Clock;
  readonly outboxPath: string;
  readonly logs: string[] = [];

  constructor(
    readonly world: World,
    readonly name: string,
    readonly proxy: KillableProxy,
    readonly skew: number,
    readonly settings: { hungAfterMs?: number; maxBackoffMs?: number; time?: boolean } = {},
  ) {
    this.clock = { ...systemClock, now: () => Date.now() + world.vt + skew };
    const dir = mkdtempSync(join(tmpdir(), 'bh-conv-'));
    dirs.push(dir);
    this.outboxPath = join(dir, 'outbox.json');
  }

  get id(): string {
    return this.stage?.replicaId ?? '-';
  }

  note(s: string): void {
    this.world.trace.push(`${String(Date.now() - this.world.t0).padStart(6)} vt=${this.world.vt} ${this.name}: ${s}`);
  }

  private events(stage: () => ShareStage | null): ShareEvents {
    const mine = (): boolean => this.stage === stage();
    return {
      onRemoteBan: (b) => {
        if (!mine()) return;
        const f = fieldOf(b);
        const held = this.view.get(f);
        this.note(`onRemoteBan ${f} origin=${b.origin} at=${b.at - this.world.t0}${held && (held.ban.until === null || (b.until !== null && held.ban.until >= b.until)) ? ' (held longer: kept)' : ''}`);
        // BanBook.adopt: a held ban lasting at least as long is kept.
        if (held !== undefined && (held.ban.until === null || (b.until !== null && held.ban.until >= b.until))) return;
        // The own ban it replaces stays under it (Ban.under), as one under the adopted ban it replaces:
        // one made after the adopted ban only (review h41).
        const kept = held === undefined ? undefined : held.own ? held.ban : held.under;
        const under = kept !== undefined && kept.at > b.at ? kept : undefined;
        this.view.set(f, { own: false, ban: b, ...(under !== undefined ? { under } : {}) });
      },
      onRemoteUnban: (u) => {
        if (!mine()) return;
        const f = fieldOf(u);
        const held = this.view.get(f);
        this.note(`onRemoteUnban ${f} origin=${u.origin}${u.keepOwn === true ? ' keepOwn' : ''}${held !== undefined ? '' : ' (held nothing)'}`);
        if (u.keepOwn === true) {
          // BanBook.liftAdopted: only an adopted ban made up to the unban (give or take the skew); the own one under it stands again.
          const before = (u.at ?? this.clock.now()) + 2_000;
          if (held === undefined || held.own || held.ban.at > before) return;
          const under = held.under;
          if (under !== undefined && under.at > before && (under.until === null || under.until > this.clock.now())) this.view.set(f, { own: true, ban: under });
          else this.view.delete(f);
          return;
        }
        this.view.delete(f);
      },
      onGroupOffense: () => undefined,
      onStatus: (s) => {
        if (mine()) this.note(`status connected=${s.connected}`);
      },
    };
  }

  async start(): Promise<void> {
    if (this.stage !== null) return;
    this.gen++;
    const log = (level: string) => (obj: object, msg?: string) => {
      if (level !== 'info') this.logs.push(`${level} ${msg ?? ''} ${JSON.stringify(obj).slice(0, 200)}`);
    };
    const user = this.settings.time === true ? '' : `conv:${PW}@`;
    const stage = createRedisShare(
      {
        url: `redis://${user}127.0.0.1:${this.proxy.port}`,
        group: this.world.group,
        replicaId: `${this.name}.${this.gen}`,
        outboxPath: this.outboxPath,
        maxBackoffMs: this.settings.maxBackoffMs ?? 200,
        hungAfterMs: this.settings.hungAfterMs ?? 4_000,
      },
      { clock: this.clock, log: { info: log('info'), warn: log('warn'), error: log('error') } },
    );
    // The state file: what the ban book held when the agent stopped.
    const own: SharedBan[] = [];
    const adopted: SharedBan[] = [];
    for (const h of this.view.values()) {
      (h.own ? own : adopted).push(h.own ? { ...h.ban, origin: stage.replicaId } : h.ban);
      if (h.under !== undefined) own.push({ ...h.under, origin: stage.replicaId });
    }
    if (own.length + adopted.length > 0) stage.restored?.({ own, adopted });
    this.stage = stage;
    this.note(`start gen=${this.gen} restored own=${own.length} adopted=${adopted.length}`);
    await stage.start(this.events(() => stage));
  }

  async stop(): Promise<void> {
    const s = this.stage;
    if (s === null) return;
    this.note('stop');
    await s.stop();
    this.stage = null;
  }

  /** A ban made here now (an hour long, or `span`). */
  ban(t: Target, span: number | null = HOUR): SharedBan {
    const s = this.stage!;
    const at = this.clock.now();
    const ban: SharedBan = { ip: t.ip, family: t.family, rule: 'http-403', at, until: span === null ? null : at + span, origin: s.replicaId, ...(t.scope !== undefined ? { scope: t.scope } : {}) };
    this.view.set(fieldOf(t), { own: true, ban });
    this.note(`BAN ${fieldOf(t)} at=${at - this.world.t0}${span === null ? ' permanent' : ''}`);
    s.publishBan(ban);
    return ban;
  }

  /** An unban made here now; resolves with what the group did. */
  unban(t: Target): Promise<unknown> {
    const s = this.stage!;
    this.view.delete(fieldOf(t));
    this.note(`UNBAN ${fieldOf(t)} at=${this.clock.now() - this.world.t0}`);
    const r = s.publishUnban({ ip: t.ip, family: t.family, ...(t.scope !== undefined ? { scope: t.scope } : {}) });
    return Promise.resolve(r).then((x) => {
      this.note(`UNBAN ${fieldOf(t)} -> ${String(x)}`);
      return x;
    });
  }

  cut(): void {
    this.note('cut');
    this.proxy.cut();
  }

  restore(): void {
    this.note('restore');
    this.proxy.restore();
  }

  /** Whether the stage is up, connected, and has nothing waiting in its outbox. */
  settled(): boolean {
    const s = this.stage;
    if (s === null) return false;
    const st = s.stats();
    return st.connected && st.outboxDepth === 0 && st.inFlight === 0;
  }

  heldFields(): string[] {
    return [...this.view.keys()].sort();
  }
}

/** Kills this node's Redis connections from the server's side (CLIENT KILL ID): 'sub', 'main' or both. */
export async function clientKill(admin: { sendCommand(a: string[]): Promise<unknown> }, node: Node, which: 'sub' | 'main' | 'both'): Promise<number> {
  const ports = new Set(node.proxy.upstreamPorts());
  const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
  let n = 0;
  for (const line of list.split('\n')) {
    const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
    const port = Number(/(?:^|\s)addr=[^ ]*:(\d+)/.exec(line)?.[1]);
    if (id === undefined || !ports.has(port)) continue;
    const isSub = /(?:^|\s)sub=[1-9]/.test(line) || /(?:^|\s)flags=\S*P/.test(line);
    if (which === 'both' || (which === 'sub') === isSub) {
      await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]).catch(() => undefined);
      n++;
    }
  }
  node.note(`CLIENT KILL ${which}: ${n}`);
  return n;
}

/** The tests' seeded PRNG (test/support/random.ts: mulberry32, the same sequence for the same seed). */
export const prng = rng;
