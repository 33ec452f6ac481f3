/**
 * Hostile review: an SMTP server that answers slowly forever (a multi-line reply trickled a line at a
 * time, each within the socket timeout) must not hold an email target's delivery line: the attempt
 * ends when its deadline aborts it. A local TCP server on a private port plays the server.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEmail } from '../../../src/notify/smtp.js';

let server: Server | null = null;
const sockets = new Set<Socket>();
const timers = new Set<ReturnType<typeof setInterval>>();

afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  server = null;
});

/** Greets, then answers EHLO with a `250-` line every 100 ms, never the last one. */
function trickler(): Promise<number> {
  server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write('220 trickle ESMTP\r\n');
    s.once('data', () => {
      const t = setInterval(() => s.write('250-still thinking\r\n'), 100);
      timers.add(t);
      s.on('close', () => clearInterval(t));
    });
  });
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
}

describe('sendEmail against a server that never finishes its answer', () => {
  it('returns soon after its signal aborts (a retryable timeout), whatever the server keeps sending', async () => {
    const port = await trickler();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const started = Date.now();
    const result = await Promise.race([
      sendEmail({ host: '127.0.0.1', port, implicitTls: false, starttls: 'off', from: 'agent@example.com', to: ['ops@example.com'], connectTimeoutMs: 2000, subjectPrefix: '' }, { subject: 's', text: 't' }, ac.signal),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 8000)),
    ]);
    expect(result).toEqual({ ok: false, retry: true, reason: 'timed out' });
    expect(Date.now() - started).toBeLessThan(6000);
  }, 15_000);
});
