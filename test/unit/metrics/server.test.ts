import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/registry.js';
import { parseListenAddress, startMetricsServer, type MetricsServer } from '../../../src/metrics/server.js';
import { get } from './http-get.js';

describe('parseListenAddress', () => {
  it('reads host:port, [v6]:port, :port and port, defaulting to loopback', () => {
    expect(parseListenAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseListenAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseListenAddress('metrics.local:9100')).toEqual({ host: 'metrics.local', port: 9100 });
    expect(parseListenAddress(':9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseListenAddress('9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseListenAddress(' 9100 ')).toEqual({ host: '127.0.0.1', port: 9100 });
  });

  it('rejects malformed addresses with a config error and a hint', () => {
    for (const bad of ['', ':', 'host:', 'host', '::1:9100', '[::1]', '[1.2.3.4]:80', '[zz]:80', '1.2.3.4:65536', '1.2.3.4:-1', '1.2.3.4:80:80', 'bad host:80', 'http://x:80', '9100x']) {
      expect(() => parseListenAddress(bad), bad).toThrow(expect.objectContaining({ code: 'BH_ERR_CONFIG', hint: expect.stringContaining('host:port') }));
    }
  });
});

describe('startMetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('binds loopback when no host is given, and serves /metrics and /healthz', async () => {
    const m = createMetrics();
    m.lines(3);
    server = await startMetricsServer(':0', m);
    expect(server.address).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    const metrics = await get(server.port, '/metrics?name[]=x');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('\nbanhammer_lines_total 3\n');
    expect(await get(server.port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('answers 404 elsewhere, 405 to other methods, and HEAD without a body', async () => {
    server = await startMetricsServer('127.0.0.1:0', createMetrics());
    expect((await get(server.port, '/')).status).toBe(404);
    expect((await get(server.port, '/metrics/x')).status).toBe(404);
    expect((await get(server.port, '/metrics', 'POST')).status).toBe(405);
    expect(await get(server.port, '/metrics', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('reports a port in use as a metrics error', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startMetricsServer(`127.0.0.1:${port}`, createMetrics())).rejects.toMatchObject({
        code: 'BH_ERR_METRICS',
        message: expect.stringContaining(`cannot listen for metrics on 127.0.0.1:${port}`),
        hint: expect.stringContaining('another process uses that port'),
      });
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
