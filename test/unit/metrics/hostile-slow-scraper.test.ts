/**
 * A scraper that opens connections to the metrics port and sends its request one
 * byte at a time (or nothing at all) holds each connection, and a socket, for as long as the
 * server lets it. node:http's defaults let a request's headers take 60 s and check only every 30 s,
 * so a slow scraper keeps up to ~90 s per connection and, with many, the agent's file descriptors
 * (which its firewall commands, log files and state saves need). The metrics server must close a
 * connection whose request has not arrived within a few seconds.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../../src/metrics/server.js';

let server: MetricsServer | undefined;
const sockets = new Set<Socket>();
const timers = new Set<ReturnType<typeof setInterval>>();

afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await server?.close();
  server = undefined;
});

/** Resolves with the ms until the server closed the connection, or 'open' after `limitMs`. */
function closedWithin(s: Socket, limitMs: number): Promise<number | 'open'> {
  const started = Date.now();
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('open'), limitMs);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Date.now() - started);
    });
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    sockets.add(s);
    s.on('error', () => {});
    s.once('error', reject);
  });
}

describe('the metrics server against a slow scraper', () => {
  it('closes a connection that trickles its request headers a byte at a time', async () => {
    server = await startMetricsServer('127.0.0.1:0', createMetrics());
    const s = await open(server.port);
    const req = 'GET /metrics HTTP/1.1\r\nHost: x\r\n' + 'X-Slow: ' + 'a'.repeat(10_000);
    let i = 0;
    const t = setInterval(() => {
      if (i < req.length && !s.destroyed) s.write(req[i++]!);
    }, 50);
    timers.add(t);
    const r = await closedWithin(s, 12_000);
    expect(r).not.toBe('open');
  }, 20_000);

  it('closes a connection that sends nothing', async () => {
    server = await startMetricsServer('127.0.0.1:0', createMetrics());
    const s = await open(server.port);
    const r = await closedWithin(s, 12_000);
    expect(r).not.toBe('open');
  }, 20_000);

  it('serves a bounded number of connections at once (the rest are closed at once)', async () => {
    server = await startMetricsServer('127.0.0.1:0', createMetrics());
    const all: Socket[] = [];
    for (let i = 0; i < 150; i++) all.push(await open(server.port));
    await new Promise((r) => setTimeout(r, 500));
    const closed = all.filter((s) => s.destroyed || s.readyState === 'closed').length;
    expect(closed).toBeGreaterThanOrEqual(150 - 64);
  }, 20_000);
});
