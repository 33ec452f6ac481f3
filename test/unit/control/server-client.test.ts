import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlRequest } from '../../../src/control/client.js';
import type { StatusReport, WhyReport } from '../../../src/control/protocol.js';
import { startControlServer, type ControlHandler, type ControlServer } from '../../../src/control/server.js';
import { BanhammerError } from '../../../src/errors.js';

const REPORT: StatusReport = {
  instance: 'web-1',
  enforcer: 'iptables',
  since: '2026-01-01T00:00:00.000Z',
  files: [{ path: '/var/log/apache2/access.log', lagBytes: 0 }],
  rules: [
    { name: 'forbidden', enabled: true, currentlyFailed: 2, totalFailed: 40, currentlyBanned: 1, totalBanned: 3, bannedIps: ['198.18.0.7'] },
  ],
};

class FakeHandler implements ControlHandler {
  calls: unknown[][] = [];
  failNext: unknown;
  private maybeFail(): void {
    if (this.failNext !== undefined) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
  }
  async status(rule?: string) {
    this.calls.push(['status', rule]);
    this.maybeFail();
    return REPORT;
  }
  async ban(ip: string, opts: { rule?: string; forMs: number | null }) {
    this.calls.push(['ban', ip, opts]);
    this.maybeFail();
    return { ip, rule: opts.rule ?? 'manual', until: opts.forMs };
  }
  async unban(ip: string) {
    this.calls.push(['unban', ip]);
    this.maybeFail();
    return 2;
  }
  unbanAll() {
    this.calls.push(['unbanAll']);
    return 5;
  }
  async reload() {
    this.calls.push(['reload']);
    this.maybeFail();
  }
  async why(ip: string): Promise<WhyReport> {
    this.calls.push(['why', ip]);
    this.maybeFail();
    return { ip, instance: 'test', now: null, allowlisted: false, active: [], failing: [], ended: [], historySize: 0 };
  }
}

/** Sends raw bytes on a fresh connection and collects everything the server says until it closes. */
function raw(socketPath: string, payload: string | Buffer, opts: { endAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = createConnection(socketPath);
    s.on('connect', () => {
      s.write(payload);
      if (opts.endAfterWrite ?? true) s.end();
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

/** Leaves a socket file with nobody listening, as a killed daemon does. */
function makeStaleSocket(path: string): void {
  execFileSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
}

let dir: string;
let sock: string;
let handler: FakeHandler;
let servers: ControlServer[];
let errors: unknown[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-control-'));
  sock = join(dir, 'run', 'banhammer.sock');
  handler = new FakeHandler();
  servers = [];
  errors = [];
});

afterEach(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(extra: { idleTimeoutMs?: number; maxRequestBytes?: number } = {}): Promise<ControlServer> {
  const s = await startControlServer({ socketPath: sock, handler, onError: (e) => errors.push(e), ...extra });
  servers.push(s);
  return s;
}

describe('control server and client', () => {
  it('round-trips every op to the handler', async () => {
    await start();
    const t = { timeoutMs: 5000 };
    expect(await controlRequest(sock, { op: 'status' }, t)).toEqual(REPORT);
    expect(await controlRequest(sock, { op: 'status', rule: 'forbidden' }, t)).toEqual(REPORT);
    expect(await controlRequest(sock, { op: 'ban', ip: '198.18.0.9', rule: 'forbidden', forMs: 60_000 }, t)).toEqual({
      ip: '198.18.0.9',
      rule: 'forbidden',
      until: 60_000,
    });
    expect(await controlRequest(sock, { op: 'ban', ip: '2001:DB8::9', forMs: null }, t)).toEqual({ ip: '2001:db8::9', rule: 'manual', until: null });
    expect(await controlRequest(sock, { op: 'unban', ip: '198.18.0.9' }, t)).toBe(2);
    expect(await controlRequest(sock, { op: 'unban-all' }, t)).toBe(5);
    expect(await controlRequest(sock, { op: 'reload' }, t)).toBeNull();
    expect(handler.calls).toEqual([
      ['status', undefined],
      ['status', 'forbidden'],
      ['ban', '198.18.0.9', { rule: 'forbidden', forMs: 60_000 }],
      ['ban', '2001:db8::9', { forMs: null }],
      ['unban', '198.18.0.9'],
      ['unbanAll'],
      ['reload'],
    ]);
    expect(errors).toEqual([]);
  });

  it('turns a BanhammerError from the handler into the same error at the client', async () => {
    await start();
    handler.failNext = new BanhammerError('BH_ERR_USAGE', 'no running rule named "nope"', { hint: 'running rules: forbidden' });
    const e = await controlRequest(sock, { op: 'status', rule: 'nope' }, { timeoutMs: 5000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BanhammerError);
    expect(e).toMatchObject({ code: 'BH_ERR_USAGE', message: 'no running rule named "nope"', hint: 'running rules: forbidden' });
    expect(errors).toEqual([]);
  });

  it('reports other handler failures as internal errors and passes them to onError', async () => {
    await start();
    const boom = new TypeError('boom');
    handler.failNext = boom;
    const e = await controlRequest(sock, { op: 'reload' }, { timeoutMs: 5000 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'BH_ERR_INTERNAL', message: 'internal error: boom' });
    expect(errors).toEqual([boom]);
    // The server keeps serving.
    expect(await controlRequest(sock, { op: 'unban-all' }, { timeoutMs: 5000 })).toBe(5);
  });

  it('answers a malformed line with an error and keeps the connection for the next request', async () => {
    await start();
    const out = lines(await raw(sock, 'this is not json\n{"op":"teleport"}\n{"op":"unban-all"}\n'));
    expect(out).toHaveLength(3);
    expect(out[0]).toMatchObject({ v: 1, ok: false, error: { code: 'BH_ERR_CONTROL', message: 'request is not valid JSON' } });
    expect(out[1]).toMatchObject({ ok: false, error: { message: expect.stringContaining('unknown op "teleport"') } });
    expect(out[2]).toEqual({ v: 1, ok: true, result: 5 });
    expect(handler.calls).toEqual([['unbanAll']]);
  });

  it('accepts a last request without a trailing newline', async () => {
    await start();
    expect(lines(await raw(sock, '{"op":"unban-all"}'))).toEqual([{ v: 1, ok: true, result: 5 }]);
  });

  it('refuses an oversize request and closes the connection', async () => {
    await start({ maxRequestBytes: 1024 });
    // No newline ever comes: the server must not buffer without bound.
    const out = lines(await raw(sock, Buffer.alloc(4096, 0x61), { endAfterWrite: false }));
    expect(out).toEqual([
      { v: 1, ok: false, error: { code: 'BH_ERR_CONTROL', message: 'request larger than 1024 bytes', hint: 'send one JSON object per line' } },
    ]);
    expect(handler.calls).toEqual([]);
  });

  it('refuses an oversize line that does end in a newline', async () => {
    await start({ maxRequestBytes: 1024 });
    const big = `${JSON.stringify({ op: 'status', rule: 'x'.repeat(2000) })}\n`;
    const out = lines(await raw(sock, big, { endAfterWrite: false }));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ ok: false, error: { message: 'request larger than 1024 bytes' } });
  });

  it('closes a connection that stays idle', async () => {
    await start({ idleTimeoutMs: 50 });
    // The client never ends its side; only the server's idle limit can close the connection.
    expect(await raw(sock, '', { endAfterWrite: false })).toBe('');
  });

  it('creates the directory 0700 and the socket 0600', async () => {
    await start();
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    // The umask was restored.
    const probe = join(dir, 'umask-probe');
    writeFileSync(probe, '', { mode: 0o666 });
    expect(statSync(probe).mode & 0o777).toBe(0o666 & ~process.umask());
  });

  it('replaces a stale socket left by a crashed daemon', async () => {
    await start();
    await servers.pop()!.close();
    makeStaleSocket(sock);
    expect(statSync(sock).isSocket()).toBe(true);
    await expect(controlRequest(sock, { op: 'status' }, { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'BH_ERR_DAEMON_NOT_RUNNING' });
    await start();
    expect(await controlRequest(sock, { op: 'unban-all' }, { timeoutMs: 5000 })).toBe(5);
  });

  it('refuses to start when a live daemon answers on the socket, and leaves it alone', async () => {
    await start();
    const second = startControlServer({ socketPath: sock, handler: new FakeHandler() });
    await expect(second).rejects.toMatchObject({
      code: 'BH_ERR_CONTROL_IN_USE',
      message: `another banhammer is already running on ${sock}`,
    });
    expect(await controlRequest(sock, { op: 'unban-all' }, { timeoutMs: 5000 })).toBe(5);
  });

  it('refuses to replace a path that is not a socket', async () => {
    await start();
    await servers.pop()!.close();
    writeFileSync(sock, 'precious');
    await expect(start()).rejects.toMatchObject({ code: 'BH_ERR_CONTROL', message: expect.stringContaining('is not a socket') });
    expect(readFileSync(sock, 'utf8')).toBe('precious');
  });

  it('removes its socket on close', async () => {
    const s = await start();
    await s.close();
    servers.pop();
    expect(existsSync(sock)).toBe(false);
    await expect(controlRequest(sock, { op: 'status' }, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'BH_ERR_DAEMON_NOT_RUNNING',
      message: `banhammer is not running (no control socket at ${sock})`,
      hint: 'start it with banhammer run, or check BANHAMMER_SOCKET',
    });
  });
});

describe('controlRequest failures', () => {
  let other: Server | undefined;
  afterEach(async () => {
    if (other) await new Promise<void>((r) => other!.close(() => r()));
    other = undefined;
  });

  it('says the daemon is not running when there is no socket', async () => {
    await expect(controlRequest(join(dir, 'absent.sock'), { op: 'status' }, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'BH_ERR_DAEMON_NOT_RUNNING',
    });
  });

  it('times out when nobody answers', async () => {
    // Reads (so it notices the client leaving) but never answers.
    other = createServer((c) => c.resume());
    const p = join(dir, 'mute.sock');
    await new Promise<void>((r) => other!.listen(p, r));
    await expect(controlRequest(p, { op: 'status' }, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'BH_ERR_CONTROL',
      message: `banhammer did not answer within 100 ms (socket ${p})`,
    });
  });

  it('rejects a malformed answer and an early hang-up', async () => {
    const p = join(dir, 'odd.sock');
    let reply = 'garbage\n';
    other = createServer((c) => c.resume().end(reply));
    await new Promise<void>((r) => other!.listen(p, r));
    await expect(controlRequest(p, { op: 'status' }, { timeoutMs: 5000 })).rejects.toMatchObject({
      message: `malformed answer from banhammer on ${p}`,
    });
    reply = '';
    await expect(controlRequest(p, { op: 'status' }, { timeoutMs: 5000 })).rejects.toMatchObject({
      message: expect.stringContaining('closed the control connection without answering'),
    });
  });

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  it.skipIf(!asRoot)('tells a non-root user that root is needed', async () => {
    await start();
    const clientUrl = new URL('../../../src/control/client.ts', import.meta.url).href;
    const script = `
      const { controlRequest } = await import(${JSON.stringify(clientUrl)});
      try { await controlRequest(${JSON.stringify(sock)}, { op: 'status' }, { timeoutMs: 5000 }); console.log('connected'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })); }`;
    // The socket's directory is 0700 as well; open it so only the socket's own mode is tested.
    execFileSync('chmod', ['0755', dir, join(dir, 'run')]);
    const tsx = fileURLToPath(new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { uid: 65534, gid: 65534, cwd: '/' }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out)).toMatchObject({
      code: 'BH_ERR_CONTROL',
      message: `permission denied on the control socket ${sock}: only root may control banhammer`,
    });
  });
});
