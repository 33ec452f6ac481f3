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
import { startControlServer, type ControlHandler, type ControlServer } from '../../../src/control/server.js';

let dir: string;
let server: ControlServer | undefined;
const open: Socket[] = [];
const handler: ControlHandler = {
  status: () => ({ instance: 'web-1', enforcer: 'iptables', since: '', files: [], rules: [] }),
  ban: () => null,
  unban: () => 0,
  unbanAll: () => 0,
  reload: () => {},
  why: () => {
    throw new Error('unused');
  },
};
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
  it('past the cap, a new connection is told so and closed; the ones before are served', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, maxConnections: 4 } as Parameters<typeof startControlServer>[0]);
    const held = await Promise.all(Array.from({ length: 4 }, () => connect(socketPath)));
    const extra = await connect(socketPath);
    let got = '';
    let ended = false;
    extra.on('data', (b) => (got += b.toString()));
    extra.on('close', () => (ended = true));
    extra.write('{"op":"status"}\n');
    for (let i = 0; i < 100 && !ended; i++) await sleep(20);
    expect(ended).toBe(true);
    const answer = JSON.parse(got.split('\n')[0]!) as { ok: boolean; error?: { code: string; message: string } };
    expect(answer.ok).toBe(false);
    expect(answer.error!.message).toContain('too many');
    // An earlier connection still works, and once one closes a new one is served.
    let first = '';
    held[0]!.on('data', (b) => (first += b.toString()));
    held[0]!.write('{"op":"status"}\n');
    for (let i = 0; i < 50 && !first.includes('\n'); i++) await sleep(20);
    expect(JSON.parse(first).ok).toBe(true);
    held[1]!.destroy();
    await sleep(50);
    const next = await connect(socketPath);
    let later = '';
    next.on('data', (b) => (later += b.toString()));
    next.write('{"op":"status"}\n');
    for (let i = 0; i < 50 && !later.includes('\n'); i++) await sleep(20);
    expect(JSON.parse(later).ok).toBe(true);
  });
});
