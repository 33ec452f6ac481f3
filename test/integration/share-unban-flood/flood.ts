/**
 * Fixtures for the unban-again flood tests (helper h42): a TCP proxy per replica that parses the
 * RESP commands the replica sends and counts them (the UNBAN_SCRIPT calls by their time, whatever
 * else by name), so each replica's traffic is measured on its own; a longest-event-loop-block meter;
 * and stale ban values as an old dump would hold them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { systemClock } from '../../../src/clock.js';
import { banField } from '../../../src/share/keys.js';
import { UNBAN_SCRIPT } from '../../../src/share/lua.js';
import { encodeBan, encodeUnban } from '../../../src/share/messages.js';
import { createRedisShare, type ShareSettings, type ShareStage } from '../../../src/share/share.js';
import { rng } from '../../support/random.js';
import { useRedisServer } from '../share/redis-group.js';

export interface CountingProxy {
  readonly port: number;
  /** Monotonic times (performance.now) of each UNBAN_SCRIPT call (EVALSHA or EVAL) the replica sent. */
  readonly unbans: number[];
  /** Every command sent, by name (EVALSHA/EVAL by script: `EVALSHA:unban`, `EVALSHA:other`). */
  readonly commands: Map<string, number>;
  /** Drops every connection (the replica reconnects at once: a Redis restart as it sees it). */
  drop(): void;
  close(): Promise<void>;
}

/**
 * Parses a RESP stream of commands (arrays of bulk strings, as node-redis sends them), calling
 * `onCommand` with the first two arguments of each. Split anywhere across chunks.
 */
function commandParser(onCommand: (name: string, arg1: string | undefined) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let pos = 0;
    for (;;) {
      // One whole command from pos, or stop and wait for more.
      let p = pos;
      const line = (): string | null => {
        const end = buf.indexOf('\r\n', p);
        if (end < 0) return null;
        const s = buf.toString('latin1', p, end);
        p = end + 2;
        return s;
      };
      const head = line();
      if (head === null) break;
      if (!head.startsWith('*')) throw new Error(`counting proxy: not a RESP array: ${head.slice(0, 40)}`);
      const n = Number(head.slice(1));
      const args: string[] = [];
      let whole = true;
      for (let i = 0; i < n; i++) {
        const len = line();
        if (len === null) {
          whole = false;
          break;
        }
        const l = Number(len.slice(1));
        if (p + l + 2 > buf.length) {
          whole = false;
          break;
        }
        if (i < 2) args.push(buf.toString('latin1', p, p + l));
        p += l + 2;
      }
      if (!whole) break;
      pos = p;
      onCommand(args[0]!.toUpperCase(), args[1]);
    }
    buf = buf.subarray(pos);
  };
}

export async function startCountingProxy(target: number): Promise<CountingProxy> {
  const unbans: number[] = [];
  const commands = new Map<string, number>();
  const sockets = new Set<Socket>();
  const count = (name: string, arg1: string | undefined): void => {
    let key = name;
    if (name === 'EVALSHA' || name === 'EVAL') {
      const unban = name === 'EVALSHA' ? arg1 === UNBAN_SCRIPT.sha1 : arg1 === UNBAN_SCRIPT.source;
      key = `${name}:${unban ? 'unban' : 'other'}`;
      if (unban) unbans.push(performance.now());
    }
    commands.set(key, (commands.get(key) ?? 0) + 1);
  };
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    const parse = commandParser(count);
    client.on('data', (d: Buffer) => {
      parse(d);
      upstream.write(d);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  return {
    port: a.port,
    unbans,
    commands,
    drop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The most of `times` (ms, sorted) that fall in any window of `ms`. */
export function mostIn(times: readonly number[], ms: number): number {
  let most = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= ms) lo++;
    most = Math.max(most, hi - lo + 1);
  }
  return most;
}

/**
 * Measures the longest the event loop was held by this process's own work (ms), from start() to
 * stop(): how late a 1 ms timer comes, counted only as far as the process used CPU meanwhile. Wall
 * time alone also counted the time a loaded machine (other processes, a noisy CI neighbour) gave
 * this process no CPU at all: a flake, not a block. Our own blocking uses CPU, so it still counts
 * whole (CPU used by other threads of this process, the garbage collector's, counts too: it errs
 * towards seeing a block).
 */
export function blockMeter(): { stop(): number } {
  let last = performance.now();
  let cpu = process.cpuUsage();
  let longest = 0;
  const sample = (): void => {
    const now = performance.now();
    const used = process.cpuUsage(cpu);
    longest = Math.max(longest, Math.min(now - last, (used.user + used.system) / 1000));
    last = now;
    cpu = process.cpuUsage();
  };
  const t = setInterval(sample, 1);
  return {
    stop() {
      clearInterval(t);
      sample();
      return longest;
    },
  };
}

/** `n` test addresses in 198.18.0.0/15, from `base` (an offset into the /15). */
export function addresses(n: number, base = 0): string[] {
  const out: string[] = [];
  for (let i = base; i < base + n; i++) out.push(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
  return out;
}

/** A ban of `ip` made at `at` (lasting an hour from now), as a group's hash stores it. */
export function staleBan(ip: string, at: number, origin = 'gone-replica', sent = at): { field: string; value: string } {
  return { field: banField(ip, undefined), value: encodeBan({ ip, family: 4, rule: 'sshd', at, until: Date.now() + 3_600_000, origin }, sent) };
}

/** An unban of `ip` at `at` as published on the channel. */
export function unbanMessage(ip: string, at: number, origin = 'hostile'): string {
  return encodeUnban({ ip, family: 4, origin, at }, Date.now());
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


export interface FloodReplica {
  readonly name: string;
  readonly stage: ShareStage;
  readonly proxy: CountingProxy;
  /** Remote bans and unbans delivered, by field. */
  readonly bans: Set<string>;
  readonly unbanned: string[];
  readonly logs: string[];
}

const dirs: string[] = [];

/** Removes the outbox directories the replicas of this file made. */
export function removeFloodDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A share stage reaching Redis on `port` through a counting proxy of its own. `random` is its
 * deps.random (a constant makes its jitters known: which replica's resend comes first).
 */
export async function floodReplica(name: string, port: number, group: string, opts: { random?: () => number; settings?: Partial<ShareSettings> } = {}): Promise<FloodReplica> {
  const proxy = await startCountingProxy(port);
  const dir = mkdtempSync(join(tmpdir(), 'bh-h42-'));
  dirs.push(dir);
  const logs: string[] = [];
  const log = (level: string) => (obj: object, msg?: string) => {
    logs.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  };
  const stage = createRedisShare(
    { replicaId: name, maxBackoffMs: 300, url: `redis://127.0.0.1:${proxy.port}`, group, outboxPath: join(dir, 'outbox.json'), ...opts.settings },
    { clock: systemClock, log: { info: log('info'), warn: log('warn'), error: log('error') }, ...(opts.random !== undefined ? { random: opts.random } : {}) },
  );
  const r: FloodReplica = { name, stage, proxy, bans: new Set(), unbanned: [], logs };
  await stage.start({
    onRemoteBan: (b) => r.bans.add(banField(b.ip, b.scope)),
    onRemoteUnban: (u) => {
      r.bans.delete(banField(u.ip, u.scope));
      r.unbanned.push(u.ip);
    },
    onGroupOffense: () => undefined,
    onStatus: () => undefined,
  });
  return r;
}

/** A replica's deps.random: the tests' seeded PRNG, different per replica, the same every run. */
export const seeded = rng;

/** The RESP text of PUBLISH `channel` `m` for each message (what redis-cli --pipe reads). */
export function publishPipe(channel: string, msgs: readonly string[]): Buffer {
  const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  return Buffer.from(msgs.map((m) => `*3\r\n${bulk('PUBLISH')}${bulk(channel)}${bulk(m)}`).join(''), 'latin1');
}

/**
 * Sends `text` (RESP commands) to Redis on `port` from another process (redis-cli --pipe), so the
 * publisher's own work is not on this process's event loop.
 */
export async function pipeToRedis(port: number, text: Buffer): Promise<void> {
  const c = spawn('redis-cli', ['-p', String(port), '--pipe'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --pipe exited with ${code}`))));
  });
  c.stdin.end(text);
  await done;
}

/** A full garbage collection, then the heap in use (bytes). */
export function heapAfterGc(): number {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

/** A suite's redis-server and the flood replicas its tests make there: stopped, their proxies closed and directories removed after the suite. */
export function useFloodServer(): { readonly server: ReturnType<typeof useRedisServer>; readonly replicas: FloodReplica[] } {
  const replicas: FloodReplica[] = [];
  const server = useRedisServer({}, async () => {
    for (const r of replicas) await r.stage.stop().catch(() => undefined);
    for (const r of replicas) await r.proxy.close();
    removeFloodDirs();
  });
  return { server, replicas };
}
