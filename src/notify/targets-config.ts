/**
 * Every notification target the configuration names: `notify.targets` plus the shorthand ones
 * (BANHAMMER_NOTIFY_WEBHOOK_* → `webhook`, BANHAMMER_NOTIFY_SMTP_* → `smtp`), with the problems of
 * their combination (reported by the config loader like any other problem).
 */
import { TARGET_DEFAULTS, targetProblems, type NotifyTarget } from './target-schema.js';
import type { NotifyConfig, NotifySettingTypes } from './settings.js';
import { sampleNotices, templateOf, templateProblem } from './template.js';

export interface ConfiguredTargets {
  readonly targets: Readonly<Record<string, NotifyTarget>>;
  readonly problems: readonly { readonly key: string; readonly message: string }[];
}

const base = {
  events: null,
  header: null,
  token: null,
  tokenFile: null,
  template: null,
  contentType: null,
  passwordFile: null,
  from: null,
  to: [],
  caFile: null,
  preset: TARGET_DEFAULTS.preset,
  starttls: TARGET_DEFAULTS.starttls,
  timeoutMs: TARGET_DEFAULTS.timeoutMs,
  connectTimeoutMs: TARGET_DEFAULTS.connectTimeoutMs,
  queueSize: TARGET_DEFAULTS.queueSize,
  attempts: TARGET_DEFAULTS.attempts,
} as const;

export function configuredTargets(n: NotifyConfig): ConfiguredTargets {
  const targets: Record<string, NotifyTarget> = { ...n.targets };
  const problems: { key: string; message: string }[] = [];
  const webhookSet = n.webhookUrl !== null || n.webhookUrlFile !== null;
  if (webhookSet) {
    const t: NotifyTarget = {
      ...base,
      type: 'webhook',
      url: n.webhookUrl,
      urlFile: n.webhookUrlFile,
      preset: n.webhookPreset,
      ...(n.webhookToken !== null || n.webhookTokenFile !== null ? { header: n.webhookHeader, token: n.webhookToken, tokenFile: n.webhookTokenFile } : {}),
    };
    for (const p of targetProblems(t)) problems.push({ key: `notify.webhook_${p.key}`, message: p.message });
    if (Object.hasOwn(n.targets, 'webhook')) problems.push({ key: 'notify.targets.webhook', message: 'a target named webhook is also described by notify.webhook_url / BANHAMMER_NOTIFY_WEBHOOK_*; rename one' });
    targets.webhook = t;
  } else if (n.webhookToken !== null || n.webhookTokenFile !== null) {
    problems.push({ key: 'notify.webhook_token', message: 'a webhook token without BANHAMMER_NOTIFY_WEBHOOK_URL (or _URL_FILE)' });
  }
  const smtpSet = n.smtpUrl !== null || n.smtpUrlFile !== null;
  if (smtpSet) {
    const t: NotifyTarget = { ...base, type: 'smtp', url: n.smtpUrl, urlFile: n.smtpUrlFile, passwordFile: n.smtpPasswordFile, from: n.smtpFrom, to: n.smtpTo, starttls: n.smtpStarttls };
    for (const p of targetProblems(t)) problems.push({ key: `notify.smtp_${p.key}`, message: p.message.replace(/^an smtp target needs (\w+)/, 'an smtp target needs $1 (BANHAMMER_NOTIFY_SMTP_' + p.key.toUpperCase() + ')') });
    if (Object.hasOwn(n.targets, 'smtp')) problems.push({ key: 'notify.targets.smtp', message: 'a target named smtp is also described by notify.smtp_url / BANHAMMER_NOTIFY_SMTP_*; rename one' });
    targets.smtp = t;
  } else if (n.smtpPasswordFile !== null || n.smtpFrom !== null || n.smtpTo.length > 0) {
    problems.push({ key: 'notify.smtp_url', message: 'SMTP settings without BANHAMMER_NOTIFY_SMTP_URL (or _URL_FILE)' });
  }
  return { targets, problems };
}

/**
 * The loader's check of the combined notification settings (problems named by YAML key). A value
 * already reported invalid (`known`) was replaced by its default, so combinations involving a URL or
 * the targets are not judged again.
 */
export function notifyProblems(s: Partial<NotifySettingTypes>, known: readonly { readonly key: string }[] = []): { key: string; source: string; message: string }[] {
  if (s.notifyTargets === undefined) return []; // invalid already (reported by its schema)
  const bad = new Set(known.map((p) => p.key.split('.').slice(0, 2).join('.')));
  if (['notify.targets', 'notify.webhook_url', 'notify.webhook_url_file', 'notify.smtp_url', 'notify.smtp_url_file'].some((k) => bad.has(k))) return [];
  const n: NotifyConfig = {
    events: s.notifyEvents ?? ['ban'],
    digestThreshold: s.notifyDigestThreshold ?? 0,
    digestInterval: s.notifyDigestInterval ?? 60_000,
    targets: s.notifyTargets,
    webhookUrl: s.notifyWebhookUrl ?? null,
    webhookUrlFile: s.notifyWebhookUrlFile ?? null,
    webhookPreset: s.notifyWebhookPreset ?? 'generic',
    webhookHeader: s.notifyWebhookHeader ?? 'Authorization',
    webhookToken: s.notifyWebhookToken ?? null,
    webhookTokenFile: s.notifyWebhookTokenFile ?? null,
    smtpUrl: s.notifySmtpUrl ?? null,
    smtpUrlFile: s.notifySmtpUrlFile ?? null,
    smtpPasswordFile: s.notifySmtpPasswordFile ?? null,
    smtpFrom: s.notifySmtpFrom ?? null,
    smtpTo: s.notifySmtpTo ?? [],
    smtpStarttls: s.notifySmtpStarttls ?? 'required',
  };
  return configuredTargets(n).problems.map((p) => ({ key: p.key, source: 'settings', message: p.message }));
}

/** Who sends, in the samples a template is checked with (its values do not change the verdict). */
const SAMPLE_AGENT = { instance: 'sample-instance', host: 'sample-host', version: '0.0.0' };

/**
 * The templates the agent would refuse at start (notifier.ts builds each target with the same
 * check: an unknown field, or a JSON template that does not render JSON for a ban, an unban and a
 * digest), keyed like the loader's problems: `banhammer check-config` reports them with the rest
 * instead of passing a file the agent then refuses. Renders three notices per template: not for the
 * loader's every read (a reload does not rebuild the targets).
 */
export function templateProblems(n: NotifyConfig): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  for (const [name, t] of Object.entries(configuredTargets(n).targets)) {
    if (t.type !== 'webhook') continue;
    const template = templateOf(t);
    const why = template === undefined ? null : templateProblem(template.source, template.json, sampleNotices(0), SAMPLE_AGENT);
    if (why !== null) out.push({ key: `notify.targets.${name}.template`, message: why });
  }
  return out;
}
