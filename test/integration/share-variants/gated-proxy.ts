/**
 * A TCP proxy to 127.0.0.1:target that can hold back every script call (EVALSHA/EVAL) while it lets
 * PING and SUBSCRIBE through: a replica is then connected and subscribed, but its catch-up waits
 * (to order one replica's catch-up after another's deterministically).
 */
import { connect, createServer, type Socket } from 'node:net';

export interface GatedProxy {
  readonly port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startGatedProxy(target: number): Promise<GatedProxy> {
  let held = false;
  const conns = new Set<{ client: Socket; upstream: Socket; queue: Buffer[] }>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    const c = { client, upstream, queue: [] as Buffer[] };
    conns.add(c);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      conns.delete(c);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d: Buffer) => {
      if (c.queue.length > 0 || (held && /EVAL/i.test(d.toString('latin1')))) c.queue.push(d);
      else upstream.write(d);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (typeof a !== 'object' || a === null) throw new Error('no proxy port');
  return {
    port: a.port,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const c of conns) for (const d of c.queue.splice(0)) c.upstream.write(d);
    },
    async close() {
      for (const c of conns) {
        c.client.destroy();
        c.upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
