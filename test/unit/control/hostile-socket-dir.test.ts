/**
 * A hostile client of the control plane: the socket's directory.
 *
 * The socket itself is born 0600, but only a directory the server creates is made 0700: one that
 * exists already is used whatever its mode. In a directory others may write to (no sticky bit), any
 * user can rename the agent's socket away and bind their own in its place: the root CLI then talks
 * to them (`unban` answered "lifted" while the ban stays; `status` showing what they like), and the
 * healthcheck reports their answers. (A sticky directory such as /tmp fails closed: nobody can
 * replace root's file, and a socket planted before the agent starts makes it refuse to start.)
 */
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { stubControlHandler } from '../../fakes/control-handler.js';

let dir: string;
let server: ControlServer | undefined;
const handler = stubControlHandler();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-ctl-dir-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('a control socket directory others may write to', () => {
  it('is refused (world-writable, no sticky bit)', async () => {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const socketPath = join(open, 'c.sock');
    await expect(
      (async () => {
        server = await startControlServer({ socketPath, handler });
      })(),
    ).rejects.toMatchObject({ code: 'BH_ERR_CONTROL' });
    // What the refusal prevents: the socket renamed away by anyone who can write there.
    if (server !== undefined) renameSync(socketPath, join(open, 'moved.sock'));
  });

  it('is refused when group-writable too', async () => {
    const open = join(dir, 'group');
    mkdirSync(open);
    chmodSync(open, 0o770);
    await expect(startControlServer({ socketPath: join(open, 'c.sock'), handler }).then((s) => (server = s))).rejects.toMatchObject({ code: 'BH_ERR_CONTROL' });
  });

  it('a sticky world-writable directory (like /tmp) and a private one are accepted', async () => {
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    server = await startControlServer({ socketPath: join(sticky, 'c.sock'), handler });
    await server.close();
    const made = join(dir, 'made', 'sub');
    server = await startControlServer({ socketPath: join(made, 'c.sock'), handler });
    expect(statSync(made).mode & 0o777).toBe(0o700);
  });
});
