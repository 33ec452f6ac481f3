/**
 * A hostile client of the control plane: clients that hold the agent's connections.
 *
 * - Slowloris: the idle timeout is re-armed by every byte received, so a client that sends one byte
 *   of a request every (timeout - 1) s is never idle, never completes a request and is never closed:
 *   it holds a file descriptor and up to MAX_REQUEST_BYTES of buffer for as long as it likes.
 * - No cap on connections: every connection may hold one answer the client does not read (a status
 *   of 100,000 bans is ~13 MB), and each holds a descriptor the agent needs for its log files, state
 *   saves and firewall commands; nothing bounded how many the agent keeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { stubControlHandler } from '../../fakes/control-handler.js';
import { controlRequest } from '../../../src/control/client.js';

let dir: string;
let server: ControlServer | undefined;
const open: Socket[] = [];
const handler = stubControlHandler();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-ctl-slow-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connect = async (socketPath: string): Promise<Socket> => {
  const c = createConnection(socketPath);
  open.push(c);
  c.on('error', () => {});
  await new Promise((r) => c.once('connect', r));
  return c;
};

describe('a client that trickles a request', () => {
  it('is closed once a request has taken longer than the idle timeout to arrive', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, idleTimeoutMs: 300 });
    const c = await connect(socketPath);
    let closed = false;
    c.on('close', () => (closed = true));
    const body = '{"op":"status"                                            ';
    for (let i = 0; i < body.length && !closed && i < 20; i++) {
      c.write(body[i]!);
      await sleep(150); // always under the idle timeout
    }
    expect(closed).toBe(true);
  });

  it('a request sent in pieces within the timeout is still answered', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, idleTimeoutMs: 600 });
    const c = await connect(socketPath);
    let got = '';
    c.on('data', (b) => (got += b.toString()));
    for (const piece of ['{"op":', '"status"', '}\n']) {
      c.write(piece);
      await sleep(100);
    }
    for (let i = 0; i < 50 && !got.includes('\n'); i++) await sleep(20);
    expect(JSON.parse(got).ok).toBe(true);
  });
});

describe('many connections', () => {
  it('past the cap, the connection that went longest without a request is closed and the new one served', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, maxConnections: 4 });
    const held = await Promise.all(Array.from({ length: 4 }, () => connect(socketPath)));
    const closed = held.map(() => false);
    held.forEach((c, i) => c.on('close', () => (closed[i] = true)));
    // Three of them ask something; held[1] never does.
    for (const i of [0, 2, 3]) {
      let got = '';
      held[i]!.on('data', (b) => (got += b.toString()));
      held[i]!.write('{"op":"status"}\n');
      for (let k = 0; k < 50 && !got.includes('\n'); k++) await sleep(20);
      expect(JSON.parse(got).ok).toBe(true);
    }
    const extra = await connect(socketPath);
    let got = '';
    extra.on('data', (b) => (got += b.toString()));
    extra.write('{"op":"status"}\n');
    for (let i = 0; i < 50 && !got.includes('\n'); i++) await sleep(20);
    expect(JSON.parse(got).ok).toBe(true);
    for (let i = 0; i < 50 && !closed[1]; i++) await sleep(20);
    expect(closed).toEqual([false, true, false, false]);
  });

  it('clients that hold connections with blank lines or bad requests never lock the CLI out', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, idleTimeoutMs: 300, maxConnections: 3 });
    const holders = await Promise.all(Array.from({ length: 3 }, () => connect(socketPath)));
    // Three idle timeouts' worth, one line per 150 ms each (bounded).
    for (let t = 0; t < 6; t++) {
      for (const c of holders) c.write(t % 2 === 0 ? '\n' : '{\n');
      await sleep(150);
    }
    await expect(controlRequest(socketPath, { op: 'status' }, { timeoutMs: 2000 })).resolves.toMatchObject({ instance: 'web-1' });
  }, 20_000);
});
