/**
 * Round 4 (H5): the instance claim (instance-claim.ts): one holder per name in a network namespace,
 * a clear error for the second, idempotent acquire and release, and a holder killed with -9 frees
 * the name at once (no stale lock).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InstanceClaim, claimAddress } from '../../../src/enforce/instance-claim.js';

const unique = (p: string) => `${p}${randomBytes(4).toString('hex')}`;

describe('InstanceClaim', () => {
  it('a second claim of one name is refused with BH_ERR_CONFIG naming the setting; another name is free; release frees', async () => {
    const name = unique('h5c');
    const a = new InstanceClaim(name);
    await a.acquire();
    await a.acquire();
    expect(a.held).toBe(true);
    const b = new InstanceClaim(name);
    await expect(b.acquire()).rejects.toMatchObject({ code: 'BH_ERR_CONFIG', hint: expect.stringMatching(/BANHAMMER_INSTANCE/) });
    expect(b.held).toBe(false);
    const other = new InstanceClaim(`${name}x`);
    await other.acquire();
    await other.release();
    await a.release();
    await a.release();
    await b.acquire();
    await b.release();
  });

  it('a holder killed with -9 frees the name at once', async () => {
    const name = unique('h5k');
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(claimAddress(name))}, () => console.log('held')); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child did not hold the claim')), 10_000);
        child.stdout!.on('data', () => (clearTimeout(t), resolve()));
      });
      await expect(new InstanceClaim(name).acquire()).rejects.toThrow(/already runs/);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    const c = new InstanceClaim(name);
    await c.acquire();
    expect(c.held).toBe(true);
    await c.release();
  });
});
