/**
 * The inside of ssrf-smtp-rebinding.test.ts: run (with tsx) inside a throw-away network namespace
 * whose /etc/hosts is the test's (bind-mounted over it in the namespace's own mount namespace), so
 * the system resolver (getaddrinfo, files first) answers the test's names: nothing is faked between
 * the SMTP target's configuration and the kernel.
 *
 * In the namespace: lo carries 127.0.0.1, ::1 and 198.18.0.25 (a "remote" mail server's address).
 * A TCP listener on every address (port `counter`) counts each connection it is offered: a local
 * service the agent must not be turned against. Two aiosmtpd recorders (STARTTLS and implicit TLS,
 * a certificate for DNS:mail.banhammer.test only, no IP in it) listen on 127.0.0.1 (the recorder's
 * own choice) behind a byte-for-byte TCP relay on 198.18.0.25, so TLS runs end to end between
 * banhammer and aiosmtpd.
 *
 * Each case builds its sender from a configuration (loadConfig, the notifier's buildSender, the
 * production SMTP sender) and sends one notice; the results and the connection counts are printed as
 * one JSON line after `RESULT `.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import type { Notice } from '../../../src/notify/event.js';
import { buildSender } from '../../../src/notify/notifier.js';
import { configuredTargets } from '../../../src/notify/targets-config.js';
import { systemClock } from '../../../src/clock.js';
import { freePort, startSmtpReceiver, type SmtpReceiver } from './receivers.js';

interface LabArgs {
  readonly cert: string;
  readonly key: string;
  readonly dir: string;
  readonly remote: string;
}

export interface LabCase {
  readonly name: string;
  readonly url: string;
  readonly starttls?: 'required' | 'opportunistic' | 'off';
  readonly ca?: boolean;
}

export interface LabOutcome {
  readonly name: string;
  readonly ok: boolean;
  readonly retry?: boolean;
  readonly reason?: string;
  /** Connections the counting listener had been offered once this case was over (cumulative). */
  readonly counted: number;
  /** Emails the two recorders hold once this case was over (cumulative). */
  readonly delivered: number;
  readonly tlsDelivered: number;
}

const args = JSON.parse(process.argv[2]!) as LabArgs;
const servers: Server[] = [];
const sockets = new Set<Socket>();

async function listen(server: Server, port: number, host: string, extra: { ipv6Only?: boolean } = {}): Promise<void> {
  servers.push(server);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ...extra }, () => resolve());
  });
}

/** Relays every connection to `remote:port` on to `127.0.0.1:port`, byte for byte. */
async function relay(port: number): Promise<void> {
  await listen(
    createServer((inbound) => {
      const out = connect({ host: '127.0.0.1', port });
      sockets.add(out);
      out.on('close', () => sockets.delete(out));
      out.on('error', () => inbound.destroy());
      inbound.on('error', () => out.destroy());
      inbound.pipe(out).pipe(inbound);
    }),
    port,
    args.remote,
  );
}

async function main(): Promise<void> {
  let counted = 0;
  const counter = createServer((s) => {
    counted++;
    // A local service's greeting: had the agent been let in, it would have carried on.
    s.end('220 local service\r\n');
  });
  const counterPort = await freePort();
  await listen(counter, counterPort, '::', { ipv6Only: false });

  const receivers: SmtpReceiver[] = [];
  const rx = async (tls: 'starttls' | 'implicit'): Promise<SmtpReceiver> => {
    const port = await freePort();
    const r = await startSmtpReceiver({ port, out: join(args.dir, `lab-${tls}-${port}.jsonl`), tls, cert: args.cert, key: args.key });
    receivers.push(r);
    await relay(port);
    return r;
  };
  const starttls = await rx('starttls');
  const implicit = await rx('implicit');
  const delivered = (): number => receivers.reduce((n, r) => n + r.messages().length, 0);
  const tlsDelivered = (): number => receivers.reduce((n, r) => n + r.messages().filter((m) => m.tls).length, 0);

  const ports = { counter: counterPort, starttls: starttls.port, implicit: implicit.port };
  const cases = (JSON.parse(process.argv[3]!) as LabCase[]).map((c) => ({ ...c, url: c.url.replace(/\{(\w+)\}/g, (_m, k: string) => String(ports[k as keyof typeof ports])) }));

  const notice: Notice = { kind: 'ban', ban: { ip: '198.18.7.30', family: 4, rule: 'forbidden', at: Date.now(), until: Date.now() + 60_000, failures: 2, nth: 1, manual: false }, time: Date.now() };
  const agent = { instance: 'web-1', host: 'lab', version: '0.1.0' };
  const out: LabOutcome[] = [];
  try {
    for (const c of cases) {
      const yaml = `notify:\n  targets:\n    mail: { type: smtp, url: "${c.url}", starttls: "${c.starttls ?? 'required'}", connect_timeout: 3s, attempts: 1, from: banhammer@example.com, to: ops@example.com${c.ca === true ? `, ca_file: ${args.cert}` : ''} }\n`;
      const config = loadConfig({ env: { BANHAMMER_CONFIG: '/lab.yaml' }, hostname: 'lab', readFile: (p) => (p === '/lab.yaml' ? yaml : readFileSync(p, 'utf8')) });
      const target = configuredTargets(config.notify).targets.mail!;
      const send = buildSender('mail', target, agent, systemClock, (p) => readFileSync(p, 'utf8'));
      const r = await send(notice, AbortSignal.timeout(10_000));
      // Time for a late connection (had one been started) to reach the listener before counting.
      await new Promise((res) => setTimeout(res, 100));
      out.push({ name: c.name, ok: r.ok, ...(r.ok ? {} : { retry: r.retry, reason: r.reason }), counted, delivered: delivered(), tlsDelivered: tlsDelivered() });
    }
  } finally {
    for (const r of receivers) await r.close();
    for (const s of sockets) s.destroy();
    for (const s of servers) await new Promise((res) => s.close(res));
  }
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`lab failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
