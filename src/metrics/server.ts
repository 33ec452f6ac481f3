/**
 * The Prometheus endpoint: node:http serving GET/HEAD /metrics (text exposition format) and
 * /healthz ("ok"). Anything else is 404, other methods 405.
 *
 * `addr` is `host:port`, `[v6]:port`, `:port` or `port`; without a host it binds 127.0.0.1, so
 * metrics stay on loopback unless the user says otherwise. Port 0 picks a free port (tests); the
 * bound address and port are returned. A malformed addr or a failed bind is a BanhammerError.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { BanhammerError } from '../errors.js';
import type { Metrics } from './registry.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface MetricsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';
/** How long a scraper has to send its whole request, and the most connections served at once. */
export const REQUEST_TIMEOUT_MS = 5_000;
export const MAX_CONNECTIONS = 64;

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses a listen address; throws BH_ERR_CONFIG when malformed. */
export function parseListenAddress(addr: string): ListenAddress {
  const bad = () =>
    new BanhammerError('BH_ERR_CONFIG', `invalid metrics address ${JSON.stringify(addr)}`, {
      hint: 'use host:port, [v6]:port, :port or port, e.g. 127.0.0.1:9100 (BANHAMMER_METRICS_ADDR)',
      data: { addr },
    });
  const s = addr.trim();
  let host: string;
  let portText: string;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(s);
  if (/^\d+$/.test(s)) {
    host = '';
    portText = s;
  } else if (m !== null) {
    if (m[1] !== undefined) {
      host = m[1];
      if (isIP(host) !== 6) throw bad();
    } else {
      host = m[2] ?? '';
      if (host !== '' && isIP(host) !== 4 && !HOSTNAME_RE.test(host)) throw bad();
    }
    portText = m[3] ?? '';
  } else {
    throw bad();
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) throw bad();
  return { host: host === '' ? DEFAULT_METRICS_HOST : host, port };
}

export async function startMetricsServer(addr: string, metrics: Metrics): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(addr);

  // A scraper (maybe hostile) gets a few seconds to send its request: node's defaults (60 s for the
  // headers, checked every 30 s, nothing for a silent connection) let a slow one hold sockets, and
  // with many of them the agent's file descriptors. Connections beyond MAX_CONNECTIONS are refused.
  const server = createServer({ headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, (req, res) => {
    void respond(req, res, metrics);
  });
  server.maxConnections = MAX_CONNECTIONS;
  // A connection with no traffic at all (not even a request line) is closed too.
  server.setTimeout(REQUEST_TIMEOUT_MS, (s) => s.destroy());
  // And by a timer of its own: node's socket timeout above left a silent connection open now and then
  // (1 run in 3 of hostile-slow-scraper.test.ts here, still open after 12 s).
  server.on('connection', (s) => {
    const t = setTimeout(() => {
      if (!s.destroyed && s.bytesRead === 0) s.destroy();
    }, REQUEST_TIMEOUT_MS + 1_000);
    t.unref();
    s.once('close', () => clearTimeout(t));
  });
  // Scrapers keep connections open; do not let them hold shutdown.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new BanhammerError('BH_ERR_METRICS', `cannot listen for metrics on ${host}:${port}: ${e.message}`, {
          hint: e.code === 'EADDRINUSE' ? 'another process uses that port; set BANHAMMER_METRICS_ADDR to a free one' : 'check BANHAMMER_METRICS_ADDR',
          data: { host, port, errno: e.code },
          cause: e,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new BanhammerError('BH_ERR_METRICS', 'metrics server has no TCP address');

  let closing: Promise<void> | undefined;
  return {
    address: bound.address,
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function respond(req: IncomingMessage, res: ServerResponse, metrics: Metrics): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics' && path !== '/healthz') return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', req.method);
  }
  if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n', req.method);
  try {
    send(res, 200, metrics.contentType, await metrics.render(), req.method);
  } catch (e) {
    send(res, 500, 'text/plain; charset=utf-8', `error collecting metrics: ${(e as Error).message}\n`, req.method);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, method?: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(method === 'HEAD' ? undefined : body);
}
