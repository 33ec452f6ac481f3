/**
 * A hostile client of the control plane: pipelined requests starving the agent's event loop.
 *
 * The server answers a connection's requests on a promise chain; when the answer fits in the socket
 * (no drain to wait for) the next request runs in the same microtask checkpoint, so every request
 * of one 64 KiB read ran back to back without the event loop turning. `{"op":"status","rule":"manual"}`
 * is 32 bytes, ~2,000 per read, and costs ~7 ms with 100,000 bans (the whole book is scanned): one
 * write held the agent for seconds, with no log line read, no expiry lifted, no firewall batch sent
 * and no other control client answered. Here each request costs 3 ms; a timer must keep firing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { SMALL_STATUS, stubControlHandler } from '../../fakes/control-handler.js';
import { watchLoopGaps } from '../../support/cpu-time.js';

let dir: string;
let server: ControlServer | undefined;
let calls = 0;
const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* the cost of a scan of the ban book */
  }
};
const handler = stubControlHandler(() => {
  calls++;
  busy(3);
  return SMALL_STATUS;
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-ctl-loop-'));
  calls = 0;
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a client pipelining many cheap-to-send, costly-to-answer requests', () => {
  it('does not hold the event loop: timers keep firing while they are answered', async () => {
    const socketPath = join(dir, 'c.sock');
    server = await startControlServer({ socketPath, handler });
    const c = createConnection(socketPath);
    await new Promise((r) => c.once('connect', r));
    let answers = 0;
    c.on('data', (b) => {
      for (const x of b) if (x === 0x0a) answers++;
    });
    // Gaps the process ran through (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const gaps = watchLoopGaps(5);
    const n = 600;
    try {
      c.write('{"op":"status","rule":"manual"}\n'.repeat(n));
      const deadline = Date.now() + 15_000;
      while (answers < n && Date.now() < deadline) await sleep(20);
    } finally {
      gaps.stop();
      c.destroy();
    }
    const worstGap = gaps.worst();
    expect(answers).toBe(n);
    expect(calls).toBe(n);
    // 600 × 3 ms back to back is 1.8 s; one request at a time between timer turns is a few ms.
    expect(worstGap).toBeLessThan(250);
  });
});
