/**
 * Email targets through SMTP, with nodemailer (the de-facto SMTP client of Node: maintained since
 * 2010, no runtime dependencies, STARTTLS, implicit TLS, AUTH PLAIN/LOGIN, header encoding and dot
 * stuffing done right). It is loaded only when an SMTP target is configured.
 *
 * `smtp://host[:587]` sends over STARTTLS (required by default; `starttls: opportunistic` uses it
 * when offered, but never logs in without it; `off` never: for a relay on localhost),
 * `smtps://host[:465]` over implicit TLS. The
 * user and password come from the URL or, better, a password file (Docker secrets). Certificates are
 * verified (against `ca_file` when given). One connection per message; connect, greeting and socket
 * timeouts are bounded by the target's connect timeout, the whole exchange by the caller's signal
 * (handed to nodemailer, which ends the connection when it aborts).
 *
 * Where the connection goes: the server's name is resolved by the webhooks' guardedLookup
 * (webhook.ts: a name whose DNS answer holds a link-local/metadata address, or an address of this
 * host itself unless the name is localhost, is refused at every connection, not retried, and nothing
 * is connected to), never by nodemailer's own resolver (which nothing guards, and which caches an
 * answer for 5 minutes). The connection is opened here (net.connect with that lookup: every address
 * of the answer is tried, Happy Eyeballs as Node does it) and handed to nodemailer through its
 * `getSocket` hook; nodemailer still knows the server by its configured NAME (`host`), so implicit
 * TLS and STARTTLS send that name as SNI and verify the certificate against it, never against the
 * address connected to. A server written as an address literally is the operator's choice: no lookup.
 *
 * The body is plain text: the summary, the facts, and the matching log lines (as fail2ban's
 * sendmail-*-lines actions send them). The subject is cleaned of control characters.
 */
import { lookup as dnsLookup } from 'node:dns';
import { connect as netConnect, type Socket } from 'node:net';
import type { SendResult } from './channel.js';
import { clean, summaryOf, textOf, type AgentInfo, type Notice } from './event.js';
import { ADDRESS_REFUSALS, guardedLookup, type Resolver } from './webhook.js';

import type { StarttlsMode } from './kinds.js';

export { STARTTLS_MODES, type StarttlsMode } from './kinds.js';

export interface SmtpTarget {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (smtps://). */
  readonly implicitTls: boolean;
  readonly starttls: StarttlsMode;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly from: string;
  readonly to: readonly string[];
  /** PEM text of the CA(s) to trust instead of the system's. */
  readonly ca?: string | undefined;
  readonly connectTimeoutMs: number;
  readonly subjectPrefix: string;
  /** Name resolution (tests); default dns.lookup. Either way its answer goes through guardedLookup. */
  readonly resolve?: Resolver | undefined;
}

export interface EmailMessage {
  readonly subject: string;
  readonly text: string;
}

export function renderEmail(n: Notice, agent: AgentInfo, prefix: string): EmailMessage {
  return { subject: clean(`${prefix}${summaryOf(n, agent)}`, 200), text: textOf(n, agent) };
}

/** nodemailer's module, loaded once on first use. */
let mailer: Promise<typeof import('nodemailer')> | null = null;

const systemLookup = guardedLookup(dnsLookup as Resolver);

/**
 * Opens the TCP connection to the server (its name resolved by guardedLookup) within
 * `connectTimeoutMs`; ends at once when `signal` aborts. The socket it resolves with is connected and
 * carries no listener of this function's.
 */
function openConnection(t: SmtpTarget, signal: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) return reject(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    const socket = netConnect({ host: t.host, port: t.port, lookup: (t.resolve === undefined ? systemLookup : guardedLookup(t.resolve)) as never });
    const end = (e: Error | null): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', end);
      socket.removeListener('connect', onConnect);
      if (e === null) return resolve(socket);
      socket.destroy();
      reject(e);
    };
    const onConnect = (): void => end(null);
    const onAbort = (): void => end(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    const timer = setTimeout(() => end(Object.assign(new Error(`no connection to ${t.host}:${t.port} within ${t.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), t.connectTimeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', end);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One email; never throws. */
export async function sendEmail(t: SmtpTarget, msg: EmailMessage, signal: AbortSignal): Promise<SendResult> {
  const nm = await (mailer ??= import('nodemailer'));
  const transport = nm.createTransport({
    // The configured name, not the address connected to: SNI and certificate verification use it.
    host: t.host,
    port: t.port,
    // The connection, opened by the guarded lookup (the file's comment); nodemailer resolves nothing.
    getSocket: (_options, callback) => {
      openConnection(t, signal).then(
        (connection) => callback(null, { connection }),
        (e: Error) => callback(e),
      );
    },
    secure: t.implicitTls,
    // Opportunistic TLS may protect a message, never a password: with credentials STARTTLS is required
    // (a server, or someone on the path, that does not offer it would otherwise get the login in the clear).
    requireTLS: !t.implicitTls && (t.starttls === 'required' || (t.starttls === 'opportunistic' && t.user !== undefined)),
    ignoreTLS: !t.implicitTls && t.starttls === 'off',
    ...(t.user !== undefined ? { auth: { user: t.user, pass: t.password ?? '' } } : {}),
    connectionTimeout: t.connectTimeoutMs,
    greetingTimeout: t.connectTimeoutMs,
    socketTimeout: t.connectTimeoutMs * 2,
    tls: { minVersion: 'TLSv1.2', ...(t.ca !== undefined ? { ca: t.ca } : {}) },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const abort = (): void => transport.close();
  signal.addEventListener('abort', abort, { once: true });
  try {
    // The signal ends the exchange itself: transport.close() does not end a send in flight, so a server
    // trickling an endless multi-line reply (each line inside the socket timeout) held the target forever.
    await transport.sendMail({ from: t.from, to: [...t.to], subject: msg.subject, text: msg.text, headers: { 'Auto-Submitted': 'auto-generated' }, signal });
    return { ok: true };
  } catch (e) {
    const err = e as Error & { code?: string; responseCode?: number };
    if (signal.aborted) return { ok: false, retry: true, reason: 'timed out' };
    // A refused DNS answer would be refused again (not retried), and says what to write instead.
    if (err.code !== undefined && ADDRESS_REFUSALS.has(err.code)) return { ok: false, retry: false, reason: clean(err.message, 400) };
    // 5xx answers (bad recipient, refused auth) will not change on retry; 4xx and network errors may.
    const permanent = typeof err.responseCode === 'number' && err.responseCode >= 500;
    return { ok: false, retry: !permanent, reason: clean(`${err.code ? `${err.code}: ` : ''}${err.message}`, 300) };
  } finally {
    signal.removeEventListener('abort', abort);
    transport.close();
  }
}
