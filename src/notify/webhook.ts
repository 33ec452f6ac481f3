/**
 * Webhook targets: what is POSTed (the generic JSON document, a preset's body, or the operator's
 * template) and the HTTP request itself.
 *
 * Presets: `generic` (payloadOf's JSON, schema version 1), `slack` (Slack-compatible incoming
 * webhooks: Slack, Mattermost, Rocket.Chat… `{"text": …}` with &, < and > escaped and each @
 * followed by a zero-width space, so a log line cannot mention a channel or forge a link; cut to
 * 4,000 characters), `discord` (`{"content": …}` with mentions disabled, cut to Discord's 2,000
 * characters) and `ntfy` (plain text to the topic URL, with Title, Tags and Priority headers; cut to
 * ntfy's 4,096-byte message limit).
 *
 * The request: http or https only, no redirects followed, a connect timeout (DNS and TCP/TLS) and an
 * overall deadline (the caller's AbortSignal). 2xx is delivered as soon as its status line arrives
 * (a body that trickles or never ends does not turn a delivered message into a failure, retried and
 * so received again); any other answer is read to at most 4 KiB (its first 256 bytes quoted in the
 * reason) and otherwise discarded: 408, 425, 429 and 5xx are retried (Retry-After honoured, bounded
 * by the caller); other answers (4xx, 3xx) are not retried: the same request would fail again.
 *
 * Where a host NAME may lead (guardedLookup, for webhooks and SMTP servers alike): the operator wrote
 * the name, but whoever answers for it in DNS did not, and can change the answer at any time
 * (rebinding). So a name is refused, at connect time, every time, when its answer holds
 * - a link-local address (169.254.0.0/16, fe80::/10: where clouds answer with instance metadata and
 *   credentials, fd00:ec2::254 and 100.100.100.200 likewise): the agent must not become a client of
 *   the metadata service whose answer ends up in the log (code BH_ERR_METADATA_ADDRESS);
 * - an address of this host itself: loopback (127.0.0.0/8, ::1) or unspecified (0.0.0.0/8, ::, which
 *   connect to the local host), unless the name is `localhost` or ends in `.localhost` (RFC 6761:
 *   loopback by definition, so the operator meant this host). The agent runs with the host's network
 *   (network_mode: host): such an answer would make it POST log-derived text to Redis, the Docker API
 *   on a TCP port, an admin panel listening on 127.0.0.1 (code BH_ERR_LOCAL_ADDRESS). A receiver on
 *   this host is written as localhost, 127.0.0.1 or [::1];
 * - anything that is not an IP address (a hostile resolver's answer; code BH_ERR_BAD_ADDRESS).
 * Every spelling counts: IPv4-mapped (::ffff:7f00:1), IPv4-compatible (::7f00:1) and NAT64
 * (64:ff9b::7f00:1) forms, upper case, zero-padded groups, a zone suffix. One bad address refuses the
 * whole answer (the connection could use any of them: Happy Eyeballs tries them all), so nothing is
 * connected to; the refusal is not retried (the same answer would come back) and says what to write
 * instead. A URL that names an address literally is the operator's explicit choice: no lookup, it is
 * used, and createNotifier warns at start about a link-local one.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type Socket } from 'node:net';
import type { Clock } from '../clock.js';
import { cutUnits, payloadOf, summaryOf, textOf, type AgentInfo, type Notice } from './event.js';
import { renderTemplate, type Template } from './template.js';
import type { SendResult } from './channel.js';

import type { WebhookPreset } from './kinds.js';

export { WEBHOOK_PRESETS, type WebhookPreset } from './kinds.js';

export interface HttpMessage {
  readonly body: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
}

const DISCORD_MAX = 2000;
/**
 * The slack preset's text: Slack advises at most 4,000 characters (and truncates past 40,000),
 * Rocket.Chat refuses an incoming webhook's message longer than its Message_MaxAllowedSize (5,000 by
 * default, enforced for webhooks since its PR 36163), older Mattermost posts 4,000. Refused means
 * dropped (a 4xx is not retried): a client whose request lines are long (each kept line is up to
 * 2,000 characters) would silence the notification of its own ban.
 */
const SLACK_MAX = 4000;
const NTFY_MAX_BYTES = 4096;
const RESPONSE_MAX_BYTES = 4096;

/**
 * Slack's own escaping (only &, < and > are control characters in its text: no `<!channel>`), and a
 * zero-width space after each @ as the slack template escaping does: Slack-compatible receivers
 * (Mattermost, Rocket.Chat) turn a plain `@channel`, `@all` or `@here` into a mention of everyone,
 * and not all of their versions leave code blocks alone (Rocket.Chat issues 7759 and 16510,
 * Mattermost 7923), so a User-Agent in the log lines' code block could ping a whole channel.
 */
const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '@\u200b');

/** The text of a notice with its log lines in a code block (chat presets). */
function chatText(n: Notice, agent: AgentInfo, esc: (s: string) => string): string {
  const text = textOf(n, agent);
  const [head, ...rest] = text.split('\n');
  // Triple backticks inside a log line would end the block early: break them up.
  const body = rest.join('\n').replace(/```/g, '`\u200b`\u200b`');
  return `*${esc(head ?? '')}*\n\`\`\`\n${esc(body.trim())}\n\`\`\``;
}

function cutBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let t = cutUnits(s, max);
  while (Buffer.byteLength(t) > max - 3) t = cutUnits(t, t.length - 16);
  return `${t}…`;
}

/** ASCII only, no control characters, bounded: safe as an HTTP header value. */
export function headerSafe(s: string, max = 250): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length <= max ? t : `${t.slice(0, max - 3)}...`;
}

/**
 * A discord (slack) target's rendered JSON template with its `content` (`text`) cut to the
 * receiver's limit, as the preset cuts its own: longer content is answered 400 and dropped, so long
 * log lines would silence every notification of their client. The rendered body is JSON (checked at
 * start for every kind of notice); anything else is sent as it is.
 */
function jsonFieldCut(rendered: string, field: 'content' | 'text', max: number): string {
  let doc: unknown;
  try {
    doc = JSON.parse(rendered);
  } catch {
    return rendered;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return rendered;
  const value = (doc as Record<string, unknown>)[field];
  if (typeof value !== 'string' || value.length <= max) return rendered;
  return JSON.stringify({ ...doc, [field]: `${cutUnits(value, max - 1)}…` });
}

/** A chat preset's text (summary, then a code block) cut to `max`, its code block closed. */
const chatCut = (text: string, max: number): string => (text.length <= max ? text : `${cutUnits(text, max - 5)}…\n\`\`\``);

export function renderWebhook(preset: WebhookPreset, n: Notice, agent: AgentInfo, now: number, template?: Template | undefined, contentType?: string | undefined): HttpMessage {
  if (template !== undefined) {
    const rendered = renderTemplate(template, n, agent);
    // ntfy takes at most NTFY_MAX_BYTES as a message (more becomes an attachment, or is refused): a
    // text body is cut like the preset's; a JSON or form body cannot be cut without breaking it.
    const body =
      preset === 'ntfy' && !template.json && template.form !== true ? cutBytes(rendered, NTFY_MAX_BYTES)
      : preset === 'discord' && template.json ? jsonFieldCut(rendered, 'content', DISCORD_MAX)
      : preset === 'slack' && template.json ? jsonFieldCut(rendered, 'text', SLACK_MAX)
      : rendered;
    return { body, contentType: contentType ?? (template.json ? 'application/json' : 'text/plain; charset=utf-8'), headers: preset === 'ntfy' ? ntfyHeaders(n, agent) : {} };
  }
  switch (preset) {
    case 'generic':
      return { body: JSON.stringify(payloadOf(n, agent, now)), contentType: 'application/json', headers: {} };
    case 'slack':
      return { body: JSON.stringify({ text: chatCut(chatText(n, agent, slackEscape), SLACK_MAX) }), contentType: 'application/json', headers: {} };
    case 'discord': {
      const content = chatCut(chatText(n, agent, (s) => s), DISCORD_MAX);
      return { body: JSON.stringify({ content, allowed_mentions: { parse: [] } }), contentType: 'application/json', headers: {} };
    }
    case 'ntfy':
      return { body: cutBytes(textOf(n, agent).split('\n').slice(2).join('\n'), NTFY_MAX_BYTES), contentType: 'text/plain; charset=utf-8', headers: ntfyHeaders(n, agent) };
  }
}

function ntfyHeaders(n: Notice, agent: AgentInfo): Record<string, string> {
  const tag = n.kind === 'ban' ? 'no_entry' : n.kind === 'unban' ? 'white_check_mark' : 'rotating_light';
  return { Title: headerSafe(summaryOf(n, agent)), Tags: `${tag},banhammer`, Priority: n.kind === 'digest' ? '4' : '3' };
}

export interface HttpTarget {
  readonly url: URL;
  /** Extra header (a token), already validated: no CR, LF or other control character. */
  readonly header?: { readonly name: string; readonly value: string } | undefined;
  readonly connectTimeoutMs: number;
  readonly userAgent: string;
  /** Name resolution (tests); default dns.lookup. Either way its answer goes through guardedLookup. */
  readonly resolve?: Resolver | undefined;
}

/** Where clouds serve instance metadata (and credentials): link-local, and two providers' own addresses. */
const METADATA = new BlockList();
METADATA.addSubnet('169.254.0.0', 16, 'ipv4');
METADATA.addSubnet('fe80::', 10, 'ipv6');
METADATA.addAddress('fd00:ec2::254', 'ipv6');
METADATA.addAddress('100.100.100.200', 'ipv4');

/**
 * IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it: NAT64's well-known
 * 64:ff9b::/96 and local-use 64:ff9b:1::/48 (RFC 6052, 8215: a DNS64 resolver synthesizes
 * 64:ff9b::a9fe:a9fe for a name whose only A record is 169.254.169.254, and the NAT64 gateway
 * connects to it), and the deprecated IPv4-compatible ::/96. (IPv4-mapped ::ffff:0:0/96 BlockList
 * checks itself.)
 */
const EMBEDS_V4 = new BlockList();
EMBEDS_V4.addSubnet('64:ff9b::', 96, 'ipv6');
EMBEDS_V4.addSubnet('64:ff9b:1::', 48, 'ipv6');
EMBEDS_V4.addSubnet('::', 96, 'ipv6');

/** The IPv4 address in the last 32 bits of the IPv6 address `a` (valid, no brackets or zone). */
function lastV4(a: string): string {
  const tail = a.slice(a.lastIndexOf(':') + 1);
  if (tail.includes('.')) return tail;
  // The last two groups (an address of EMBEDS_V4 ends in them: `::` cannot stand for its last 32 bits
  // without the whole address being ::/96's own `::` or `::x`, where a missing group is 0).
  const groups = a.split(':');
  const lo = parseInt(groups[groups.length - 1] || '0', 16);
  const hiText = groups.length >= 2 ? groups[groups.length - 2]! : '0';
  const hi = parseInt(hiText === '' ? '0' : hiText, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** `address` without brackets or zone, and its IP version (0: not an IP address). */
function bareAddress(address: string): { a: string; v: number } {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return { a, v: isIP(a) };
}

/** Is `address` (an IP literal; IPv4-mapped, NAT64 and IPv4-compatible IPv6 included) link-local or a cloud's metadata address? */
export function isMetadataAddress(address: string): boolean {
  return inList(METADATA, address);
}

/**
 * Addresses that connect to this host itself: loopback and unspecified ("this host on this network":
 * Linux connects 0.0.0.0 and :: to the local host). IPv4-mapped forms are matched by the IPv4 rules.
 */
const LOCAL_HOST = new BlockList();
LOCAL_HOST.addSubnet('127.0.0.0', 8, 'ipv4');
LOCAL_HOST.addSubnet('0.0.0.0', 8, 'ipv4');
LOCAL_HOST.addAddress('::1', 'ipv6');
LOCAL_HOST.addAddress('::', 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Does `address` (an IP literal; IPv4-mapped, NAT64 and IPv4-compatible IPv6 included) fall in `list`? */
function inList(list: BlockList, address: string): boolean {
  const { a, v } = bareAddress(address);
  if (v === 0) return false;
  if (list.check(a, v === 4 ? 'ipv4' : 'ipv6')) return true;
  return v === 6 && EMBEDS_V4.check(a, 'ipv6') && list.check(lastV4(a), 'ipv4');
}

/** Is `address` (an IP literal, in any of the spellings isMetadataAddress knows) loopback or unspecified: this host itself? */
export const isLocalHostAddress = (address: string): boolean => inList(LOCAL_HOST, address);

/** Is `address` a loopback address (127.0.0.0/8, ::1, in any of those spellings)? */
export const isLoopbackAddress = (address: string): boolean => inList(LOOPBACK, address);

/** `localhost`, `*.localhost` (RFC 6761), with or without the root's dot: names that mean this host. */
export const isLocalhostName = (hostname: string): boolean => /^(?:[^.]+\.)*localhost\.?$/i.test(hostname.replace(/^\[|\]$/g, ''));

/** The error a host name resolving to a metadata address ends its request with (not retried). */
export const METADATA_REFUSED = 'BH_ERR_METADATA_ADDRESS';
/** The error a host name (other than localhost) resolving to a loopback or unspecified address ends its request with (not retried). */
export const LOCAL_REFUSED = 'BH_ERR_LOCAL_ADDRESS';
/** The error a host name whose answer holds something other than an IP address ends its request with (not retried). */
export const BAD_ADDRESS_REFUSED = 'BH_ERR_BAD_ADDRESS';
/** The codes of a refused DNS answer: the same answer would come back, so the message is not retried. */
export const ADDRESS_REFUSALS: ReadonlySet<string> = new Set([METADATA_REFUSED, LOCAL_REFUSED, BAD_ADDRESS_REFUSED]);

/**
 * Why the DNS answer `addresses` for the configured host NAME `hostname` must not be connected to
 * (see the file's comment), or null when every address in it may be. Metadata is looked for first,
 * across the whole answer (the graver finding is the one reported).
 */
export function refusedAnswer(hostname: string, addresses: readonly { readonly address: unknown }[]): NodeJS.ErrnoException | null {
  const name = headerSafe(hostname, 253);
  const refuse = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });
  const quoted = (a: unknown): string => headerSafe(typeof a === 'string' ? a : JSON.stringify(a) ?? String(a), 64);
  const junk = addresses.find((x) => typeof x.address !== 'string' || bareAddress(x.address).v === 0);
  if (junk !== undefined) return refuse(BAD_ADDRESS_REFUSED, `${name} resolves to ${quoted(junk.address)}, which is not an IP address: not connected to`);
  const metadata = addresses.find((x) => isMetadataAddress(x.address as string));
  if (metadata !== undefined) {
    return refuse(METADATA_REFUSED, `${name} resolves to ${quoted(metadata.address)}, a link-local address where clouds serve instance metadata: not connected to (write the address itself into the URL if it really is the receiver)`);
  }
  if (isLocalhostName(hostname)) return null;
  const local = addresses.find((x) => isLocalHostAddress(x.address as string));
  if (local !== undefined) {
    return refuse(LOCAL_REFUSED, `${name} resolves to ${quoted(local.address)}, an address of this host itself (loopback or unspecified): not connected to (a receiver on this host is written as localhost, 127.0.0.1 or [::1] in the URL)`);
  }
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * `resolve` (dns.lookup) for net.connect's `lookup` option, refusing a name whose answer holds an
 * address it must not lead to (refusedAnswer, the file's comment). Always asks for every address
 * (`all: true`) whatever the caller wants, so the check sees all the resolver said; answers an
 * `all: true` caller (Happy Eyeballs, autoSelectFamily) with all of them, an `all: false` caller with
 * the first. Each address's family is the one its text has, not the one the resolver claimed.
 */
export const guardedLookup = (resolve: Resolver) => (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
  let answered = false;
  const answer: LookupCallback = (err, address, family) => {
    // A resolver calling back twice (a fake, a hostile wrapper) gets one answer through.
    if (answered) return;
    answered = true;
    callback(err, address, family);
  };
  const fail = (e: NodeJS.ErrnoException): void => answer(e, options.all === true ? [] : '', 0);
  try {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return fail(err);
      const list: readonly { readonly address: unknown }[] = Array.isArray(addresses) ? addresses : [];
      const refused = refusedAnswer(hostname, list);
      if (refused !== null) return fail(refused);
      // Brackets and a zone dropped (a zone only matters on link-local addresses, refused above).
      const good: LookupAddress[] = list.map((x) => {
        const { a, v } = bareAddress(x.address as string);
        return { address: a, family: v };
      });
      if (good.length === 0) return fail(Object.assign(new Error(`${headerSafe(hostname, 253)} has no address`), { code: 'ENOTFOUND' }));
      if (options.all === true) return answer(null, good);
      answer(null, good[0]!.address, good[0]!.family);
    });
  } catch (e) {
    fail(e as NodeJS.ErrnoException);
  }
};

const systemLookup = guardedLookup(dnsLookup as Resolver);

/** Retry-After in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(v: string | string[] | undefined, now: number): number | undefined {
  if (typeof v !== 'string') return undefined;
  if (/^\d{1,9}$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

/** One POST; never throws. Aborting `signal` ends it at once (the overall deadline, shutdown). */
export function postWebhook(t: HttpTarget, msg: HttpMessage, signal: AbortSignal, clock: Clock): Promise<SendResult> {
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    let connectTimer: ReturnType<Clock['setTimeout']> | null = null;
    const done = (r: SendResult): void => {
      if (settled) return;
      settled = true;
      if (connectTimer !== null) clock.clearTimeout(connectTimer);
      resolve(r);
    };
    if (signal.aborted) return done({ ok: false, retry: true, reason: 'timed out' });
    const body = Buffer.from(msg.body, 'utf8');
    const headers: Record<string, string> = {
      'content-type': msg.contentType,
      'content-length': String(body.length),
      'user-agent': t.userAgent,
      ...msg.headers,
    };
    if (t.header !== undefined) headers[t.header.name] = t.header.value;
    const https = t.url.protocol === 'https:';
    let req;
    try {
      req = (https ? httpsRequest : httpRequest)(t.url, { method: 'POST', headers, signal, agent: false, lookup: (t.resolve === undefined ? systemLookup : guardedLookup(t.resolve)) as never });
    } catch (e) {
      return done({ ok: false, retry: false, reason: `request refused: ${(e as Error).message}` });
    }
    req.on('socket', (s: Socket) => {
      if (!s.connecting) return;
      connectTimer = clock.setTimeout(() => req.destroy(new Error(`no connection within ${t.connectTimeoutMs} ms`)), t.connectTimeoutMs);
      s.once(https ? 'secureConnect' : 'connect', () => {
        if (connectTimer !== null) clock.clearTimeout(connectTimer);
        connectTimer = null;
      });
    });
    req.on('error', (e: Error & { code?: string }) => {
      const refused = e.code !== undefined && ADDRESS_REFUSALS.has(e.code);
      const reason = signal.aborted ? 'timed out' : refused ? e.message : e.code ? `${e.code}: ${e.message}` : e.message;
      done({ ok: false, retry: !refused, reason: headerSafe(reason, 400) });
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        // Delivered: the receiver has said so. Its body (if any) is not waited for.
        done({ ok: true });
        res.destroy();
        return;
      }
      let got = 0;
      let head = '';
      const finish = (): void => {
        const retry = status === 408 || status === 425 || status === 429 || status >= 500;
        const after = retryAfterMs(res.headers['retry-after'], clock.now());
        const why = `HTTP ${status}${head.trim() !== '' ? `: ${headerSafe(head.trim(), 200)}` : ''}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
        done({ ok: false, retry, reason: why, ...(after !== undefined ? { retryAfterMs: after } : {}) });
      };
      res.on('data', (c: Buffer) => {
        if (got < 256) head += c.subarray(0, 256 - got).toString('utf8');
        got += c.length;
        if (got > RESPONSE_MAX_BYTES) {
          finish();
          res.destroy();
        }
      });
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    req.end(body);
  });
}
