/**
 * Webhook body templates that a hostile value cannot subvert.
 *
 * A template is text with placeholders `{{field}}` (spaces inside the braces allowed), where field is
 * one of TEMPLATE_FIELDS; nothing else is interpreted: no expressions, no helpers, no loops, no
 * lookups outside that list, no code. An unknown field is a configuration error. Values are escaped
 * for the body's content type: in a JSON body each value is written as the inside of a JSON string
 * (quotes, backslashes and control characters escaped), so a log line cannot end the string it sits
 * in; the template must put string fields inside quotes, and validateTemplate proves the result is
 * JSON for every kind of notice before the agent starts. In a text body control characters (other
 * than newline and tab) are removed. In a form body (application/x-www-form-urlencoded, as Pushover
 * or Twilio take) each value is also percent-encoded, so a log line cannot add or override a
 * parameter with `&priority=2` or `&url=…`. In an HTML or XML body (a content type naming html or
 * xml) `&`, `<`, `>`, `"` and `'` in values are written as entities, so a log line cannot add markup
 * or a link. For the slack preset, `&`, `<` and `>` in values are written as Slack's entities (as
 * the preset does), so a log line cannot `<!channel>` or forge a link, and each `@` is followed by a
 * zero-width space: Slack-compatible receivers (Mattermost, Rocket.Chat) ping a whole channel for a
 * plain `@channel`, `@all` or `@here`; for the discord preset each `@` in a value is followed by a
 * zero-width space, so `@everyone` or `<@&role>` in a log line pings no one (the preset's own body
 * disables mentions instead). For both, a `]` before `(` is followed by a zero-width space, so a log
 * line cannot make a Markdown link `[Unban me](https://…)` whose text hides where it goes.
 */
import { formatTime, formatUntil } from '../format-time.js';
import { clean, evidenceOf, summaryOf, textOf, type AgentInfo, type Notice } from './event.js';
import type { NotifyTarget } from './target-schema.js';

/** Every field a template may name, with what it holds (the README lists these). */
export const TEMPLATE_FIELDS = {
  version: 'schema version (1)',
  event: 'ban, unban or digest',
  time: 'when it happened (ISO 8601)',
  address: 'the banned address (empty in a digest)',
  family: '4 or 6 (0 in a digest)',
  rule: 'the rule (empty in a digest)',
  container: 'host mode: the container’s name (empty otherwise)',
  container_id: 'host mode: the container’s id (empty otherwise)',
  banned_at: 'when the ban started (ISO 8601; empty in a digest)',
  until: 'when it ends (ISO 8601, or permanent; empty in a digest)',
  failures: 'failures that caused the ban (a number; 0 in a digest)',
  nth: '1 for a first ban, 2 for the next… (0 in a digest)',
  reason: 'unbans: expired, manual, all, allowlisted, group or cap (empty otherwise)',
  evidence: 'the matching log lines, one per line',
  bans: 'digest: bans in the interval (a number; 1 or 0 otherwise)',
  unbans: 'digest: unbans in the interval (a number; 1 or 0 otherwise)',
  instance: 'this agent’s instance name',
  host: 'this agent’s host name',
  summary: 'one line for people',
  text: 'the whole plain-text message (summary, facts, log lines)',
} as const;
export type TemplateField = keyof typeof TEMPLATE_FIELDS;

/** Fields that always render as a number (may stand outside quotes in a JSON template). */
const NUMERIC: ReadonlySet<TemplateField> = new Set(['version', 'family', 'failures', 'nth', 'bans', 'unbans']);

export const MAX_TEMPLATE_CHARS = 16_384;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]{1,40})\s*\}\}/g;

export interface Template {
  readonly source: string;
  readonly json: boolean;
  /** Not JSON: an application/x-www-form-urlencoded body, each value percent-encoded. */
  readonly form?: boolean | undefined;
  /** Not JSON: an HTML or XML body, markup characters in values as entities. */
  readonly markup?: boolean | undefined;
  /** Values go into Slack's mrkdwn (the slack preset): &, < and > as entities, no @mention. */
  readonly slack?: boolean | undefined;
  /** Values go into a Discord message (the discord preset): a zero-width space after each @, so no mention pings. */
  readonly discord?: boolean | undefined;
}

/** Does a content type say the body is a form (application/x-www-form-urlencoded)? */
export const isFormContentType = (contentType: string | null | undefined): boolean => contentType !== null && contentType !== undefined && /x-www-form-urlencoded/i.test(contentType);

/** Does a content type say the body is HTML or XML (text/html, application/xhtml+xml, text/xml…)? */
export const isMarkupContentType = (contentType: string | null | undefined): boolean => contentType !== null && contentType !== undefined && /html|xml/i.test(contentType);

/**
 * A webhook target's template and how its values are escaped: JSON (content type with json, or a
 * template starting with { or [), a form (application/x-www-form-urlencoded: percent-encoded), HTML
 * or XML (markup characters as entities), or text; for the slack preset also Slack's &, <, > entities, for discord no @mention.
 */
export function templateOf(t: Pick<NotifyTarget, 'template' | 'contentType' | 'preset'>): Template | undefined {
  if (t.template === null) return undefined;
  // JSON when it opens with [ or { (not a {{field}}: a text template may start with one).
  const json = t.contentType === null ? /^\s*(?:\[|\{(?!\{))/.test(t.template) : /json/i.test(t.contentType);
  return { source: t.template, json, form: !json && isFormContentType(t.contentType), markup: !json && isMarkupContentType(t.contentType), slack: t.preset === 'slack', discord: t.preset === 'discord' };
}

/** Field values of a notice, as strings (numbers as digits). */
export function templateValues(n: Notice, agent: AgentInfo): Record<TemplateField, string> {
  const base = { version: '1', instance: agent.instance, host: agent.host, summary: summaryOf(n, agent), text: textOf(n, agent) };
  if (n.kind === 'digest') {
    return {
      ...base,
      event: 'digest',
      time: formatTime(n.to),
      address: '',
      family: '0',
      rule: '',
      container: '',
      container_id: '',
      banned_at: '',
      until: '',
      failures: '0',
      nth: '0',
      reason: '',
      evidence: '',
      bans: String(n.bans),
      unbans: String(n.unbans),
    };
  }
  const b = n.ban;
  return {
    ...base,
    event: n.kind,
    time: formatTime(n.time),
    address: b.ip,
    family: String(b.family),
    rule: b.rule,
    // Cleaned and bounded as the JSON document and the summary show them.
    container: b.scope === undefined ? '' : clean(b.scopeName ?? b.scope.slice(0, 12), 128),
    container_id: b.scope === undefined ? '' : clean(b.scope, 128),
    banned_at: formatTime(b.at),
    until: formatUntil(b.until),
    failures: String(Math.trunc(b.failures) || 0),
    nth: String(Math.trunc(b.nth) || 0),
    reason: n.kind === 'unban' ? (n.reason ?? '') : '',
    evidence: evidenceOf(b).map((e) => e.line).join('\n'),
    bans: n.kind === 'ban' ? '1' : '0',
    unbans: n.kind === 'unban' ? '1' : '0',
  };
}

const escapeJson = (s: string): string => JSON.stringify(s).slice(1, -1);
// eslint-disable-next-line no-control-regex
const escapeText = (s: string): string => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
/** Percent-encoded (a lone surrogate, which encodeURIComponent refuses, becomes U+FFFD). */
const escapeForm = (s: string): string => encodeURIComponent(escapeText(s).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
/** `[text](url)`: a zero-width space after the `]` keeps Markdown (Mattermost, Discord) from making a link whose text hides its target. */
const breakMaskedLinks = (s: string): string => s.replace(/\](?=\s*\()/g, ']\u200b');
const escapeSlack = (s: string): string => breakMaskedLinks(s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '@\u200b'));
const MARKUP_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeMarkup = (s: string): string => s.replace(/[&<>"']/g, (c) => MARKUP_ENTITIES[c]!);
const escapeDiscord = (s: string): string => breakMaskedLinks(s.replace(/@/g, '@\u200b'));

export function renderTemplate(t: Template, n: Notice, agent: AgentInfo): string {
  const values = templateValues(n, agent);
  return t.source.replace(PLACEHOLDER, (_m, name: string) => {
    const raw = Object.hasOwn(values, name) ? values[name as TemplateField] : '';
    const v = t.slack === true ? escapeSlack(raw) : t.discord === true ? escapeDiscord(raw) : raw;
    if (t.json) return NUMERIC.has(name as TemplateField) ? String(Number(v) || 0) : escapeJson(v);
    return t.form === true ? escapeForm(v) : t.markup === true ? escapeMarkup(escapeText(v)) : escapeText(v);
  });
}

/** Fields named by a template that do not exist. */
export function unknownFields(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(PLACEHOLDER)) if (!Object.hasOwn(TEMPLATE_FIELDS, m[1]!)) out.push(m[1]!);
  return [...new Set(out)];
}

/**
 * Why this template cannot be used, or null: unknown fields, too long, or (JSON) a body that is not
 * JSON for a ban, an unban or a digest whose values contain every character that needs escaping.
 */
export function templateProblem(source: string, json: boolean, samples: readonly Notice[], agent: AgentInfo): string | null {
  if (source.length > MAX_TEMPLATE_CHARS) return `a template is at most ${MAX_TEMPLATE_CHARS} characters`;
  const unknown = unknownFields(source);
  if (unknown.length > 0) return `unknown template field${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')}; fields are ${Object.keys(TEMPLATE_FIELDS).join(', ')}`;
  if (!json) return null;
  for (const n of samples) {
    const body = renderTemplate({ source, json }, n, agent);
    try {
      JSON.parse(body);
    } catch (e) {
      return `the template does not render JSON for a ${n.kind} (${jsonErrorText(e)}); put text fields inside quotes: "{{address}}"`;
    }
  }
  return null;
}

/**
 * What JSON.parse said, without the text it quotes: since Node 20 V8 shows about ten characters on
 * each side of the mistake (`Unexpected token 'x', ..."k":"s3cret","ev":x"... is not valid JSON`),
 * and a template may hold a token next to the field left outside its quotes. The message goes to
 * stderr and the container's log: only its quote-free form (what and where) is kept.
 */
function jsonErrorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : '';
  const head = /^Unexpected token\b/.test(msg) ? 'an unexpected character' : msg;
  // V8's own words quote single characters it expected (`Expected ',' or '}'`): kept; a double quote or `...` is a snippet.
  return /["`]|\.\.\./.test(head) || head === '' ? 'not valid JSON' : head;
}

/** A ban, an unban and a digest whose values hold every character that needs escaping (template checks). */
export function sampleNotices(now: number): Notice[] {
  const hostile = 'x"\\\n\r\t{{address}}</script>\u0000\u2028 é';
  const ban = {
    ip: '198.18.0.1',
    family: 4 as const,
    rule: 'sample-rule',
    at: now,
    until: now + 3_600_000,
    failures: 5,
    nth: 1,
    manual: false,
    scope: 'c0ffee',
    scopeName: hostile,
    evidence: [{ line: hostile, file: `/var/log/${hostile}`, at: now }],
  };
  return [
    { kind: 'ban', ban, time: now },
    { kind: 'unban', ban: { ...ban, until: null }, reason: 'expired', time: now },
    { kind: 'digest', from: now - 60_000, to: now, bans: 1200, unbans: 3, topRules: [{ rule: 'sample-rule', count: 1200 }], topAddresses: [{ address: '198.18.0.1', count: 2 }], distinctAddresses: 1199 },
  ];
}
