/**
 * Real receivers for the notification tests, started by the test on private ports and stopped after:
 * an HTTP server (node:http) whose answer per request the test scripts (200, 500, hang), and an SMTP
 * server (Debian's aiosmtpd, test/fixtures/notify/smtp-recorder.py) that records what it accepts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly at: number;
}

export type Answer = 'ok' | 'fail' | 'hang';

export interface HttpReceiver {
  readonly url: string;
  readonly port: number;
  readonly got: Received[];
  /** How to answer the next requests (default 'ok' once the script is used up). */
  script: Answer[];
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const got: Received[] = [];
  const hanging: ServerResponse[] = [];
  const r = { script: [] as Answer[] };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now() });
      const a = r.script.shift() ?? 'ok';
      if (a === 'hang') return void hanging.push(res);
      res.writeHead(a === 'ok' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(a === 'ok' ? 'ok' : 'internal error');
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    got,
    async close() {
      for (const h of hanging) h.destroy();
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
    },
  });
}

export const SMTP_RECORDER = fileURLToPath(new URL('../../fixtures/notify/smtp-recorder.py', import.meta.url));
export const DEBIAN_PYTHON = '/usr/bin/python3';

/** Why aiosmtpd cannot run here, or null. */
export function smtpUnavailable(): string | null {
  if (!existsSync(DEBIAN_PYTHON)) return `${DEBIAN_PYTHON} is missing`;
  const r = spawnSyncQuiet([DEBIAN_PYTHON, '-c', 'import aiosmtpd']);
  return r ? null : 'python3-aiosmtpd is not installed (scripts/install-deps.sh)';
}

function spawnSyncQuiet(argv: string[]): boolean {
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0;
}

export interface SmtpMessage {
  readonly mail_from: string;
  readonly rcpt_tos: string[];
  readonly tls: boolean;
  readonly auth: string | null;
  readonly data: string;
}

export interface SmtpReceiver {
  readonly port: number;
  readonly child: ChildProcess;
  messages(): SmtpMessage[];
  close(): Promise<void>;
}

/** Starts the recorder (argv prefix lets a test run it inside a namespace). */
export async function startSmtpReceiver(opts: { port: number; out: string; tls: 'none' | 'starttls' | 'implicit'; cert?: string; key?: string; user?: string; password?: string; prefix?: string[] }): Promise<SmtpReceiver> {
  const args = [SMTP_RECORDER, '--port', String(opts.port), '--out', opts.out, '--tls', opts.tls];
  if (opts.cert) args.push('--cert', opts.cert, '--key', opts.key!);
  if (opts.user) args.push('--user', opts.user, '--password', opts.password!);
  const argv = [...(opts.prefix ?? []), DEBIAN_PYTHON, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`aiosmtpd did not start: ${err}`)), 15_000);
    child.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`aiosmtpd exited with ${code}: ${err}`));
    });
  });
  return {
    port: opts.port,
    child,
    messages: () => (existsSync(opts.out) ? readFileSync(opts.out, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as SmtpMessage) : []),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.pid !== undefined && child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Polls until `ok()` or `ms` passes. */
export async function waitFor(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
