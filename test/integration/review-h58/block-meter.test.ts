// The event-loop block meter of the Redis flood tests counts this process's own blocking only: a
// process given no CPU for a while (a loaded CI machine, here made certain by stopping the process
// with SIGSTOP for 300 ms) is late, but did not block; a 150 ms busy loop is a block, whatever the
// machine's load. Measured by wall time alone, the stop read as a 300 ms block and failed the
// flood tests' bound (500 ms) on a machine busy enough.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { blockMeter } from '../share-unban-flood/flood.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops this process for `ms` (a child sends SIGSTOP, then SIGCONT); resolves once the child is done. */
function stopped(ms: number): Promise<void> {
  return new Promise((ok, fail) => {
    const c = spawn('sh', ['-c', `kill -STOP ${process.pid}; sleep ${ms / 1000}; kill -CONT ${process.pid}`], { stdio: 'ignore' });
    c.on('error', fail);
    c.on('exit', () => ok());
  });
}

describe('blockMeter', () => {
  it('counts 150 ms of CPU without yielding', async () => {
    const m = blockMeter();
    await sleep(20);
    const c0 = process.cpuUsage();
    for (let u = process.cpuUsage(c0); u.user + u.system < 150_000; u = process.cpuUsage(c0));
    await sleep(20);
    expect(m.stop()).toBeGreaterThan(100);
  });

  it('does not count 300 ms without CPU at all (the process stopped), nor a 150 ms sleep', async () => {
    const m = blockMeter();
    await sleep(150);
    const t0 = performance.now();
    await stopped(300);
    await sleep(20);
    const wall = performance.now() - t0;
    expect(wall).toBeGreaterThan(300); // it was stopped that long
    expect(m.stop()).toBeLessThan(100);
  });
});
