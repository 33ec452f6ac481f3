/**
 * A client that pipelines requests and never reads the answers must not make the agent buffer them
 * all: 50,000 pipelined `status` requests of a 2,000-ban report took the agent to ~945 MB of RSS.
 * The server stops reading while answers wait for the client, answers in order once it reads, and
 * closes a connection stuck that way once it has been idle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../../src/control/protocol.js';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { stubControlHandler } from '../../fakes/control-handler.js';

const BIG: StatusReport = {
  instance: 'web-1',
  enforcer: 'iptables',
  since: '2026-01-01T00:00:00.000Z',
  files: [],
  rules: [{ name: 'forbidden', enabled: true, currentlyFailed: 0, totalFailed: 0, currentlyBanned: 4096, totalBanned: 4096, bannedIps: Array.from({ length: 4096 }, (_, i) => `198.18.${i >> 8}.${i & 255}`) }],
};

let dir: string;
let server: ControlServer | undefined;
let calls = 0;
const handler = stubControlHandler(() => (calls++, BIG));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-backpressure-'));
  calls = 0;
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('control server: a client that does not read its answers', () => {
  it('is not answered ahead (bounded work and memory), then gets every answer in order once it reads', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler });
    const n = 400;
    const c = createConnection(socketPath);
    c.pause();
    await new Promise((r) => c.once('connect', r));
    c.write(Array.from({ length: n }, (_, i) => `{"op":"status","rule":"r${i}"}\n`).join(''));
    await sleep(300);
    // Each answer is ~60 KB: only those the socket buffers took were made.
    expect(calls).toBeLessThan(40);
    const got: string[] = [];
    let buf = '';
    c.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        got.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    c.resume();
    for (let i = 0; i < 100 && got.length < n; i++) await sleep(50);
    expect(got.length).toBe(n);
    expect(calls).toBe(n);
    expect(got.every((l) => (JSON.parse(l) as { ok: boolean }).ok)).toBe(true);
    c.destroy();
  });

  it('is closed once idle, even with requests still waiting', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler, idleTimeoutMs: 300 });
    const c = createConnection(socketPath);
    c.pause();
    await new Promise((r) => c.once('connect', r));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('error', () => {});
    c.write('{"op":"status"}\n'.repeat(200));
    await sleep(1000);
    // Reading now only shows what the server did meanwhile: it gave up on the connection.
    let answers = 0;
    c.on('data', (d: Buffer) => (answers += d.toString('utf8').split('\n').length - 1));
    c.resume();
    await Promise.race([closed, sleep(3000).then(() => Promise.reject(new Error('not closed')))]);
    expect(answers).toBeLessThan(200);
    expect(calls).toBeLessThan(200);
  });
});
