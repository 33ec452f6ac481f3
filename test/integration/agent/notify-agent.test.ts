/**
 * Notifications from the real agent (`node bin/banhammer.js run`, iptables enforcer) in a network
 * namespace (fixture.ts): a webhook receiver and an SMTP server (Debian's aiosmtpd) run in the
 * server namespace beside the agent. When a webhook arrives, the receiver asks the kernel (`ipset
 * test`) whether the banned address is already in the agent's set: a ban is announced only once it
 * landed, and an unban only once the address left the set. A third target hangs forever: bans still
 * land at once, the other targets still hear of them, and SIGTERM still stops the agent promptly.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLabUnavailable, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';
import { smtpUnavailable, startSmtpReceiver, type SmtpReceiver } from '../notify/receivers.js';

const { skip: labSkip, mode } = await agentLabUnavailable();
const skip = labSkip ?? smtpUnavailable();
const HOOK_PORT = 18080;
const SMTP_PORT = 18025;

/** The webhook receiver, run inside the server namespace (node -e). */
const RECEIVER = `
const http = require('node:http');
const { execFileSync } = require('node:child_process');
const [port, set4, set6] = process.argv.slice(1);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.url === '/hang') { console.log(JSON.stringify({ path: req.url })); return; }
    let inKernel = null;
    try {
      const j = JSON.parse(body);
      if (typeof j.address === 'string') {
        try { execFileSync('ipset', ['test', j.address.includes(':') ? set6 : set4, j.address], { stdio: 'ignore' }); inKernel = true; } catch { inKernel = false; }
      }
    } catch {}
    console.log(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null, body, inKernel }));
    res.end('ok');
  });
}).listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ ready: true })));
`;

interface Hook {
  path: string;
  auth?: string | null;
  body?: string;
  inKernel?: boolean | null;
  ready?: boolean;
}

describe.skipIf(skip !== null)(`notifications from the live agent (iptables-${mode})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  let receiver: ChildProcess;
  let smtp: SmtpReceiver | undefined;
  const hooks: Hook[] = [];
  const payloads = (event: string): Record<string, unknown>[] =>
    hooks.filter((h) => h.path === '/hook' && h.body).map((h): Record<string, unknown> => ({ ...(JSON.parse(h.body!) as Record<string, unknown>), _inKernel: h.inKernel, _auth: h.auth })).filter((p) => p.event === event);

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    receiver = lab.star.spawnIn(lab.star.server, [process.execPath, '-e', RECEIVER, String(HOOK_PORT), lab.names.sets[4], lab.names.sets[6]]);
    let out = '';
    receiver.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        hooks.push(JSON.parse(out.slice(0, nl)) as Hook);
        out = out.slice(nl + 1);
      }
    });
    await until('webhook receiver', async () => hooks.some((h) => h.ready), (v) => v, 15_000, 50);

    const cert = join(lab.dir, 'smtp-cert.pem');
    const key = join(lab.dir, 'smtp-key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    smtp = await startSmtpReceiver({ port: SMTP_PORT, out: join(lab.dir, 'mail.jsonl'), tls: 'starttls', cert, key, user: 'alerts', password: 'hunter2', prefix: ['ip', 'netns', 'exec', lab.star.server] });

    await writeFile(join(lab.dir, 'hook-token'), 'Bearer tok-123\n');
    await writeFile(join(lab.dir, 'smtp-password'), 'hunter2\n');
    await writeFile(
      join(lab.dir, 'notify.yaml'),
      [
        'notify:',
        '  targets:',
        `    hung: { type: webhook, url: "http://127.0.0.1:${HOOK_PORT}/hang", timeout: 2s, attempts: 2 }`,
        `    mail: { type: smtp, url: "smtp://alerts@127.0.0.1:${SMTP_PORT}", password_file: ${join(lab.dir, 'smtp-password')}, ca_file: ${cert}, from: banhammer@example.com, to: [ops@example.com], events: [ban] }`,
        '',
      ].join('\n'),
    );
    agent = await lab.startAgent({
      BANHAMMER_CONFIG: join(lab.dir, 'notify.yaml'),
      BANHAMMER_NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${HOOK_PORT}/hook`,
      BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE: join(lab.dir, 'hook-token'),
      BANHAMMER_NOTIFY_EVENTS: 'ban,unban',
    });
  });

  afterAll(async () => {
    await smtp?.close();
    await lab?.destroy();
  });

  it('a detected ban is in the kernel set when the webhook arrives; the document carries the log lines', async () => {
    const ip = lab.attacker.v4[0];
    for (let i = 0; i < 6; i++) expect(await lab.curl(lab.attacker, { path: '/forbidden/' })).toBe('403');
    await until('ban webhook', async () => payloads('ban').length, (n) => n >= 1, 15_000, 50);
    const p = payloads('ban')[0]!;
    console.log(`[notify-agent] webhook payload as received:\n${hooks.find((h) => h.path === '/hook')!.body}`);
    expect(p._inKernel).toBe(true);
    expect(p._auth).toBe('Bearer tok-123');
    expect(p).toMatchObject({ version: 1, event: 'ban', address: ip, family: 4, rule: 'forbidden', manual: false, failures: 6, nth: 1, reason: null, container: null, agent: { instance: lab.instance } });
    const ev = p.evidence as { line: string; file: string }[];
    expect(ev).toHaveLength(6);
    for (const e of ev) {
      expect(e.line).toMatch(new RegExp(`^${ip.replace(/\./g, '\\.')} .*"GET /forbidden/ HTTP/1\\.1" 403 `));
      expect(e.file).toBe(lab.accessLog);
    }
    // The agent logged the ban before (or as) it was notified.
    expect(agent.logs.some((l) => l.msg === 'ban' && l.ip === ip)).toBe(true);
  });

  it('the email arrives over STARTTLS with AUTH and lists the matching log lines', async () => {
    await until('the email', async () => smtp!.messages().length, (n) => n >= 1, 20_000, 100);
    const m = smtp!.messages()[0]!;
    console.log(`[notify-agent] email as received:\n${m.data}`);
    expect(m).toMatchObject({ mail_from: 'banhammer@example.com', rcpt_tos: ['ops@example.com'], tls: true, auth: 'alerts' });
    const unfolded = m.data.replace(/\r\n[ \t]+/g, ' ');
    expect(unfolded).toContain(`Subject: [banhammer] ${lab.attacker.v4[0]} banned by rule forbidden after 6 failures on ${lab.instance}`);
    const body = m.data
      .slice(m.data.indexOf('\r\n\r\n') + 4)
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
    expect(body).toContain('Matching log lines (6):');
    expect(body.split('\n').filter((l) => l.startsWith(`${lab.accessLog}: ${lab.attacker.v4[0]} `))).toHaveLength(6);
  });

  it('the hanging target delays nothing: the next ban lands at once and the webhook still hears of it', async () => {
    expect(hooks.some((h) => h.path === '/hang')).toBe(true); // it got the first ban and never answered
    const ip = lab.attacker.v4[1];
    const r = await lab.cli(['ban', ip, '--for', '1h']);
    expect(r.code, r.stderr).toBe(0);
    // The ban is in the kernel when the CLI returns (the control socket answers once it is applied).
    expect((await lab.setEntries(4)).map((e) => e.ip)).toContain(ip);
    await until('manual ban webhook', async () => payloads('ban').filter((p) => p.address === ip).length, (n) => n === 1, 10_000, 50);
    expect(payloads('ban').find((p) => p.address === ip)).toMatchObject({ manual: true, rule: 'manual', _inKernel: true });
  });

  it('an unban is announced once the address left the kernel set', async () => {
    const ip = lab.attacker.v4[1];
    const r = await lab.cli(['unban', ip]);
    expect(r.code, r.stderr).toBe(0);
    await until('unban webhook', async () => payloads('unban').length, (n) => n === 1, 10_000, 50);
    expect(payloads('unban')[0]).toMatchObject({ event: 'unban', address: ip, reason: 'manual', _inKernel: false });
  });

  it('metrics count per target; SIGTERM stops the agent promptly although a receiver hangs', async () => {
    await until('hung target failure counted', () => lab.metric('banhammer_notifications_failed_total', 'target="hung"'), (n) => (n ?? 0) >= 1, 15_000, 200);
    expect(await lab.metric('banhammer_notifications_sent_total', 'target="webhook"')).toBeGreaterThanOrEqual(3);
    expect(await lab.metric('banhammer_notifications_sent_total', 'target="mail"')).toBeGreaterThanOrEqual(1);
    expect(await lab.metric('banhammer_notifications_queued', 'target="webhook"')).toBe(0);
    const t0 = performance.now();
    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    const ms = performance.now() - t0;
    console.log(`[notify-agent] SIGTERM → exit with a hanging receiver: ${ms.toFixed(0)} ms`);
    expect(exit.code).toBe(0);
    expect(ms).toBeLessThan(9000); // the notification flush is bounded (3 s); Docker's grace is 10 s
    expect(agent.logs.some((l) => l.msg === 'banhammer stopped')).toBe(true);
  });
});
