/**
 * Validation of notification settings (declared in the settings table, src/config/schema.ts): the
 * named targets under `notify.targets`, URLs, header names and values, templates. Self-contained
 * (zod/mini and the duration parser only) so the config schema can import it without a cycle.
 *
 * Values that hold secrets (a token, a URL with a password) may come from the environment or the
 * YAML file directly, or (better) from files: `*_file` keys are read when the agent starts
 * (src/notify/targets.ts), never stored in the Config.
 */
import * as z from 'zod/mini';
import { formatDuration, parseDuration } from '../config/duration.js';
import { MASK, maskSecret, maskUrlValue } from '../config/mask.js';
import { NOTIFY_EVENTS, type NotifyEventKind } from './event.js';
import { STARTTLS_MODES, WEBHOOK_PRESETS, type StarttlsMode, type WebhookPreset } from './kinds.js';
import { isFormContentType, MAX_TEMPLATE_CHARS } from './template.js';

export const TARGET_TYPES = ['webhook', 'smtp'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];
/** Target names: also the `target` label of the notification metrics (so: short and plain). */
export const TARGET_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const MAX_TARGETS = 16;

/** One target as the Config holds it (durations in ms; secrets only when given inline). */
export interface NotifyTarget {
  readonly type: TargetType;
  /** Events this target receives; null = notify.events. */
  readonly events: readonly NotifyEventKind[] | null;
  readonly url: string | null;
  readonly urlFile: string | null;
  /** webhook */
  readonly preset: WebhookPreset;
  readonly header: string | null;
  readonly token: string | null;
  readonly tokenFile: string | null;
  readonly template: string | null;
  readonly contentType: string | null;
  /** smtp */
  readonly passwordFile: string | null;
  readonly from: string | null;
  readonly to: readonly string[];
  readonly starttls: StarttlsMode;
  readonly caFile: string | null;
  /** delivery */
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly queueSize: number;
  readonly attempts: number;
}

export const TARGET_DEFAULTS = {
  preset: 'generic',
  starttls: 'required',
  timeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  queueSize: 100,
  attempts: 5,
} as const;

const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'user-agent']);
/** A header value: visible ASCII and spaces/tabs only (no CR, LF or other control character). */
export const HEADER_VALUE_RE = /^[\t\x20-\x7e]{1,4096}$/;
const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why `s` is not a usable webhook URL (http/https, a host, no NUL, bounded), or null. */
export function webhookUrlProblem(s: string): string | null {
  if (s.length > 4096 || /[\s\0]/.test(s)) return 'expected an http:// or https:// URL without spaces (at most 4096 characters)';
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'expected an http:// or https:// URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `expected an http:// or https:// URL, not ${u.protocol}`;
  if (u.hostname === '') return 'the URL names no host';
  return null;
}

/** Why `s` is not a usable SMTP URL (smtp:// or smtps://, a host, no path), or null. */
export function smtpUrlProblem(s: string): string | null {
  if (s.length > 4096 || /[\s\0]/.test(s)) return 'expected smtp://[user[:password]@]host[:port] or smtps://… without spaces';
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'expected smtp://[user[:password]@]host[:port] or smtps://…';
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') return `expected smtp:// (STARTTLS) or smtps:// (implicit TLS), not ${u.protocol}`;
  if (u.hostname === '') return 'the URL names no host';
  if (!/^\/?$/.test(u.pathname) || u.search !== '' || u.hash !== '') return 'an SMTP URL has no path or query: smtp://[user[:password]@]host[:port]';
  return null;
}

/** A URL string checked by `problem` (null passes). */
export const urlSchema = (problem: (s: string) => string | null) =>
  z.string({ error: 'expected a URL' }).check(
    z.superRefine((s, ctx) => {
      const why = problem(s);
      if (why !== null) ctx.issues.push({ code: 'custom', message: why, input: s });
    }),
  );

/** A URL that may be an http(s) webhook or an smtp(s) server: checked against the target's type later. */
const anyUrl = urlSchema((s) => (/^smtps?:/i.test(s) ? smtpUrlProblem(s) : webhookUrlProblem(s)));

export const absoluteFile = z.string({ error: 'expected an absolute path' }).check(
  z.refine((s) => s.startsWith('/') && !s.includes('\0') && s.length <= 4096, { error: 'expected an absolute path (starting with /)' }),
);

export const headerName = z.string({ error: 'expected a header name' }).check(
  z.refine((s) => HEADER_NAME_RE.test(s), { error: 'expected an HTTP header name (letters, digits, - and other token characters, at most 64)' }),
  z.refine((s) => !FORBIDDEN_HEADERS.has(s.toLowerCase()), { error: `this header is set by banhammer itself (${[...FORBIDDEN_HEADERS].join(', ')})` }),
);

export const headerValue = z.string({ error: 'expected text' }).check(
  z.refine((s) => HEADER_VALUE_RE.test(s), { error: 'a header value is 1–4096 visible ASCII characters: no CR, LF or other control character' }),
);

export const emailAddress = z.string({ error: 'expected an email address' }).check(z.refine((s) => EMAIL_RE.test(s), { error: 'expected an email address like ops@example.com' }));

/** A scalar where a list is expected becomes a one-element list; a string is split at commas. */
const listOf = <T extends z.core.$ZodType>(item: T, what: string) =>
  z.pipe(
    z.transform((v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v)),
    z.array(item, { error: `expected a list of ${what}` }),
  );

export const eventList = z.pipe(
  listOf(z.enum(NOTIFY_EVENTS, { error: `expected ${NOTIFY_EVENTS.join(' or ')}` }), 'events (ban, unban)'),
  z.transform((xs: NotifyEventKind[]): readonly NotifyEventKind[] => [...new Set(xs)]),
);

export const emailList = listOf(emailAddress, 'email addresses').check(z.minLength(1, { error: 'list at least one recipient' }), z.maxLength(50, { error: 'at most 50 recipients' }));

/** A duration (seconds, or 30s / 1m…) between `min` and `max` ms. */
export function boundedDuration(min: number, max: number) {
  return z.pipe(
    z.unknown(),
    z.transform((v, ctx): number => {
      let ms = NaN;
      if (typeof v === 'number' && Number.isFinite(v)) ms = Math.round(v * 1000);
      else if (typeof v === 'string') {
        try {
          ms = parseDuration(v);
        } catch {
          ms = NaN;
        }
      }
      if (!(ms >= min && ms <= max)) {
        ctx.issues.push({ code: 'custom', input: v, message: `expected a duration from ${formatDuration(min)} to ${formatDuration(max)} (e.g. ${formatDuration(Math.max(min, Math.min(max, 10_000)))})` });
        return z.NEVER;
      }
      return ms;
    }),
  );
}

const intBetween = (min: number, max: number) =>
  z.int({ error: `expected an integer ${min}–${max}` }).check(z.gte(min, { error: `must be ≥ ${min}` }), z.lte(max, { error: `must be ≤ ${max}` }));

const TARGET_KEYS = ['type', 'events', 'url', 'url_file', 'preset', 'header', 'token', 'token_file', 'template', 'content_type', 'password_file', 'from', 'to', 'starttls', 'ca_file', 'timeout', 'connect_timeout', 'queue_size', 'attempts'];

const targetYaml = z.strictObject(
  {
    type: z.enum(TARGET_TYPES, { error: `expected type ${TARGET_TYPES.join(' or ')}` }),
    events: z.optional(z.nullable(eventList)),
    url: z.optional(z.nullable(anyUrl)),
    url_file: z.optional(z.nullable(absoluteFile)),
    preset: z.optional(z.enum(WEBHOOK_PRESETS, { error: `expected one of ${WEBHOOK_PRESETS.join(', ')}` })),
    header: z.optional(z.nullable(headerName)),
    token: z.optional(z.nullable(headerValue)),
    token_file: z.optional(z.nullable(absoluteFile)),
    template: z.optional(z.nullable(z.string({ error: 'expected text' }).check(z.maxLength(MAX_TEMPLATE_CHARS, { error: `at most ${MAX_TEMPLATE_CHARS} characters` })))),
    content_type: z.optional(z.nullable(headerValue)),
    password_file: z.optional(z.nullable(absoluteFile)),
    from: z.optional(z.nullable(emailAddress)),
    to: z.optional(emailList),
    starttls: z.optional(z.enum(STARTTLS_MODES, { error: `expected one of ${STARTTLS_MODES.join(', ')}` })),
    ca_file: z.optional(z.nullable(absoluteFile)),
    timeout: z.optional(boundedDuration(1000, 120_000)),
    connect_timeout: z.optional(boundedDuration(500, 60_000)),
    queue_size: z.optional(intBetween(1, 10_000)),
    attempts: z.optional(intBetween(1, 20)),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key; allowed keys here: ${TARGET_KEYS.join(', ')}` : undefined) },
);
type TargetYaml = z.infer<typeof targetYaml>;

/** Problems of a combination of keys (what the per-key schemas cannot see). */
export function targetProblems(t: NotifyTarget): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  if ((t.url === null) === (t.urlFile === null)) out.push({ key: 'url', message: 'set exactly one of url and url_file' });
  if (t.url !== null) {
    const why = t.type === 'smtp' ? smtpUrlProblem(t.url) : webhookUrlProblem(t.url);
    if (why !== null) out.push({ key: 'url', message: why });
  }
  if (t.type === 'webhook') {
    if (t.token !== null && t.tokenFile !== null) out.push({ key: 'token', message: 'set token or token_file, not both' });
    for (const k of ['password_file', 'from', 'ca_file'] as const) {
      const v = k === 'password_file' ? t.passwordFile : k === 'from' ? t.from : t.caFile;
      if (v !== null) out.push({ key: k, message: `${k} is for smtp targets` });
    }
    if (t.to.length > 0) out.push({ key: 'to', message: 'to is for smtp targets' });
  } else {
    if (t.from === null) out.push({ key: 'from', message: 'an smtp target needs from (the sender address)' });
    if (t.to.length === 0) out.push({ key: 'to', message: 'an smtp target needs to (one or more recipients)' });
    for (const k of ['token', 'token_file', 'template', 'header', 'content_type'] as const) {
      const v = { token: t.token, token_file: t.tokenFile, template: t.template, header: t.header, content_type: t.contentType }[k];
      if (v !== null) out.push({ key: k, message: `${k} is for webhook targets` });
    }
  }
  return out;
}

export function targetFromYaml(y: TargetYaml): NotifyTarget {
  return {
    type: y.type,
    events: y.events ?? null,
    url: y.url ?? null,
    urlFile: y.url_file ?? null,
    preset: y.preset ?? TARGET_DEFAULTS.preset,
    header: y.header ?? null,
    token: y.token ?? null,
    tokenFile: y.token_file ?? null,
    template: y.template ?? null,
    contentType: y.content_type ?? null,
    passwordFile: y.password_file ?? null,
    from: y.from ?? null,
    to: y.to ?? [],
    starttls: y.starttls ?? TARGET_DEFAULTS.starttls,
    caFile: y.ca_file ?? null,
    timeoutMs: y.timeout ?? TARGET_DEFAULTS.timeoutMs,
    connectTimeoutMs: y.connect_timeout ?? TARGET_DEFAULTS.connectTimeoutMs,
    queueSize: y.queue_size ?? TARGET_DEFAULTS.queueSize,
    attempts: y.attempts ?? TARGET_DEFAULTS.attempts,
  };
}

/** The YAML form of a target (check-config's output loads back to the same target). */
export function targetToYaml(t: NotifyTarget): Record<string, unknown> {
  const out: Record<string, unknown> = { type: t.type };
  const put = (k: string, v: unknown): void => {
    if (v !== null && !(Array.isArray(v) && v.length === 0)) out[k] = Array.isArray(v) ? [...(v as unknown[])] : v;
  };
  put('events', t.events);
  put('url', t.url);
  put('url_file', t.urlFile);
  if (t.type === 'webhook') put('preset', t.preset);
  put('header', t.header);
  put('token', t.token);
  put('token_file', t.tokenFile);
  put('template', t.template);
  put('content_type', t.contentType);
  put('password_file', t.passwordFile);
  put('from', t.from);
  put('to', t.to);
  if (t.type === 'smtp') put('starttls', t.starttls);
  put('ca_file', t.caFile);
  out.timeout = formatDuration(t.timeoutMs);
  out.connect_timeout = formatDuration(t.connectTimeoutMs);
  out.queue_size = t.queueSize;
  out.attempts = t.attempts;
  return out;
}

/**
 * A target as descriptions show it (check-config): its URL masked (a webhook URL's path and query,
 * any user:password), its token masked; the agent sends with the real values.
 */
export function redactTarget(t: NotifyTarget): NotifyTarget {
  return { ...t, url: maskUrlValue(t.url), token: maskSecret(t.token), template: t.template === null ? null : maskTemplate(t.template, t.contentType) };
}

/**
 * A template as descriptions show it: a receiver that takes its credentials in the body (Pushover's
 * `token=…&user=…`, a JSON `"api_key": "…"`) makes the template hold a secret. In a form template
 * every parameter value without a placeholder is masked, in a JSON template every string literal
 * that is not a key and holds no placeholder; keys, fields and the shape stay.
 */
export function maskTemplate(source: string, contentType: string | null): string {
  const json = contentType === null ? /^\s*[[{]/.test(source) : /json/i.test(contentType);
  // Every literal is consumed (keys too), so the scan never restarts inside one.
  if (json) return source.replace(/"(?:[^"\\]|\\.)*"(\s*:)?/g, (lit, key?: string) => (key !== undefined || lit.includes('{{') ? lit : `"${MASK}"`));
  if (isFormContentType(contentType)) {
    return source
      .split('&')
      .map((p) => {
        const eq = p.indexOf('=');
        return eq < 0 || p.slice(eq + 1).includes('{{') ? p : `${p.slice(0, eq + 1)}${MASK}`;
      })
      .join('&');
  }
  return source;
}

/**
 * notify.targets: a mapping of target names to targets. Each target is validated on its own, keys
 * and then combinations, so that check-config reports every mistake at once: a key one target gets
 * wrong must not hide another target's problems (a record of targetYaml stops at the first).
 */
export const targetsSchema = z.pipe(
  z.pipe(
    z.transform((v: unknown) => (v === null ? {} : v)),
    z.record(z.string(), z.unknown(), { error: 'expected a mapping of target names to targets (type: webhook or smtp, url…)' }),
  ),
  z.transform((rec, ctx): Readonly<Record<string, NotifyTarget>> => {
    const out: Record<string, NotifyTarget> = {};
    const names = Object.keys(rec);
    if (names.length > MAX_TARGETS) ctx.issues.push({ code: 'custom', input: names.length, message: `at most ${MAX_TARGETS} targets` });
    for (const name of names) {
      if (!TARGET_NAME_RE.test(name)) {
        ctx.issues.push({ code: 'custom', path: [name], input: name, message: 'a target name is 1–32 lower-case letters, digits, _ and - (it is a metrics label)' });
        continue;
      }
      const parsed = z.safeParse(targetYaml, rec[name], { reportInput: true });
      if (!parsed.success) {
        // As they are (code, input, keys: the loader words and masks them), under the target's name.
        for (const iss of parsed.error.issues) ctx.issues.push({ ...iss, path: [name, ...iss.path] } as (typeof ctx.issues)[number]);
        continue;
      }
      const t = targetFromYaml(parsed.data);
      for (const p of targetProblems(t)) ctx.issues.push({ code: 'custom', path: [name, p.key], input: undefined, message: p.message });
      out[name] = t;
    }
    return out;
  }),
);
