/**
 * What the CLI prints of the agent's answers reaches an operator's terminal: `--json` output has
 * DEL, C1 controls, bidi overrides and line separators written as \uXXXX (JSON.stringify leaves them
 * raw) and still parses to the same value; `ban` escapes the address, rule and container it echoes;
 * and the CLI believes no socket at its path that belongs to another user than root or the caller.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { foreignSocket } from '../../../src/control/client.js';
import { terminalJson } from '../../../src/control/terminal-text.js';

const UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\x1b]/;
/** ESC [ 2 J (clear screen), CSI as one C1 byte, right-to-left override, a line separator. */
const HOSTILE = 'web\x1b[2J\x9b31m\u202eevil\u2028x';

let dir = '';
let server: Server | null = null;
afterEach(async () => {
  await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  server = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** A stand-in agent on a socket: answers every request with `result`. */
async function agentAnswering(result: unknown): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'bh-cli-out-'));
  const socketPath = join(dir, 'control.sock');
  server = createServer((sock) => {
    sock.on('data', () => sock.end(`${JSON.stringify({ v: 1, ok: true, result })}\n`));
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(socketPath, r));
  return socketPath;
}

async function run(args: string[], socketPath: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (s) => (out += s), stderr: (s) => (err += s), env: { BANHAMMER_SOCKET: socketPath }, hostname: 'unit' };
  const code = await main(args, io);
  return { code, out, err };
}

describe('terminalJson', () => {
  it('writes every terminal-unsafe character as \\uXXXX, and the text parses to the same value', () => {
    const value = { container: HOSTILE, lines: [`198.18.0.1 "GET /\x7f\x85 HTTP/1.1" 403 "\u2066x\u2069"`], n: 3 };
    const text = terminalJson(value);
    expect(text).not.toMatch(UNSAFE);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('\\u009b');
    expect(text).toContain('\\u202e');
  });
});

describe('the CLI prints what the agent answers safely', () => {
  it('why --json', async () => {
    const report = { ip: '198.18.0.7', active: [{ ip: '198.18.0.7', jail: 'forbidden', container: HOSTILE, origin: HOSTILE, evidence: [] }], ended: [], failing: [] };
    const r = await run(['why', '198.18.0.7', '--json'], await agentAnswering(report));
    expect(r.out).not.toMatch(UNSAFE);
    expect(JSON.parse(r.out)).toEqual(report);
  });

  it('ban echoes the address, rule and container escaped', async () => {
    const reply = { ip: '198.18.0.7', rule: 'manual\x1b[31m', until: null, container: HOSTILE, firewall: 'held' };
    const r = await run(['ban', '198.18.0.7'], await agentAnswering(reply));
    expect(r.out).not.toMatch(UNSAFE);
    expect(r.out).toContain('for container web\\x1b[2J\\x9b31m\\u202eevil\\u2028x');
  });
});

describe('a socket of another user', () => {
  it('is not believed: the CLI refuses it before connecting', async () => {
    const socketPath = await agentAnswering({ ip: '198.18.0.7' });
    expect(foreignSocket(socketPath)).toBeNull();
    if (process.getuid?.() !== 0) return; // chown needs root (the tests run as root in CI)
    chownSync(socketPath, 4242, 4242);
    expect(foreignSocket(socketPath)).toMatch(/belongs to another user \(uid 4242\)/);
    const r = await run(['unban', '198.18.0.7'], socketPath);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/belongs to another user/);
    // Root's own socket is believed whoever asks; a missing one is left to connecting to report.
    expect(foreignSocket(socketPath, 4242)).toBeNull();
    expect(foreignSocket(join(dir, 'none.sock'))).toBeNull();
  });

  it("is believed when that user also owns its directory alone (an agent run as a service user)", async () => {
    const socketPath = await agentAnswering({ instance: 'web-1' });
    if (process.getuid?.() !== 0) return; // chown needs root (the tests run as root in CI)
    chownSync(socketPath, 4242, 4242);
    chownSync(dir, 4242, 4242);
    chmodSync(dir, 0o700);
    expect(foreignSocket(socketPath)).toBeNull();
    // Not when others may write the directory: anyone could have put the socket there.
    chmodSync(dir, 0o777);
    expect(foreignSocket(socketPath)).toMatch(/not that user's alone/);
    chmodSync(dir, 0o700);
    chownSync(dir, 0, 0);
    expect(foreignSocket(socketPath)).toMatch(/belongs to another user/);
  });
});
