/**
 * Settings read, assembled and compared through the one table, SETTINGS (schema.ts): each setting's
 * YAML path, environment variable, place in Config (`configPath`) and reload mode are stated there
 * once, and everything else (the loader's assembly of Config, check-config's YAML, the env table,
 * the reload warning) is derived here from it.
 */
import type { RuleSettings } from '../detect/rule.js';
import { SETTING_KEYS, SETTINGS, type Config, type SettingKey, type SettingSpec, type SettingTypes } from './schema.js';
import { maskCredentialUrls, maskProblemValue } from './mask.js';

const spec = (key: SettingKey): SettingSpec<unknown> => SETTINGS[key] as SettingSpec<unknown>;

/** One setting's value in a Config. */
export function settingValue<K extends SettingKey>(c: Config, key: K): SettingTypes[K] {
  let cur: unknown = c;
  for (const k of spec(key).configPath) cur = (cur as Record<string, unknown>)[k];
  return cur as SettingTypes[K];
}

/** Every setting's value in a Config, keyed by setting. */
export function settingValues(c: Config): SettingTypes {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) out[key] = settingValue(c, key);
  return out as SettingTypes;
}

/** A Config from every setting's value and the rules (not frozen, not copied). */
export function assembleConfig(values: SettingTypes, rules: Readonly<Record<string, RuleSettings>>): Config {
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const [a, b] = spec(key).configPath;
    const v = values[key];
    if (b === undefined) out[a] = v;
    else ((out[a] ??= {}) as Record<string, unknown>)[b] = v;
  }
  out.rules = rules;
  return out as unknown as Config;
}

/** A setting as the user knows it: `BANHAMMER_LOG_LEVEL (log_level)`. */
export function settingName(key: SettingKey): string {
  const s = spec(key);
  return `${s.env} (${s.yamlPath.join('.')})`;
}

/** The settings whose changes a reload applies (`live`) or leaves for a restart (`restart`). */
export function settingsByReload(mode: 'live' | 'restart'): SettingKey[] {
  return SETTING_KEYS.filter((k) => spec(k).reload === mode);
}

const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * The restart-only settings that differ between the running config and a reloaded one, named as the
 * user knows them (`BANHAMMER_REMOTEIP_HEADER (remoteip_header)`), in table order; empty when a reload
 * can apply everything. Rules are live and never listed.
 */
export function restartOnlyChanges(before: Config, after: Config): string[] {
  return settingsByReload('restart')
    .filter((k) => !same(settingValue(before, k), settingValue(after, k)))
    .map(settingName);
}

/**
 * `c` as descriptions show it: every setting whose value is or holds a secret (SETTINGS[k].redact:
 * the Redis URL, webhook and SMTP URLs and tokens, the notification targets) masked, everything
 * else as is; then, as a safety net, any other URL with user info anywhere in the settings masked
 * too (mask.ts). Never given to the agent: it runs with `c`.
 */
export function redactedConfig(c: Config): Config {
  const values = settingValues(c) as Record<SettingKey, unknown>;
  for (const key of SETTING_KEYS) {
    const redact = spec(key).redact;
    values[key] = maskCredentialUrls(redact !== undefined ? redact(values[key]) : values[key]);
  }
  return Object.freeze(assembleConfig(values as unknown as SettingTypes, c.rules));
}

/**
 * A config problem as it may be shown: the offending value of a secret setting (SETTINGS[k].redact,
 * also a key inside it, e.g. notify.targets.NAME.token) masked, and any URL with user info masked
 * whatever its key. A bad token or webhook URL is named by its key and source, never printed.
 */
export function redactProblem<P extends { readonly key: string; readonly value?: unknown }>(p: P): P {
  if (!('value' in p)) return p;
  const secret = SETTING_KEYS.some((k) => {
    const path = spec(k).yamlPath.join('.');
    return spec(k).redact !== undefined && (p.key === path || p.key.startsWith(`${path}.`) || p.key.startsWith(`${path}[`));
  });
  return { ...p, value: secret ? maskProblemValue(p.value) : maskCredentialUrls(p.value) };
}

/** `c` with one setting changed (frozen, like every Config). */
export function withSetting<K extends SettingKey>(c: Config, key: K, value: SettingTypes[K]): Config {
  const values = settingValues(c);
  (values as Record<SettingKey, unknown>)[key] = value;
  return Object.freeze(assembleConfig(values, c.rules));
}

/**
 * The configuration a reload runs with: `after`, except that every restart-only setting keeps its
 * running value (`before`) until the agent restarts, so what runs is what the warning says.
 */
export function reloadedConfig(before: Config, after: Config): Config {
  const values = settingValues(after);
  const running = settingValues(before);
  for (const k of settingsByReload('restart')) (values as Record<SettingKey, unknown>)[k] = running[k];
  return Object.freeze(assembleConfig(values, after.rules));
}
