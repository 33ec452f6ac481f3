/**
 * The set-up of this directory's tests (helper h39): servers, switchable proxies and the convergence
 * harness's replicas made by the tests of one describe block, all stopped and removed in afterAll;
 * and the check against the model after quiet (agree).
 */
import { afterAll, expect } from 'vitest';
import { fieldOf, makeWorld, Node, NO_TIME_USER, removeNodeDirs, sleep, type Target, type World } from '../share-converge/harness.js';
import { replicated, startServer, startSwitchProxy, type Server, type SwitchProxy } from './servers.js';

export { fieldOf, sleep, type Node, type Target, type World };

/** Most commands one replica may send in agree()'s 1.5 s of quiet. */
const QUIET_COMMANDS = 60;

/** Call inside a describe block. */
export function useFailoverGroup() {
  const servers: Server[] = [];
  const proxies: SwitchProxy[] = [];
  const nodes: Node[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    for (const p of proxies) await p.close();
    for (const s of servers) await s.stop();
    removeNodeDirs();
  });

  const until = async (what: string, pred: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> => {
    const t0 = Date.now();
    while (!(await pred())) {
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(10);
    }
  };
  const server = async (args: string[] = []): Promise<Server> => {
    const s = await startServer({ aclLines: [NO_TIME_USER], args });
    servers.push(s);
    return s;
  };
  /** A primary and its replica, in sync. */
  const pair = async (): Promise<{ primary: Server; replica: Server }> => {
    const primary = await server();
    const replica = await server(['--replicaof', '127.0.0.1', String(primary.port)]);
    await replicated(primary, replica);
    return { primary, replica };
  };
  const node = async (w: World, name: string, port: number): Promise<Node> => {
    const p = await startSwitchProxy(port);
    proxies.push(p);
    const n = new Node(w, name, p, 0, { hungAfterMs: 3_000 });
    nodes.push(n);
    await n.start();
    await until(`${name} connected`, () => n.settled());
    return n;
  };
  const group = async (name: string, names: string[], port: number): Promise<{ w: World; ns: Node[] }> => {
    const w = makeWorld(port, name);
    const ns: Node[] = [];
    for (const n of names) ns.push(await node(w, n, port));
    return { w, ns };
  };
  const holds = (n: Node, t: Target): boolean => n.view.has(fieldOf(t));
  const stored = async (s: Server, w: World, t: Target): Promise<boolean> => Number(await s.admin.hExists(`banhammer:{${w.group}}:bans`, fieldOf(t))) === 1;
  const trace = (w: World, ns: readonly Node[]): string => `${w.trace.join('\n')}\n${ns.map((n) => `${n.name}: ${n.logs.join(' | ')}`).join('\n')}`;
  const switchAll = (ns: readonly Node[], port: number): void => {
    for (const n of ns) {
      n.note(`switch to ${port}`);
      (n.proxy as SwitchProxy).switchTo(port);
    }
  };
  /** The view of every replica, the hash and a late joiner, after quiet, against the model: `banned` in force, `unbanned` nowhere. */
  const agree = async (s: Server, w: World, ns: readonly Node[], banned: readonly Target[], unbanned: readonly Target[]): Promise<void> => {
    await until('every replica settled', () => ns.every((n) => n.settled()), 8_000);
    // Quiet means quiet: no replica loops re-publishing or floods Redis (the watchdog's PING, GET and
    // HGET, one round a second here, are all a replica sends; QUIET_COMMANDS leaves room for a few
    // late catch-ups, a loop sends thousands).
    const commands = async (): Promise<number> => Number(/total_commands_processed:(\d+)/.exec(String(await s.admin.sendCommand(['INFO', 'stats'])))?.[1]);
    const c0 = await commands();
    await sleep(1_500);
    const quiet = (await commands()) - c0;
    const late = await node(w, `late${ns.length}`, s.port);
    await sleep(300);
    const all = [...ns, late];
    const wrong: string[] = [];
    for (const t of banned) {
      if (!(await stored(s, w, t))) wrong.push(`${t.ip} not stored`);
      for (const n of all) if (!holds(n, t)) wrong.push(`${t.ip} not held at ${n.name}`);
    }
    for (const t of unbanned) {
      if (await stored(s, w, t)) wrong.push(`${t.ip} stored`);
      for (const n of all) if (holds(n, t)) wrong.push(`${t.ip} held at ${n.name}`);
    }
    if (quiet > QUIET_COMMANDS * ns.length) wrong.push(`${quiet} commands in 1.5 s of quiet`);
    expect(wrong, trace(w, all)).toEqual([]);
  };

  return { server, pair, node, group, holds, stored, trace, switchAll, agree, until };
}
