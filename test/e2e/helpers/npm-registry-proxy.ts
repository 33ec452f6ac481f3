/**
 * A read-only HTTP relay to the npm registry, for `docker build` on machines where the build
 * container cannot talk to the registry itself (here: egress goes through a TLS-intercepting proxy
 * whose CA the image does not trust; the host does). The image build gets
 * `--build-arg NPM_CONFIG_REGISTRY=http://127.0.0.1:<port>/` and `--network host`; npm rewrites the
 * registry host of tarball URLs to the configured registry (replace-registry-host), so packuments and
 * tarballs both come through here. Only GET/HEAD are relayed, only to `upstream`, and the server
 * listens on 127.0.0.1 only. Nothing in the image depends on it: without the build arg the Dockerfile
 * talks to the public registry as usual.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export interface RegistryProxy {
  /** e.g. http://127.0.0.1:40123/ */
  readonly url: string;
  /** Requests relayed so far (for diagnostics). */
  requests(): number;
  close(): Promise<void>;
}

const PASS_REQUEST_HEADERS = ['accept', 'accept-encoding', 'npm-command', 'user-agent'];
const DROP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-encoding', 'content-length']);

export async function startRegistryProxy(upstream = 'https://registry.npmjs.org'): Promise<RegistryProxy> {
  let count = 0;
  const base = new URL(upstream);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('read-only relay\n');
      return;
    }
    count++;
    const target = new URL(req.url ?? '/', base);
    if (target.origin !== base.origin) {
      res.writeHead(400).end();
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of PASS_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string' && h !== 'accept-encoding') headers[h] = v;
    }
    const up = await fetch(target, { method: req.method, headers, redirect: 'follow' });
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (!DROP_RESPONSE_HEADERS.has(k)) out[k] = v;
    });
    res.writeHead(up.status, out);
    if (up.body === null || req.method === 'HEAD') {
      res.end();
      return;
    }
    Readable.fromWeb(up.body as import('node:stream/web').ReadableStream<Uint8Array>).pipe(res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`relay error: ${String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
