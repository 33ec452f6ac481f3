/**
 * With `starttls: opportunistic` and credentials, an SMTP server (or anyone on the
 * path who strips `STARTTLS` from the EHLO answer) that does not offer STARTTLS receives the login
 * in the clear: nodemailer goes on to AUTH PLAIN with base64(user, password). Opportunistic TLS may
 * protect the message, but a password must never be sent without TLS.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendEmail } from '../../../src/notify/smtp.js';

let server: Server | null = null;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  server = null;
});

/** A server that offers AUTH but no STARTTLS, records every command, and accepts everything. */
function plainServer(seen: string[]): Promise<number> {
  server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write('220 plain ESMTP\r\n');
    let buf = '';
    let data = false;
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (seen.length < 200) seen.push(line);
        if (data) {
          if (line === '.') {
            data = false;
            s.write('250 queued\r\n');
          }
          continue;
        }
        const cmd = line.split(' ')[0]!.toUpperCase();
        if (cmd === 'EHLO') s.write('250-plain\r\n250 AUTH PLAIN LOGIN\r\n');
        else if (cmd === 'AUTH') s.write('235 ok\r\n');
        else if (cmd === 'DATA') {
          data = true;
          s.write('354 go\r\n');
        } else if (cmd === 'QUIT') s.end('221 bye\r\n');
        else s.write('250 ok\r\n');
      }
    });
  });
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
}

describe('sendEmail with opportunistic STARTTLS and a password', () => {
  it('never sends the password to a server that does not offer STARTTLS', async () => {
    const seen: string[] = [];
    const port = await plainServer(seen);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    let r;
    try {
      r = await sendEmail(
        { host: '127.0.0.1', port, implicitTls: false, starttls: 'opportunistic', user: 'alerts', password: 'S3cret-pw', from: 'agent@example.com', to: ['ops@example.com'], connectTimeoutMs: 2000, subjectPrefix: '' },
        { subject: 's', text: 't' },
        ac.signal,
      );
    } finally {
      clearTimeout(timer);
    }
    expect(r).toMatchObject({ ok: false });
    const secretB64 = Buffer.from('S3cret-pw').toString('base64');
    const plain = Buffer.from('\0alerts\0S3cret-pw').toString('base64');
    expect(seen.some((l) => /^AUTH/i.test(l))).toBe(false);
    expect(seen.join('\n')).not.toContain(plain);
    expect(seen.join('\n')).not.toContain(secretB64);
  }, 15_000);

  it('without a password, opportunistic still delivers over a plain connection', async () => {
    const seen: string[] = [];
    const port = await plainServer(seen);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    try {
      const r = await sendEmail({ host: '127.0.0.1', port, implicitTls: false, starttls: 'opportunistic', from: 'agent@example.com', to: ['ops@example.com'], connectTimeoutMs: 2000, subjectPrefix: '' }, { subject: 's', text: 't' }, ac.signal);
      expect(r).toEqual({ ok: true });
    } finally {
      clearTimeout(timer);
    }
  }, 15_000);
});
