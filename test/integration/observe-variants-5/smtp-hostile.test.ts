/**
 * Round 5 (issue 14): email notifications against a real SMTP exchange with a minimal server of the
 * test's own (node:net on 127.0.0.1, a private port, plain SMTP: the target's starttls is off), which
 * records every transaction as it arrived on the wire.
 * - Hostile text: CR LF in an evidence line or a container name cannot add a header (Bcc, Subject)
 *   or a recipient; a log line `.` (or `.` followed by SMTP commands) cannot end the DATA early or
 *   start a second message; the lines still arrive as they were (dot-stuffing undone).
 * - `starttls: off` with a login sends the password in the clear (why the agent warns at start when
 *   the server is not on loopback: test/unit/observe-variants-5/notify-hostile-text.test.ts).
 * - A server that answers slowly, each reply line a while after the last (within the socket
 *   timeout), is waited for: the message is delivered, not abandoned.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { AgentInfo, BanNotice } from '../../../src/notify/event.js';
import { renderEmail, sendEmail, type SmtpTarget } from '../../../src/notify/smtp.js';

interface Transaction {
  mailFrom: string;
  rcpts: string[];
  data: string;
}

let server: Server | null = null;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  server = null;
});

/** A plain SMTP server; each reply line is written `lineDelayMs` after the previous one. */
async function smtpServer(lineDelayMs = 0, auth = false): Promise<{ port: number; transactions: Transaction[]; commands: string[] }> {
  const transactions: Transaction[] = [];
  const commands: string[] = [];
  server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    let out = Promise.resolve();
    const reply = (...lines: string[]): void => {
      for (const l of lines) {
        out = out.then(() => new Promise<void>((r) => setTimeout(() => (s.destroyed ? r() : s.write(`${l}\r\n`, () => r())), lineDelayMs)));
      }
    };
    let buf = '';
    let inData = false;
    let cur: Transaction | null = null;
    reply('220 h9-test ESMTP');
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur!.data = buf.slice(0, end + 2);
          buf = buf.slice(end + 5);
          transactions.push(cur!);
          cur = null;
          inData = false;
          reply('250 2.0.0 queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        commands.push(line);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') reply('250-h9-test greets you', '250-8BITMIME', ...(auth ? ['250-AUTH PLAIN LOGIN'] : []), '250-SIZE 1000000', '250-ENHANCEDSTATUSCODES', '250 SMTPUTF8');
        else if (verb === 'AUTH') reply('235 2.7.0 accepted');
        else if (verb === 'HELO') reply('250 h9-test');
        else if (verb === 'MAIL') {
          cur = { mailFrom: line.slice(10), rcpts: [], data: '' };
          reply('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          cur?.rcpts.push(line.slice(8));
          reply('250 2.1.5 ok');
        } else if (verb === 'DATA') {
          inData = true;
          reply('354 go ahead');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          void out.then(() => s.end());
        } else if (verb === 'RSET' || verb === 'NOOP') reply('250 ok');
        else reply('502 5.5.2 not implemented');
      }
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server!.address() as { port: number }).port, transactions, commands };
}

const agent: AgentInfo = { instance: 'web-1', host: 'host-a', version: '0.1.0' };
const T = Date.UTC(2026, 11, 5, 10, 0, 0);
const target = (port: number, connectTimeoutMs = 2000): SmtpTarget => ({ host: '127.0.0.1', port, implicitTls: false, starttls: 'off', from: 'agent@example.com', to: ['ops@example.com'], connectTimeoutMs, subjectPrefix: '[banhammer] ' });

/** The body of a raw DATA section: dot-stuffing undone, quoted-printable decoded when the header says so. */
function bodyOf(data: string): { headers: string; body: string } {
  const split = data.indexOf('\r\n\r\n');
  const headers = data.slice(0, split);
  let body = data.slice(split + 4).split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n');
  if (/^content-transfer-encoding:\s*quoted-printable/im.test(headers)) {
    body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  } else if (/^content-transfer-encoding:\s*base64/im.test(headers)) {
    body = Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

describe('email with hostile log lines and container names, through a real SMTP exchange', () => {
  it('adds no header, recipient or message; a lone "." line does not end the message; the lines arrive as they were', async () => {
    const { port, transactions, commands } = await smtpServer();
    const evidence = [
      '198.18.0.5 - - "GET / HTTP/1.1" 403 1 "-" "x\r\nBcc: victim@example.net\r\nSubject: pwned"',
      '.',
      '.\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA',
      '..two dots',
      '.\n.\r.',
    ].map((line) => ({ line, at: T }));
    const ban: Ban = { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 5, nth: 1, manual: false, scope: 'c0ffee0123456789', scopeName: 'web\r\nBcc: victim@example.net', evidence };
    const n: BanNotice = { kind: 'ban', ban, time: T };
    const r = await sendEmail(target(port), renderEmail(n, agent, '[banhammer] '), AbortSignal.timeout(10_000));
    expect(r).toEqual({ ok: true });
    expect(transactions).toHaveLength(1);
    const t = transactions[0]!;
    expect(t.rcpts).toEqual(['<ops@example.com>']);
    expect(commands.filter((c) => /^MAIL FROM/i.test(c))).toHaveLength(1);
    expect(commands.filter((c) => /^RCPT TO/i.test(c))).toEqual(['RCPT TO:<ops@example.com>']);
    const { headers, body } = bodyOf(t.data);
    // Unfolded, every header line is one nodemailer writes; the injected text stays inside the Subject.
    const names = headers.replace(/\r\n[ \t]/g, ' ').split('\r\n').map((h) => h.slice(0, h.indexOf(':')).toLowerCase());
    expect(names.sort()).toEqual(['auto-submitted', 'content-transfer-encoding', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to']);
    expect(headers.replace(/\r\n[ \t]/g, ' ')).toMatch(/^Subject: .*\(container web {2}Bcc: victim@example\.net\)/m);
    // No line of the DATA section is a lone dot (the server would have taken it for the end).
    expect(t.data.split('\r\n').slice(0, -1)).not.toContain('.');
    // The log lines, as cleaned (CR and LF as spaces), each on its own line.
    const lines = body.split('\n');
    expect(lines).toContain('.');
    expect(lines).toContain('.  MAIL FROM:<evil@example.net>  RCPT TO:<victim@example.net>  DATA');
    expect(lines).toContain('..two dots');
    expect(lines).toContain('. . .');
    expect(body).toContain('"x  Bcc: victim@example.net  Subject: pwned"');
  });

  it('a server that answers one line at a time, slowly (250 ms a line), is waited for: delivered', async () => {
    const { port, transactions } = await smtpServer(250);
    const ban: Ban = { ip: '198.18.0.6', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 5, nth: 1, manual: false, evidence: [{ line: 'GET /x', at: T }] };
    const t0 = Date.now();
    const r = await sendEmail(target(port, 1500), renderEmail({ kind: 'ban', ban, time: T }, agent, '[banhammer] '), AbortSignal.timeout(15_000));
    expect(r).toEqual({ ok: true });
    expect(transactions).toHaveLength(1);
    expect(Date.now() - t0).toBeGreaterThan(2000); // it really was slow
  }, 20_000);

  it('starttls: off with a login: AUTH and the password cross the wire in the clear (so the agent warns about it off loopback)', async () => {
    const { port, commands } = await smtpServer(0, true);
    const ban: Ban = { ip: '198.18.0.7', family: 4, rule: 'forbidden', at: T, until: T + 3_600_000, failures: 5, nth: 1, manual: false };
    const r = await sendEmail({ ...target(port), user: 'agent', password: 'cl3artext-pw' }, renderEmail({ kind: 'ban', ban, time: T }, agent, ''), AbortSignal.timeout(10_000));
    expect(r).toEqual({ ok: true });
    const auth = commands.find((c) => /^AUTH /i.test(c));
    expect(auth).toBeDefined();
    expect(Buffer.from(auth!.split(' ').pop()!, 'base64').toString('utf8')).toContain('cl3artext-pw');
  });
});
