/**
 * `banhammer reload` (fail2ban-client reload): the SIGHUP reload through the control socket. The
 * agent answers once the new configuration runs; an invalid one is refused with its error (exit 2)
 * and the running configuration is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { startControlServer, type ControlHandler } from '../../../src/control/server.js';
import { BanhammerError } from '../../../src/errors.js';

function handlerWith(reload: () => void): ControlHandler {
  const never = (): never => {
    throw new Error('not this op');
  };
  return { status: never, ban: never, unban: never, unbanAll: never, why: never, reload } as unknown as ControlHandler;
}

async function withServer(reload: () => void, run: (io: Parameters<typeof main>[1], out: string[], err: string[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-reload-'));
  const socketPath = join(dir, 'c.sock');
  const server = await startControlServer({ socketPath, handler: handlerWith(reload) });
  try {
    const out: string[] = [];
    const err: string[] = [];
    await run({ stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), env: { BANHAMMER_SOCKET: socketPath }, hostname: 'unit' }, out, err);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('banhammer reload', () => {
  it('asks the running agent to reload and says so', async () => {
    let calls = 0;
    await withServer(() => void calls++, async (io, out) => {
      expect(await main(['reload'], io)).toBe(0);
      expect(calls).toBe(1);
      expect(out.join('')).toMatch(/^configuration reloaded/);
    });
  });

  it('an invalid configuration is refused with its error, exit 2', async () => {
    await withServer(
      () => {
        throw new BanhammerError('BH_ERR_CONFIG', 'invalid configuration: BANHAMMER_MAXRETRY must be ≥ 1');
      },
      async (io, out, err) => {
        expect(await main(['reload'], io)).toBe(2);
        expect(err.join('')).toContain('BANHAMMER_MAXRETRY');
        expect(out.join('')).not.toContain('reloaded');
      },
    );
  });

  it('takes no arguments, and without an agent says it cannot reach it', async () => {
    await withServer(() => {}, async (io) => {
      expect(await main(['reload', 'now'], io)).toBe(2);
    });
    const err: string[] = [];
    const io = { stdout: () => {}, stderr: (s: string) => void err.push(s), env: { BANHAMMER_SOCKET: join(tmpdir(), 'bh-no-such-agent.sock') }, hostname: 'unit' };
    expect(await main(['reload'], io)).toBe(2);
    expect(err.join('')).not.toBe('');
  });
});
