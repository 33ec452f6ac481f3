/**
 * Fixtures for Redis itself misbehaving (helper h39): redis-server processes on private ports that a
 * test starts, promotes, restarts from an old dump and kills (by pid), and one switchable proxy per
 * replica standing for the name a failover moves (a Sentinel-managed address, a cloud primary
 * endpoint): switchTo() drops every connection and sends the new ones to another server.
 *
 * The servers have no automatic persistence (`--save ''`, no AOF) but keep their directory across a
 * restart, so `SAVE` then restart() loads that dump: a Redis restarted from an old snapshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import type { AdminClient } from '../share/redis-group.js';
import { freePort, ping } from '../share/redis-server.js';
import type { KillableProxy } from '../share-converge/harness.js';

export interface Server {
  readonly port: number;
  readonly dir: string;
  readonly pid: number | undefined;
  /** An admin client (default user, every right), connected; reconnects after a restart. */
  readonly admin: AdminClient;
  /** SIGKILL: what it held in memory is gone (its directory and dump stay). */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (loading dump.rdb if one was SAVEd). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}


/** `aclLines`: extra ACL users; `args`: extra redis-server arguments (e.g. --replicaof). */
export async function startServer(opts: { aclLines?: string[]; args?: string[] } = {}): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'bh-h39-'));
  const acl = join(dir, 'users.acl');
  await writeFile(acl, ['user default on nopass ~* &* +@all', ...(opts.aclLines ?? [])].join('\n') + '\n', { mode: 0o600 });
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--aclfile', acl, '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), ...(opts.args ?? [])],
      { stdio: 'ignore' },
    );
    child = c;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode} (see ${dir}/redis.log)`);
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    c.kill('SIGKILL');
    throw new Error('redis-server did not answer within 10 s');
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  const admin: AdminClient = createClient({ url: `redis://127.0.0.1:${port}`, disableClientInfo: true, maintNotifications: 'disabled' });
  admin.on('error', () => undefined);
  await admin.connect();
  return {
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    admin,
    kill,
    restart: start,
    async stop() {
      admin.destroy();
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SwitchProxy extends KillableProxy {
  /** Drops every connection; new ones go to `port`. */
  switchTo(port: number): void;
}

/** A proxy to 127.0.0.1:target (the harness's KillableProxy, without the holds) that a failover can move. */
export async function startSwitchProxy(target: number): Promise<SwitchProxy> {
  let open = true;
  let to = target;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const dropAll = (): void => {
    for (const p of pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    pairs.clear();
  };
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: to });
    const p = { client, upstream };
    pairs.add(p);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(p);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  const unsupported = (): never => {
    throw new Error('not supported by the switch proxy');
  };
  return {
    port: a.port,
    get isOpen() {
      return open;
    },
    switchTo(port: number) {
      to = port;
      dropAll();
    },
    cut() {
      open = false;
      dropAll();
    },
    restore() {
      open = true;
    },
    upstreamPorts: () => [...pairs].map((p) => p.upstream.localPort).filter((x): x is number => typeof x === 'number'),
    holdScripts: unsupported,
    releaseScripts: unsupported,
    holdRepliesAfter: unsupported,
    repliesHeld: () => false,
    releaseReplies: unsupported,
    async close() {
      open = false;
      dropAll();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Waits until `replica` (started with --replicaof) has applied everything `primary` wrote so far. */
export async function replicated(primary: Server, replica: Server, ms = 15_000): Promise<void> {
  const offsetOf = (info: string, key: string): number => Number(new RegExp(`${key}:(\\d+)`).exec(info)?.[1] ?? NaN);
  const t0 = Date.now();
  for (;;) {
    const want = offsetOf(String(await primary.admin.sendCommand(['INFO', 'replication'])), 'master_repl_offset');
    const r = String(await replica.admin.sendCommand(['INFO', 'replication']));
    if (/master_link_status:up/.test(r) && offsetOf(r, 'slave_repl_offset') >= want) return;
    if (Date.now() - t0 > ms) throw new Error('the replica did not catch up with the primary');
    await new Promise((res) => setTimeout(res, 10));
  }
}
