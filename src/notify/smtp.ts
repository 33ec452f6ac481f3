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
 * The body is plain text: the summary, the facts, and the matching log lines (as fail2ban's
 * sendmail-*-lines actions send them). The subject is cleaned of control characters.
 */
import type { SendResult } from './channel.js';
import { clean, summaryOf, textOf, type AgentInfo, type Notice } from './event.js';

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

/** One email; never throws. */
export async function sendEmail(t: SmtpTarget, msg: EmailMessage, signal: AbortSignal): Promise<SendResult> {
  const nm = await (mailer ??= import('nodemailer'));
  const transport = nm.createTransport({
    host: t.host,
    port: t.port,
    secure: t.implicitTls,
    // Opportunistic TLS may protect a message, never a password: with credentials STARTTLS is required
    // (a server, or someone on the path, that does not offer it would otherwise get the login in the clear).
    requireTLS: !t.implicitTls && (t.starttls === 'required' || (t.starttls === 'opportunistic' && t.user !== undefined)),
    ignoreTLS: !t.implicitTls && t.starttls === 'off',
    ...(t.user !== undefined ? { auth: { user: t.user, pass: t.password ?? '' } } : {}),
    connectionTimeout: t.connectTimeoutMs,
    greetingTimeout: t.connectTimeoutMs,
    socketTimeout: t.connectTimeoutMs * 2,
    dnsTimeout: t.connectTimeoutMs,
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
    // 5xx answers (bad recipient, refused auth) will not change on retry; 4xx and network errors may.
    const permanent = typeof err.responseCode === 'number' && err.responseCode >= 500;
    return { ok: false, retry: !permanent, reason: clean(`${err.code ? `${err.code}: ` : ''}${err.message}`, 300) };
  } finally {
    signal.removeEventListener('abort', abort);
    transport.close();
  }
}
