/**
 * Notifications against real receivers on private ports: a node:http server and Debian's aiosmtpd.
 * The notifier runs on the system clock with its production senders; the exact webhook document, the
 * token header, retries after HTTP 500, a hanging receiver that delays nobody else, an unreachable
 * one, the storm digest, and email over STARTTLS and implicit TLS with authentication and the log
 * lines in the body.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { payloadOf } from '../../../src/notify/event.js';
import { createNotifier, type Notifier } from '../../../src/notify/notifier.js';
import { freePort, smtpUnavailable, startHttpReceiver, startSmtpReceiver, waitFor, type HttpReceiver, type SmtpReceiver } from './receivers.js';

const AGENT = { instance: 'web-1', host: 'test-host', version: '0.1.0' };
const LINE = (n: number) => `198.18.7.7 - - [02/Dec/2026:10:00:0${n} +0000] "GET /forbidden/ HTTP/1.1" 403 199 "-" "curl/8.0"`;

function ban(ip: string, over: Partial<Ban> = {}): Ban {
  const now = Date.now();
  return {
    ip,
    family: ip.includes(':') ? 6 : 4,
    rule: 'forbidden',
    at: now,
    until: now + 3_600_000,
    failures: 2,
    nth: 1,
    manual: false,
    evidence: [
      { line: LINE(1), file: '/var/log/apache2/access.log', at: now - 2000 },
      { line: LINE(2), file: '/var/log/apache2/access.log', at: now - 1000 },
    ],
    ...over,
  };
}

interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg?: string | undefined;
}

function build(env: Record<string, string>, files: Record<string, string> = {}) {
  const config = loadConfig({ env, hostname: 'h', readFile: (p) => files[p]! });
  const logs: Logged[] = [];
  const counts: Record<string, Record<string, number>> = { sent: {}, failed: {}, dropped: {} };
  const inc = (k: string, t: string, n = 1) => ((counts[k]![t] = (counts[k]![t] ?? 0) + n));
  const n = createNotifier(config.notify, {
    clock: systemClock,
    log: { info: (obj, msg) => logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }), warn: (obj, msg) => logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }) },
    metrics: { sent: (t) => inc('sent', t), failed: (t) => inc('failed', t), dropped: (t, k) => inc('dropped', t, k), queued: () => {} },
    ...AGENT,
  })!;
  return { n, logs, counts };
}

let dir: string;
const open: { close(): Promise<void> }[] = [];
const notifiers: Notifier[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-notify-'));
});
afterAll(async () => {
  for (const n of notifiers) await n.close(0);
  for (const o of open) await o.close();
  await rm(dir, { recursive: true, force: true });
});

async function http(): Promise<HttpReceiver> {
  const r = await startHttpReceiver();
  open.push(r);
  return r;
}

describe('webhook, real HTTP receiver', () => {
  it('POSTs the documented JSON document with the token header from a secret file', async () => {
    const rx = await http();
    await writeFile(join(dir, 'token'), 'Bearer s3cr3t-token\n');
    const { n } = build({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url, BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: join(dir, 'token') });
    notifiers.push(n);
    const b = ban('198.18.7.7');
    n.banned(b);
    await waitFor('the webhook', () => rx.got.length === 1, 10_000);
    const got = rx.got[0]!;
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/hook');
    expect(got.headers.authorization).toBe('Bearer s3cr3t-token');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('banhammer/0.1.0');
    const body = JSON.parse(got.body) as { time: string };
    expect(body).toEqual({ ...payloadOf({ kind: 'ban', ban: b, time: 0 }, { ...AGENT }, 0), time: body.time });
    expect(Date.parse(body.time)).toBeGreaterThanOrEqual(b.at);
    console.log(`captured webhook payload:\n${got.body}`);
  });

  it('retries after HTTP 500 with back-off (1 s, then 2 s) and delivers the same body', async () => {
    const rx = await http();
    rx.script = ['fail', 'fail', 'ok'];
    const { n, logs, counts } = build({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url });
    notifiers.push(n);
    n.banned(ban('198.18.7.8'));
    await waitFor('three attempts', () => rx.got.length === 3, 15_000);
    await waitFor('delivery counted', () => counts.sent!.webhook === 1, 5000);
    expect(rx.got[1]!.body).toBe(rx.got[0]!.body);
    expect(rx.got[2]!.body).toBe(rx.got[0]!.body);
    const gaps = [rx.got[1]!.at - rx.got[0]!.at, rx.got[2]!.at - rx.got[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(900);
    expect(gaps[1]).toBeGreaterThanOrEqual(1900);
    expect(counts.failed!.webhook).toBe(2);
    // One warning for the outage, one line for the recovery.
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(logs.filter((l) => l.level === 'warn')[0]!.obj.reason).toBe('HTTP 500: internal error');
    expect(logs.filter((l) => l.msg?.includes('recovered'))).toHaveLength(1);
  });

  it('a hanging receiver delays nothing: the other target gets every ban at once; the hung one times out, retries, drops and counts', async () => {
    const hung = await http();
    const good = await http();
    hung.script = ['hang', 'hang', 'hang', 'hang'];
    const files = {
      '/c.yaml': `notify:\n  targets:\n    hung: { type: webhook, url: "${hung.url}", timeout: 1s, attempts: 2 }\n    good: { type: webhook, url: "${good.url}" }\n`,
    };
    const { n, counts, logs } = build({ BANHAMMER_CONFIG: '/c.yaml' }, files);
    notifiers.push(n);
    const t0 = Date.now();
    n.banned(ban('198.18.7.9'));
    n.banned(ban('198.18.7.10'));
    const handedOver = Date.now() - t0;
    await waitFor('both bans at the good receiver', () => good.got.length === 2, 10_000);
    expect(hung.got).toHaveLength(1); // still waiting for its first answer
    expect(handedOver).toBeLessThan(1000); // banned() never waits for a receiver (generous bound)
    await waitFor('the hung target gave up its first message', () => (counts.dropped!.hung ?? 0) >= 1, 15_000);
    expect(counts.failed!.hung).toBeGreaterThanOrEqual(2);
    expect(logs.filter((l) => l.level === 'warn' && l.obj.target === 'hung')).toHaveLength(1);
    expect(String(logs.find((l) => l.obj.target === 'hung')!.obj.reason)).toMatch(/no answer within 1000 ms/);
  });

  it('an unreachable receiver: failures counted and logged once', async () => {
    const port = await freePort();
    const { n, counts, logs } = build({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': `notify:\n  targets:\n    gone: { type: webhook, url: "http://127.0.0.1:${port}/x", attempts: 2 }\n` });
    notifiers.push(n);
    n.banned(ban('198.18.7.11'));
    n.banned(ban('198.18.7.12'));
    await waitFor('both dropped', () => (counts.dropped!.gone ?? 0) === 2, 15_000);
    expect(counts.failed!.gone).toBe(4);
    const warns = logs.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.obj.reason)).toMatch(/ECONNREFUSED/);
  });

  it('a ban storm sends one digest per interval, not one message per ban', async () => {
    const rx = await http();
    const { n } = build({ BANHAMMER_NOTIFY_WEBHOOK_URL: rx.url, BANHAMMER_NOTIFY_DIGEST_THRESHOLD: '3', BANHAMMER_NOTIFY_DIGEST_INTERVAL: '10s' });
    notifiers.push(n);
    for (let i = 0; i < 1200; i++) n.banned(ban(`198.18.${40 + (i >> 8)}.${i & 255}`, { rule: i % 4 === 0 ? 'wp-login' : 'forbidden' }));
    await waitFor('three single bans', () => rx.got.length === 3, 10_000);
    await waitFor('the digest', () => rx.got.length === 4, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(rx.got).toHaveLength(4);
    const d = JSON.parse(rx.got[3]!.body) as Record<string, unknown>;
    expect(d).toMatchObject({ version: 1, event: 'digest', bans: 1197, unbans: 0, distinct_addresses: 1197, summary: '1,197 bans in the last 10 seconds on web-1' });
    expect(d.top_rules).toEqual([
      { rule: 'forbidden', count: 898 },
      { rule: 'wp-login', count: 299 },
    ]);
    expect((d.top_addresses as unknown[]).length).toBe(10);
    console.log(`captured digest payload:\n${rx.got[3]!.body}`);
  }, 60_000);

  it('a hostile receiver: an endless 200 answer is delivered at its status line, its body neither read nor waited for; a redirect is not followed and not retried', async () => {
    const hits: string[] = [];
    const server = createServer((req, res) => {
      hits.push(req.url ?? '');
      req.resume();
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/elsewhere' });
        return void res.end();
      }
      // 200 with a body that never ends: the sender must not read (nor wait for) all of it.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({ close: async () => void (server.closeAllConnections(), await new Promise((r) => server.close(r))) });
    const port = (server.address() as AddressInfo).port;
    const { n, counts } = build({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': `notify:\n  targets:\n    flood: { type: webhook, url: "http://127.0.0.1:${port}/flood" }\n    redir: { type: webhook, url: "http://127.0.0.1:${port}/redirect" }\n` });
    notifiers.push(n);
    n.banned(ban('198.18.7.14'));
    await waitFor('flood delivered, redirect dropped', () => counts.sent!.flood === 1 && counts.dropped!.redir === 1, 10_000);
    expect(hits.filter((h) => h === '/redirect')).toHaveLength(1);
    expect(hits).not.toContain('/elsewhere');
    expect(counts.failed!.redir).toBe(1);
  });

  it('presets reach a real receiver in their own format (slack, ntfy)', async () => {
    const rx = await http();
    const files = { '/c.yaml': `notify:\n  targets:\n    s: { type: webhook, preset: slack, url: "${rx.url}" }\n    n: { type: webhook, preset: ntfy, url: "${rx.url}" }\n` };
    const { n } = build({ BANHAMMER_CONFIG: '/c.yaml' }, files);
    notifiers.push(n);
    n.banned(ban('198.18.7.13'));
    await waitFor('two posts', () => rx.got.length === 2, 10_000);
    const slack = rx.got.find((g) => g.headers['content-type'] === 'application/json')!;
    const ntfy = rx.got.find((g) => g.headers['content-type'] !== 'application/json')!;
    expect(Object.keys(JSON.parse(slack.body) as object)).toEqual(['text']);
    expect(ntfy.headers.title).toMatch(/^198\.18\.7\.13 banned by rule forbidden/);
    expect(ntfy.body).toContain(LINE(1));
  });
});

/** A quoted-printable body as a mail reader shows it (soft line breaks joined, =XX decoded as UTF-8). */
function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

const noSmtp = smtpUnavailable();
describe.skipIf(noSmtp !== null)(`email, real SMTP server (aiosmtpd)${noSmtp ? `: ${noSmtp}` : ''}`, () => {
  let cert: string;
  let key: string;
  beforeAll(() => {
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  });

  async function smtp(tls: 'starttls' | 'implicit' | 'none', auth: boolean): Promise<SmtpReceiver> {
    const port = await freePort();
    const r = await startSmtpReceiver({ port, out: join(dir, `mail-${port}.jsonl`), tls, cert, key, ...(auth ? { user: 'alerts', password: 'pa ss' } : {}) });
    open.push(r);
    return r;
  }

  it('STARTTLS (required) with AUTH from a password file: the email carries the matching log lines', async () => {
    const rx = await smtp('starttls', true);
    await writeFile(join(dir, 'smtp-pw'), 'pa ss\n');
    const files = { '/c.yaml': `notify:\n  targets:\n    mail: { type: smtp, url: "smtp://alerts@127.0.0.1:${rx.port}", password_file: ${join(dir, 'smtp-pw')}, ca_file: ${cert}, from: banhammer@example.com, to: [ops@example.com, sec@example.com] }\n` };
    const { n } = build({ BANHAMMER_CONFIG: '/c.yaml' }, files);
    notifiers.push(n);
    const b = ban('198.18.7.20');
    n.banned(b);
    await waitFor('the email', () => rx.messages().length === 1, 15_000);
    const m = rx.messages()[0]!;
    expect(m).toMatchObject({ mail_from: 'banhammer@example.com', rcpt_tos: ['ops@example.com', 'sec@example.com'], tls: true, auth: 'alerts' });
    const unfolded = m.data.replace(/\r\n[ \t]+/g, ' ');
    expect(unfolded).toMatch(/^Subject: \[banhammer\] 198\.18\.7\.20 banned by rule forbidden after 2 failures on web-1, until \S+Z$/m);
    expect(m.data).toMatch(/^Auto-Submitted: auto-generated/m);
    console.log(`captured email:\n${m.data}`);
    expect(unfolded).toMatch(/^Content-Transfer-Encoding: quoted-printable$/m);
    const body = decodeQuotedPrintable(m.data.slice(m.data.indexOf('\r\n\r\n') + 4)).replace(/\r\n/g, '\n');
    expect(body).toContain(`Matching log lines (2):\n/var/log/apache2/access.log: ${LINE(1)}\n/var/log/apache2/access.log: ${LINE(2)}`);
  });

  it('implicit TLS (smtps://) with the password in the URL', async () => {
    const rx = await smtp('implicit', true);
    const { n } = build({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': `notify:\n  targets:\n    mail: { type: smtp, url: "smtps://alerts:pa%20ss@127.0.0.1:${rx.port}", ca_file: ${cert}, from: banhammer@example.com, to: ops@example.com }\n` });
    notifiers.push(n);
    n.banned(ban('198.18.7.21'));
    await waitFor('the email', () => rx.messages().length === 1, 15_000);
    expect(rx.messages()[0]).toMatchObject({ tls: true, auth: 'alerts' });
  });

  it('a server without STARTTLS is refused when STARTTLS is required (never sent in the clear), counted as failed', async () => {
    const rx = await smtp('none', false);
    const { n, counts } = build({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': `notify:\n  targets:\n    mail: { type: smtp, url: "smtp://127.0.0.1:${rx.port}", from: banhammer@example.com, to: ops@example.com, attempts: 1 }\n` });
    notifiers.push(n);
    n.banned(ban('198.18.7.22'));
    await waitFor('dropped', () => (counts.dropped!.mail ?? 0) === 1, 15_000);
    expect(rx.messages()).toHaveLength(0);
    // starttls: off sends to a local relay without TLS.
    const { n: n2 } = build({ BANHAMMER_CONFIG: '/c.yaml' }, { '/c.yaml': `notify:\n  targets:\n    mail: { type: smtp, url: "smtp://127.0.0.1:${rx.port}", starttls: "off", from: banhammer@example.com, to: ops@example.com }\n` });
    notifiers.push(n2);
    n2.banned(ban('198.18.7.23'));
    await waitFor('the email', () => rx.messages().length === 1, 15_000);
    expect(rx.messages()[0]!.tls).toBe(false);
  });
});
