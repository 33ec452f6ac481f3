/**
 * Notifications: the stage after enforcement. The daemon calls banned() once the enforcer holds a
 * ban (never before: the kernel has it when the receiver hears of it) and unbanned() once a lifted
 * ban was handed to the enforcer; each event goes to every target that wants it.
 *
 * Contract:
 * - banned()/unbanned() never throw, never wait and never touch the network: they hand the event to
 *   each target's Channel (digest, bounded queue, retries: src/notify/channel.ts) and return. A
 *   receiver that hangs, fails or vanishes changes nothing for enforcement.
 * - Bans another replica of the group made (Ban.from) are not notified here, nor their end: the
 *   replica that made a ban tells of it and of its end, whichever replica lifted it (one message per
 *   ban, not one per replica).
 * - close(budgetMs): sends the open digests and tries what is queued for at most budgetMs, then
 *   drops the rest (counted, logged once per target).
 * - Targets are built once, at start (createNotifier): secret files (`*_file`) are read then; an
 *   unreadable or empty one, or a template that cannot render, stops the start with a clear error.
 *   A target URL that is allowed but likely a mistake is warned about once, at start (webhookWarnings):
 *   a link-local (cloud metadata) or unspecified (0.0.0.0, [::]) address written into it, or
 *   credentials (user:password in the URL, a token) sent over plain http:// to another machine; an
 *   SMTP server written as an IPv4 shorthand (resolved as a name), an SMTP login with `starttls: off`
 *   to another machine (smtpWarnings). Where a host NAME may lead is decided at every connection
 *   (webhook.ts, guardedLookup), not here.
 */
import { MAX_SECRET_BYTES, readRegularFileSync } from '../fs/read-regular.js';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Clock } from '../clock.js';
import type { Ban } from '../decide/ban-book.js';
import { BanhammerError } from '../errors.js';
import type { UnbanReason } from '../metrics/registry.js';
import { Channel, type ChannelLog, type ChannelMetrics, type Sender } from './channel.js';
import type { AgentInfo, BanNotice, NotifyEventKind } from './event.js';
import type { NotifyConfig } from './settings.js';
import { renderEmail, sendEmail, type SmtpTarget } from './smtp.js';
import { HEADER_VALUE_RE, smtpUrlProblem, webhookUrlProblem, type NotifyTarget } from './target-schema.js';
import { configuredTargets } from './targets-config.js';
import { sampleNotices, templateOf, templateProblem } from './template.js';
import { isLocalHostAddress, isLoopbackAddress, isMetadataAddress, postWebhook, renderWebhook, type HttpTarget } from './webhook.js';

/** What the daemon sees of the notifier. */
export interface NotifySink {
  banned(ban: Ban): void;
  unbanned(ban: Ban, reason: UnbanReason): void;
  close(budgetMs: number): Promise<void>;
}

/** Retry back-off: 1 s, 2 s, 4 s… at most 60 s. */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;

export interface NotifierTarget {
  readonly name: string;
  readonly events: ReadonlySet<NotifyEventKind>;
  readonly channel: Channel;
}

export class Notifier implements NotifySink {
  constructor(
    private readonly targets: readonly NotifierTarget[],
    private readonly clock: Clock,
  ) {}

  get names(): string[] {
    return this.targets.map((t) => t.name);
  }

  banned(ban: Ban): void {
    if (ban.from !== undefined) return;
    this.offer({ kind: 'ban', ban, time: this.clock.now() });
  }

  unbanned(ban: Ban, reason: UnbanReason): void {
    // The replica that made the ban tells of its end too, whichever replica lifted it (reason group).
    if (ban.from !== undefined) return;
    this.offer({ kind: 'unban', ban, reason, time: this.clock.now() });
  }

  private offer(n: BanNotice): void {
    for (const t of this.targets) {
      if (!t.events.has(n.kind)) continue;
      try {
        t.channel.offer(n);
      } catch {
        // A channel only counts and appends; nothing it does may reach the daemon.
      }
    }
  }

  async close(budgetMs: number): Promise<void> {
    const deadline = this.clock.now() + budgetMs;
    await Promise.all(this.targets.map((t) => t.channel.close(deadline)));
  }
}

export interface NotifierDeps {
  readonly clock: Clock;
  readonly log: ChannelLog;
  readonly metrics?: ChannelMetrics | undefined;
  readonly instance: string;
  readonly version: string;
  readonly host?: string;
  /** Reads a secret file (default: a regular file of at most MAX_SECRET_BYTES, fs/read-regular.ts). */
  readonly readFile?: (path: string) => string;
}

/** A secret from a file: one trailing newline dropped; empty, unreadable or huge is an error. */
export function readSecret(path: string, what: string, read: (p: string) => string): string {
  let s: string;
  try {
    s = read(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EFBIG') throw new BanhammerError('BH_ERR_FILE', `${what} in ${path} is longer than ${MAX_SECRET_BYTES} bytes`, { data: { path } });
    throw new BanhammerError('BH_ERR_FILE', `cannot read ${what} from ${path}: ${(e as Error).message}`, { hint: 'mount the secret file, or unset the *_FILE setting', data: { path } });
  }
  if (s.length > MAX_SECRET_BYTES) throw new BanhammerError('BH_ERR_FILE', `${what} in ${path} is longer than ${MAX_SECRET_BYTES} bytes`, { data: { path } });
  s = s.replace(/\r?\n$/, '');
  if (s.trim() === '') throw new BanhammerError('BH_ERR_FILE', `${what} file ${path} is empty`, { hint: 'write the secret into the file', data: { path } });
  return s;
}

const configError = (target: string, message: string): BanhammerError =>
  new BanhammerError('BH_ERR_CONFIG', `notification target ${target}: ${message}`, { data: { target } });

export { templateOf } from './template.js';

/** Builds the sender of one target (secrets read now). */
export function buildSender(name: string, t: NotifyTarget, agent: AgentInfo, clock: Clock, read: (p: string) => string, warn: (msg: string) => void = () => {}): Sender {
  const url = t.url ?? readSecret(t.urlFile!, `the URL of notification target ${name}`, read).trim();
  if (t.type === 'webhook') {
    const why = webhookUrlProblem(url);
    if (why !== null) throw configError(name, `${t.urlFile ?? 'url'}: ${why}`);
    let header: HttpTarget['header'];
    const token = t.token ?? (t.tokenFile !== null ? readSecret(t.tokenFile, `the token of notification target ${name}`, read) : null);
    if (token !== null) {
      if (!HEADER_VALUE_RE.test(token)) throw configError(name, `the token${t.tokenFile !== null ? ` in ${t.tokenFile}` : ''} holds a character a header cannot carry (CR, LF, control or non-ASCII)`);
      header = { name: t.header ?? 'Authorization', value: token };
    }
    const template = templateOf(t);
    if (template !== undefined) {
      const why2 = templateProblem(template.source, template.json, sampleNotices(clock.now()), agent);
      if (why2 !== null) throw configError(name, `template: ${why2}`);
    }
    const target: HttpTarget = { url: new URL(url), header, connectTimeoutMs: t.connectTimeoutMs, userAgent: `banhammer/${agent.version}` };
    for (const w of webhookWarnings(name, target.url, header !== undefined)) warn(w);
    const preset = t.preset;
    const contentType = t.contentType ?? undefined;
    return (n, signal) => postWebhook(target, renderWebhook(preset, n, agent, clock.now(), template, contentType), signal, clock);
  }
  const why = smtpUrlProblem(url);
  if (why !== null) throw configError(name, `${t.urlFile ?? 'url'}: ${why}`);
  const u = new URL(url);
  const implicitTls = u.protocol === 'smtps:';
  const password = t.passwordFile !== null ? readSecret(t.passwordFile, `the SMTP password of notification target ${name}`, read) : u.password !== '' ? decodeURIComponent(u.password) : undefined;
  const user = u.username !== '' ? decodeURIComponent(u.username) : undefined;
  if (password !== undefined && user === undefined) throw configError(name, 'a password without a user: write the user into the URL, smtp://user@host');
  const ca = t.caFile !== null ? readSecret(t.caFile, `the CA certificates of notification target ${name}`, read) : undefined;
  for (const w of smtpWarnings(name, u, t.starttls, user !== undefined)) warn(w);
  const smtp: SmtpTarget = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port !== '' ? Number(u.port) : implicitTls ? 465 : 587,
    implicitTls,
    starttls: t.starttls,
    user,
    password,
    from: t.from!,
    to: t.to,
    ca,
    connectTimeoutMs: t.connectTimeoutMs,
    subjectPrefix: '[banhammer] ',
  };
  return (n, signal) => sendEmail(smtp, renderEmail(n, agent, smtp.subjectPrefix), signal);
}

/** Loopback hosts, where plain http:// does not cross a network. */
const isLoopbackHost = (host: string): boolean => /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i.test(host);

/**
 * An unspecified address written into a URL (0.0.0.0, [::], ::ffff:0.0.0.0): used as configured (the
 * kernel connects it to this host itself), but a listening address copied into a client's setting is
 * more likely a mistake than a choice; loopback literals are the documented way to reach this host.
 */
const isUnspecifiedLiteral = (host: string): boolean => isLocalHostAddress(host) && !isLoopbackAddress(host);

/**
 * An SMTP server written as an IPv4 address in a shorthand (127.1, 0x7f000001, 2130706433, 0251.0376…,
 * or with a leading zero, 010.0.0.1, which the C library reads as octal: 8.0.0.1):
 * smtp:// URLs are not normalised as http:// URLs are, so it is resolved as a name (the C library
 * reads it as an address) and goes through the same check as any name: refused when it leads to this
 * host or a link-local address.
 */
const isIpv4Shorthand = (host: string): boolean => /^(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}\.?$/i.test(host) && isIP(host) === 0;

/**
 * What is worth a warning about a webhook target's URL (allowed, but likely a mistake): a link-local
 * address (169.254.169.254 and its kin: a cloud's metadata service answers there, not a receiver), an
 * unspecified one (0.0.0.0, [::]: this host itself), credentials sent in the clear over http:// to
 * another machine. Never quotes the URL (it may be the secret).
 */
export function webhookWarnings(name: string, url: URL, hasToken: boolean): string[] {
  const out: string[] = [];
  if (isMetadataAddress(url.hostname)) {
    out.push(`notification target ${name}: its URL names ${url.hostname}, a link-local address where clouds serve instance metadata and credentials; notifications are POSTed there as configured, check that this is the receiver you meant`);
  }
  if (isUnspecifiedLiteral(url.hostname)) {
    out.push(`notification target ${name}: its URL names ${url.hostname}, an unspecified address that connects to this host itself; notifications are POSTed there as configured, but a receiver on this host is written as localhost or 127.0.0.1`);
  }
  const creds = [url.username !== '' || url.password !== '' ? 'a user and password in the URL' : '', hasToken ? 'its token' : ''].filter((s) => s !== '');
  if (url.protocol === 'http:' && creds.length > 0 && !isLoopbackHost(url.hostname)) {
    out.push(`notification target ${name}: ${creds.join(' and ')} ${creds.length === 1 && hasToken ? 'goes' : 'go'} over plain http:// to ${url.hostname}, readable by anyone on the path; use https://`);
  }
  return out;
}

/**
 * The same for an SMTP target: a link-local or unspecified address as its server, an IPv4 address in
 * a shorthand (resolved as a name: webhook.ts's guard decides where it may lead), or a login over
 * smtp:// with `starttls: off` to another machine (nodemailer then sends AUTH, the password, in the clear).
 */
export function smtpWarnings(name: string, url: URL, starttls: NotifyTarget['starttls'], hasLogin: boolean): string[] {
  const out: string[] = [];
  if (isMetadataAddress(url.hostname)) {
    out.push(`notification target ${name}: its server ${url.hostname} is a link-local address where clouds serve instance metadata; check that this is the mail server you meant`);
  }
  if (isUnspecifiedLiteral(url.hostname)) {
    out.push(`notification target ${name}: its server ${url.hostname} is an unspecified address that connects to this host itself; a relay on this host is written as localhost or 127.0.0.1`);
  } else if (isIpv4Shorthand(url.hostname)) {
    out.push(`notification target ${name}: its server ${url.hostname} is an IPv4 address in a shorthand, which an smtp:// URL leaves as it is: it is resolved as a name, and refused when it leads to this host or to a link-local address; write the address in full (e.g. 127.0.0.1, or localhost)`);
  }
  if (url.protocol === 'smtp:' && starttls === 'off' && hasLogin && !isLoopbackHost(url.hostname)) {
    out.push(`notification target ${name}: it logs in to ${url.hostname} with starttls: off, so the password goes over the network in the clear; use starttls: required (or smtps://)`);
  }
  return out;
}

/** The notifier for this configuration, or null when it names no target. */
export function createNotifier(config: NotifyConfig, deps: NotifierDeps): Notifier | null {
  const { targets, problems } = configuredTargets(config);
  if (problems.length > 0) throw configError(Object.keys(targets)[0] ?? 'notify', problems.map((p) => `${p.key}: ${p.message}`).join('; '));
  const names = Object.keys(targets);
  if (names.length === 0) return null;
  const agent: AgentInfo = { instance: deps.instance, host: deps.host ?? hostname(), version: deps.version };
  const read = deps.readFile ?? ((p: string) => readRegularFileSync(p, MAX_SECRET_BYTES));
  const built: NotifierTarget[] = names.map((name) => {
    const t = targets[name]!;
    return {
      name,
      events: new Set(t.events ?? config.events),
      channel: new Channel({
        name,
        send: buildSender(name, t, agent, deps.clock, read, (msg) => deps.log.warn({ target: name }, msg)),
        clock: deps.clock,
        log: deps.log,
        metrics: deps.metrics,
        queueSize: t.queueSize,
        attempts: t.attempts,
        backoffMs: BACKOFF_BASE_MS,
        maxBackoffMs: BACKOFF_MAX_MS,
        timeoutMs: t.timeoutMs,
        digestThreshold: config.digestThreshold,
        digestIntervalMs: config.digestInterval,
      }),
    };
  });
  return new Notifier(built, deps.clock);
}
