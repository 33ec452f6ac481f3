/**
 * A socket path planted beforehand (issue 9: a fault or another user must not switch protection off).
 * A sticky world-writable directory such as /tmp is accepted for the control socket (nobody can
 * replace root's socket there), but any local user could create the path first, as a file, a
 * symlink or a socket of their own: the agent refused to start ("exists and is not a socket", or
 * "another banhammer is already running"), so the firewall was never set up. Such an entry is not an
 * agent of ours (the CLI refuses a socket another user owns) nor the operator's file: the agent now
 * removes it and binds its own. The operator's (root's) own file is still never deleted.
 */
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { controlRequest } from '../../../src/control/client.js';
import { stubControlHandler } from '../../fakes/control-handler.js';

const root = process.getuid?.() === 0;
const OTHER = 4242;
let dir: string;
let sticky: string;
let server: ControlServer | undefined;
let impostor: Server | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-h2-plant-'));
  sticky = join(dir, 'tmp');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await new Promise<void>((r) => (impostor === undefined ? r() : impostor.close(() => r())));
  impostor = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function startsAndAnswers(socketPath: string): Promise<void> {
  server = await startControlServer({ socketPath, handler: stubControlHandler() });
  const st = lstatSync(socketPath);
  expect(st.isSocket()).toBe(true);
  expect(st.uid).toBe(process.getuid!());
  // The CLI believes it and reaches the agent's handler.
  await expect(controlRequest(socketPath, { op: 'unban-all' }, { timeoutMs: 2000 })).resolves.toBeTypeOf('number');
}

describe.skipIf(!root)('a control socket path another user planted in a sticky directory', () => {
  it('a regular file: removed, the agent starts', async () => {
    const path = join(sticky, 'bh.sock');
    writeFileSync(path, 'x');
    chownSync(path, OTHER, OTHER);
    await startsAndAnswers(path);
  });

  it('a symlink (to a file of root\'s): the link is removed, its target left alone', async () => {
    const target = join(dir, 'precious');
    writeFileSync(target, 'keep');
    const path = join(sticky, 'bh.sock');
    symlinkSync(target, path);
    lchownSync(path, OTHER, OTHER);
    await startsAndAnswers(path);
    expect(readFileSync(target, 'utf8')).toBe('keep');
  });

  it('a socket someone listens on: not taken for another banhammer; replaced', async () => {
    const path = join(sticky, 'bh.sock');
    impostor = createServer((s) => s.end('{"v":1,"ok":true,"result":99}\n'));
    await new Promise<void>((r) => impostor!.listen(path, r));
    chownSync(path, OTHER, OTHER);
    await startsAndAnswers(path);
  });

  it('root\'s own regular file is still never deleted', async () => {
    const path = join(sticky, 'bh.sock');
    writeFileSync(path, 'operator');
    await expect(startControlServer({ socketPath: path, handler: stubControlHandler() })).rejects.toThrow(/not a socket/);
    expect(readFileSync(path, 'utf8')).toBe('operator');
  });
});
