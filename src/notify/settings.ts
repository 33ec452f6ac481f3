/**
 * The notification settings, spread into the settings table (SETTINGS in src/config/schema.ts), so
 * each has its YAML key under `notify:`, its environment variable, default and check like any other.
 *
 * YAML names any number of targets under `notify.targets`; the environment (and YAML) can also
 * describe one webhook and one SMTP target directly (BANHAMMER_NOTIFY_WEBHOOK_URL…,
 * BANHAMMER_NOTIFY_SMTP_URL…), which become the targets named `webhook` and `smtp`
 * (configuredTargets in ./targets-config.ts).
 */
import * as z from 'zod/mini';
import { formatDuration } from '../config/duration.js';
import { maskSecret, maskUrlValue } from '../config/mask.js';
import type { SettingSpec } from '../config/schema.js';
import { NOTIFY_EVENTS, type NotifyEventKind } from './event.js';
import { STARTTLS_MODES, WEBHOOK_PRESETS, type StarttlsMode, type WebhookPreset } from './kinds.js';
import {
  absoluteFile,
  boundedDuration,
  emailAddress,
  emailList,
  eventList,
  headerName,
  headerValue,
  smtpUrlProblem,
  targetsSchema,
  redactTarget,
  targetToYaml,
  webhookUrlProblem,
  type NotifyTarget,
} from './target-schema.js';

export interface NotifySettingTypes {
  /** Config: notify.events */
  readonly notifyEvents: readonly NotifyEventKind[];
  /** Config: notify.digestThreshold */
  readonly notifyDigestThreshold: number;
  /** Config: notify.digestInterval (ms) */
  readonly notifyDigestInterval: number;
  /** Config: notify.targets */
  readonly notifyTargets: Readonly<Record<string, NotifyTarget>>;
  readonly notifyWebhookUrl: string | null;
  readonly notifyWebhookUrlFile: string | null;
  readonly notifyWebhookPreset: WebhookPreset;
  readonly notifyWebhookHeader: string;
  readonly notifyWebhookToken: string | null;
  readonly notifyWebhookTokenFile: string | null;
  readonly notifySmtpUrl: string | null;
  readonly notifySmtpUrlFile: string | null;
  readonly notifySmtpPasswordFile: string | null;
  readonly notifySmtpFrom: string | null;
  readonly notifySmtpTo: readonly string[];
  readonly notifySmtpStarttls: StarttlsMode;
}

/** Config.notify: the settings above without their `notify` prefix. */
export interface NotifyConfig {
  readonly events: NotifySettingTypes['notifyEvents'];
  readonly digestThreshold: number;
  readonly digestInterval: number;
  readonly targets: NotifySettingTypes['notifyTargets'];
  readonly webhookUrl: string | null;
  readonly webhookUrlFile: string | null;
  readonly webhookPreset: WebhookPreset;
  readonly webhookHeader: string;
  readonly webhookToken: string | null;
  readonly webhookTokenFile: string | null;
  readonly smtpUrl: string | null;
  readonly smtpUrlFile: string | null;
  readonly smtpPasswordFile: string | null;
  readonly smtpFrom: string | null;
  readonly smtpTo: readonly string[];
  readonly smtpStarttls: StarttlsMode;
}

export type NotifySettingKey = keyof NotifySettingTypes;

const trimmed = (raw: string): unknown => raw.trim();
const intOrString = (raw: string): unknown => (/^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw.trim());
const nullable = <T>(s: z.ZodMiniType<T>) => z.union([z.null(), s]);
/** null, or a URL `problem` accepts (its message reported as is). */
const nullableUrl = (problem: (s: string) => string | null) =>
  z.pipe(
    z.unknown(),
    z.transform((v, ctx): string | null => {
      if (v === null) return null;
      const why = typeof v === 'string' ? problem(v) : 'expected a URL';
      if (why === null) return v as string;
      ctx.issues.push({ code: 'custom', input: v, message: why });
      return z.NEVER;
    }),
  );

type Spec<K extends NotifySettingKey> = SettingSpec<NotifySettingTypes[K]>;
const spec = <K extends NotifySettingKey>(key: K, s: Omit<Spec<K>, 'configPath' | 'reload' | 'yamlPath'> & { yaml: string }): Spec<K> => {
  const { yaml, ...rest } = s;
  const field = key.slice('notify'.length);
  return { ...rest, yamlPath: ['notify', yaml], configPath: ['notify', field.charAt(0).toLowerCase() + field.slice(1)], reload: 'restart' } as Spec<K>;
};

/** The YAML-or-JSON text of BANHAMMER_NOTIFY_TARGETS (a flow mapping); the yaml package is loaded lazily elsewhere. */
function parseTargetsEnv(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // not JSON: the schema reports "expected a mapping"
  }
}

export const NOTIFY_SETTINGS: { readonly [K in NotifySettingKey]: Spec<K> } = {
  notifyEvents: spec('notifyEvents', {
    yaml: 'events',
    env: 'BANHAMMER_NOTIFY_EVENTS',
    description: 'Notifications: which events are sent (a target may narrow it with its own `events`)',
    allowed: `comma-separated: ${NOTIFY_EVENTS.join(', ')}`,
    schema: eventList,
    fromEnv: trimmed,
    default: () => ['ban'],
    defaultText: 'ban',
  }),
  notifyDigestThreshold: spec('notifyDigestThreshold', {
    yaml: 'digest_threshold',
    env: 'BANHAMMER_NOTIFY_DIGEST_THRESHOLD',
    description: 'Notifications: more events than this within one digest interval switch a target to one digest per interval (a ban storm sends one message, not thousands)',
    allowed: 'integer 0–10000 (0: always digests)',
    schema: z.int({ error: 'expected an integer' }).check(z.gte(0, { error: 'must be ≥ 0' }), z.lte(10_000, { error: 'must be ≤ 10000' })),
    fromEnv: intOrString,
    default: () => 10,
    defaultText: '10',
  }),
  notifyDigestInterval: spec('notifyDigestInterval', {
    yaml: 'digest_interval',
    env: 'BANHAMMER_NOTIFY_DIGEST_INTERVAL',
    description: 'Notifications: the digest interval',
    allowed: 'duration 10s–1d',
    schema: boundedDuration(10_000, 86_400_000),
    fromEnv: trimmed,
    // Defaults go through the schema like any input (load.ts), so this one is written as a file would.
    default: () => '1m' as unknown as number,
    defaultText: '1m',
    toYaml: (v: number) => formatDuration(v),
  }),
  notifyTargets: spec('notifyTargets', {
    yaml: 'targets',
    env: 'BANHAMMER_NOTIFY_TARGETS',
    description: 'Notifications: named targets (webhook or smtp; see the README’s Notifications section); in the environment as one JSON object',
    allowed: 'mapping of names ([a-z0-9_-], at most 16) to targets',
    schema: targetsSchema,
    fromEnv: parseTargetsEnv,
    default: () => ({}),
    defaultText: '(none)',
    toYaml: (v: Readonly<Record<string, NotifyTarget>>) => Object.fromEntries(Object.entries(v).map(([k, t]) => [k, targetToYaml(t)])),
    redact: (v: Readonly<Record<string, NotifyTarget>>) => Object.fromEntries(Object.entries(v).map(([k, t]) => [k, redactTarget(t)])),
  }),
  notifyWebhookUrl: spec('notifyWebhookUrl', {
    yaml: 'webhook_url',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_URL',
    description: 'Notifications: the URL of the target named `webhook` (POSTed to on each event)',
    allowed: 'http:// or https:// URL',
    schema: nullableUrl(webhookUrlProblem),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
    redact: maskUrlValue, // a Slack or Discord URL is the credential; ?token=…, user:password@
  }),
  notifyWebhookUrlFile: spec('notifyWebhookUrlFile', {
    yaml: 'webhook_url_file',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_URL_FILE',
    description: 'Notifications: a file holding that URL (Docker secrets; Slack and Discord URLs are secrets)',
    allowed: 'absolute path',
    schema: nullable(absoluteFile),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  notifyWebhookPreset: spec('notifyWebhookPreset', {
    yaml: 'webhook_preset',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_PRESET',
    description: 'Notifications: the body the `webhook` target sends: banhammer’s JSON document, or a receiver’s format',
    allowed: WEBHOOK_PRESETS.join(', '),
    schema: z.enum(WEBHOOK_PRESETS, { error: `expected one of ${WEBHOOK_PRESETS.join(', ')}` }),
    fromEnv: (raw) => raw.trim().toLowerCase(),
    default: () => 'generic',
    defaultText: 'generic',
  }),
  notifyWebhookHeader: spec('notifyWebhookHeader', {
    yaml: 'webhook_header',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_HEADER',
    description: 'Notifications: the header carrying the `webhook` target’s token',
    allowed: 'an HTTP header name',
    schema: headerName,
    fromEnv: trimmed,
    default: () => 'Authorization',
    defaultText: 'Authorization',
  }),
  notifyWebhookToken: spec('notifyWebhookToken', {
    yaml: 'webhook_token',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_TOKEN',
    description: 'Notifications: that header’s value (e.g. `Bearer abc…`)',
    allowed: 'visible ASCII (no CR/LF)',
    schema: nullable(headerValue),
    fromEnv: (raw) => raw.replace(/\r?\n$/, ''),
    default: () => null,
    defaultText: '(none)',
    redact: maskSecret,
  }),
  notifyWebhookTokenFile: spec('notifyWebhookTokenFile', {
    yaml: 'webhook_token_file',
    env: 'BANHAMMER_NOTIFY_WEBHOOK_TOKEN_FILE',
    description: 'Notifications: a file holding that header’s value (Docker secrets)',
    allowed: 'absolute path',
    schema: nullable(absoluteFile),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  notifySmtpUrl: spec('notifySmtpUrl', {
    yaml: 'smtp_url',
    env: 'BANHAMMER_NOTIFY_SMTP_URL',
    description: 'Notifications: the mail server of the target named `smtp`: smtp:// sends over STARTTLS, smtps:// over implicit TLS',
    allowed: 'smtp://[user[:password]@]host[:port] or smtps://…',
    schema: nullableUrl(smtpUrlProblem),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
    redact: maskUrlValue, // smtp://user:PASSWORD@host
  }),
  notifySmtpUrlFile: spec('notifySmtpUrlFile', {
    yaml: 'smtp_url_file',
    env: 'BANHAMMER_NOTIFY_SMTP_URL_FILE',
    description: 'Notifications: a file holding that URL (Docker secrets)',
    allowed: 'absolute path',
    schema: nullable(absoluteFile),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  notifySmtpPasswordFile: spec('notifySmtpPasswordFile', {
    yaml: 'smtp_password_file',
    env: 'BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE',
    description: 'Notifications: a file holding the SMTP password (Docker secrets; wins over a password in the URL)',
    allowed: 'absolute path',
    schema: nullable(absoluteFile),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  notifySmtpFrom: spec('notifySmtpFrom', {
    yaml: 'smtp_from',
    env: 'BANHAMMER_NOTIFY_SMTP_FROM',
    description: 'Notifications: the sender address of the `smtp` target',
    allowed: 'an email address',
    schema: nullable(emailAddress),
    fromEnv: trimmed,
    default: () => null,
    defaultText: '(none)',
  }),
  notifySmtpTo: spec('notifySmtpTo', {
    yaml: 'smtp_to',
    env: 'BANHAMMER_NOTIFY_SMTP_TO',
    description: 'Notifications: the recipients of the `smtp` target',
    allowed: 'comma-separated email addresses',
    schema: z.union([z.pipe(z.array(z.never()), z.transform((): readonly string[] => [])), emailList]),
    fromEnv: trimmed,
    default: () => [],
    defaultText: '(none)',
  }),
  notifySmtpStarttls: spec('notifySmtpStarttls', {
    yaml: 'smtp_starttls',
    env: 'BANHAMMER_NOTIFY_SMTP_STARTTLS',
    description: 'Notifications: STARTTLS for an smtp:// server: required, used when offered (opportunistic; required anyway with a password), or off (a relay on localhost)',
    allowed: STARTTLS_MODES.join(', '),
    schema: z.enum(STARTTLS_MODES, { error: `expected one of ${STARTTLS_MODES.join(', ')}` }),
    fromEnv: (raw) => raw.trim().toLowerCase(),
    default: () => 'required',
    defaultText: 'required',
  }),
};
