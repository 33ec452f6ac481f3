/**
 * Webhook targets: what is POSTed (the generic JSON document, a preset's body, or the operator's
 * template) and the HTTP request itself.
 *
 * Presets: `generic` (payloadOf's JSON, schema version 1), `slack` (Slack-compatible incoming
 * webhooks: Slack, Mattermost, Rocket.Chat… `{"text": …}` with &, < and > escaped so a log line cannot
 * mention a channel or forge a link), `discord` (`{"content": …}` with mentions disabled, cut to
 * Discord's 2,000 characters) and `ntfy` (plain text to the topic URL, with Title, Tags and
 * Priority headers; cut to ntfy's 4,096-byte message limit).
 *
 * The request: http or https only, no redirects followed, a connect timeout (DNS and TCP/TLS) and an
 * overall deadline (the caller's AbortSignal), an answer read to at most 4 KiB and otherwise
 * discarded. 2xx is delivered; 408, 425, 429 and 5xx are retried (Retry-After honoured, bounded by
 * the caller); other answers (4xx, 3xx) are not retried: the same request would fail again.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
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
const NTFY_MAX_BYTES = 4096;
const RESPONSE_MAX_BYTES = 4096;

/** Slack's own escaping: only &, < and > are control characters in its text. */
const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

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
 * A discord target's rendered JSON template with its `content` cut to Discord's limit, as the
 * preset cuts its own: longer content is answered 400 and dropped, so long log lines would silence
 * every notification of their client. The rendered body is JSON (checked at start for every kind of
 * notice); anything else is sent as it is.
 */
function discordContentCut(rendered: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(rendered);
  } catch {
    return rendered;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return rendered;
  const content = (doc as { content?: unknown }).content;
  if (typeof content !== 'string' || content.length <= DISCORD_MAX) return rendered;
  return JSON.stringify({ ...doc, content: `${cutUnits(content, DISCORD_MAX - 1)}…` });
}

export function renderWebhook(preset: WebhookPreset, n: Notice, agent: AgentInfo, now: number, template?: Template | undefined, contentType?: string | undefined): HttpMessage {
  if (template !== undefined) {
    const rendered = renderTemplate(template, n, agent);
    // ntfy takes at most NTFY_MAX_BYTES as a message (more becomes an attachment, or is refused): a
    // text body is cut like the preset's; a JSON or form body cannot be cut without breaking it.
    const body =
      preset === 'ntfy' && !template.json && template.form !== true ? cutBytes(rendered, NTFY_MAX_BYTES)
      : preset === 'discord' && template.json ? discordContentCut(rendered)
      : rendered;
    return { body, contentType: contentType ?? (template.json ? 'application/json' : 'text/plain; charset=utf-8'), headers: preset === 'ntfy' ? ntfyHeaders(n, agent) : {} };
  }
  switch (preset) {
    case 'generic':
      return { body: JSON.stringify(payloadOf(n, agent, now)), contentType: 'application/json', headers: {} };
    case 'slack':
      return { body: JSON.stringify({ text: chatText(n, agent, slackEscape) }), contentType: 'application/json', headers: {} };
    case 'discord': {
      let content = chatText(n, agent, (s) => s);
      if (content.length > DISCORD_MAX) content = `${cutUnits(content, DISCORD_MAX - 5)}…\n\`\`\``;
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
}

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
      req = (https ? httpsRequest : httpRequest)(t.url, { method: 'POST', headers, signal, agent: false });
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
      const reason = signal.aborted ? 'timed out' : e.code ? `${e.code}: ${e.message}` : e.message;
      done({ ok: false, retry: true, reason: headerSafe(reason, 300) });
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let got = 0;
      let head = '';
      const finish = (): void => {
        if (status >= 200 && status < 300) return done({ ok: true });
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
