/**
 * loadConfig: defaults → YAML file → environment → CLI flags, validated once, frozen.
 *
 * The file is named by --config or BANHAMMER_CONFIG (none: no file). File I/O and YAML syntax errors
 * throw BH_ERR_CONFIG_FILE at once; every other problem of every layer is collected and thrown as one
 * BH_ERR_CONFIG whose message has one line per problem (key, value, source, what is allowed) and whose
 * `data.problems` holds them as objects. Later layers win key by key; lists are replaced; a rule's
 * `match` is merged field by field; BANHAMMER_RULES / --rules decide exactly which rules run.
 *
 * The returned Config and everything inside it is deeply frozen and shares nothing with PRESETS.
 * `config.rules` has no prototype: a rule name is only ever an own key (`ban --rule constructor` finds
 * no rule), and rule names that Object.prototype holds, or `manual`, are refused (ruleNameProblem).
 */
import { readFileSync } from 'node:fs';
import type { RuleMatch, RuleSettings } from '../detect/rule.js';
import { readConfigFile } from './file.js';
import { readEnv, type Env } from './env.js';
import { FLAG_NAMES, readFlags, type ConfigFlags } from './flags.js';
import { emptyPatch, type ConfigPatch } from './patch.js';
import { configError, type Problem } from './problems.js';
import { assembleConfig } from './settings.js';
import { notifyProblems } from '../notify/targets-config.js';
import {
  ENV_CONFIG,
  PRESETS,
  SETTING_KEYS,
  isPreset,
  type RulePatch,
  SETTINGS,
  USER_RULE_DEFAULTS,
  type Config,
  type SettingKey,
  type SettingTypes,
} from './schema.js';

export type { ConfigFlags } from './flags.js';
export type { Env } from './env.js';

export interface LoadInput {
  readonly env: Env;
  readonly flags?: ConfigFlags | undefined;
  /** Default instance name (the container hostname). */
  readonly hostname: string;
  /** Reads the config file as UTF-8; defaults to fs.readFileSync. */
  readonly readFile?: ((path: string) => string) | undefined;
}

export interface ResolvedConfig {
  readonly config: Config;
  /** YAML key path → where its value came from (`file …`, `env …`, `flag …`); absent means default. */
  readonly sources: ReadonlyMap<string, string>;
  /** The config file read, or null. */
  readonly configPath: string | null;
}

const defaultReadFile = (path: string): string => readFileSync(path, 'utf8');

export function loadConfig(input: LoadInput): Config {
  return resolveConfig(input).config;
}

export function resolveConfig(input: LoadInput): ResolvedConfig {
  const flags = input.flags ?? {};
  const envConfig = input.env[ENV_CONFIG]?.trim();
  const [configPath, via] =
    flags.configPath !== undefined ? [flags.configPath, `flag ${FLAG_NAMES.configPath}`] : envConfig ? [envConfig, `env ${ENV_CONFIG}`] : [null, ''];

  const problems: Problem[] = [];
  let file: ConfigPatch = emptyPatch();
  const userRules: string[] = [];
  if (configPath !== null) {
    const layer = readConfigFile(configPath, input.readFile ?? defaultReadFile, via);
    file = layer.patch;
    problems.push(...layer.problems);
    userRules.push(...layer.ruleNames.filter((n) => !isPreset(n)));
  }
  const ruleNames = [...Object.keys(PRESETS), ...userRules];
  const known = new Set(ruleNames);

  const env = readEnv(input.env, known);
  const fl = readFlags(flags, known);
  problems.push(...env.problems, ...fl.problems);
  const layers = [file, env.patch, fl.patch];

  // Settings: the last layer that says something wins.
  const settings: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    for (const layer of layers) if (layer.settings[key] !== undefined) settings[key] = layer.settings[key];
    if (settings[key] === undefined) {
      const spec = SETTINGS[key];
      const r = spec.schema.safeParse(spec.default({ hostname: input.hostname }));
      if (r.success) settings[key] = r.data;
      else problems.push({ key: spec.yamlPath.join('.'), source: 'default', value: input.hostname, message: `the hostname is not a valid ${key}; set ${spec.env}` });
    }
  }

  // Sharing needs both the Redis URL and the group; one without the other is a mistake, not "off".
  if ((settings.shareRedisUrl === null) !== (settings.shareGroup === null)) {
    const missing = settings.shareGroup === null ? SETTINGS.shareGroup : SETTINGS.shareRedisUrl;
    problems.push({ key: missing.yamlPath.join('.'), source: 'default', message: `sharing needs both BANHAMMER_REDIS_URL and BANHAMMER_SHARE_GROUP; set ${missing.env} too (or neither)` });
  }

  // Notification targets: the shorthand (env) ones and notify.targets must combine into valid targets.
  problems.push(...notifyProblems(settings as Partial<SettingTypes>));

  // Rules: preset or user defaults, then each layer's fields, then the selection.
  const rules = Object.create(null) as Record<string, RuleSettings>;
  let selection: ReadonlySet<string> | null = null;
  for (const layer of layers) if (layer.selection !== null) selection = new Set(layer.selection);
  for (const name of ruleNames) {
    const preset = isPreset(name) ? PRESETS[name] : undefined;
    const own = (patch: ConfigPatch): RulePatch | undefined => (Object.hasOwn(patch.rules, name) ? patch.rules[name] : undefined);
    if (preset === undefined && own(file)?.match === undefined) {
      if (own(file) !== undefined) {
        problems.push({ key: `rules.${name}.match`, source: `file ${configPath}`, message: `"${name}" is not a preset, so it needs match (status, paths and/or methods); presets are ${Object.keys(PRESETS).join(', ')}` });
      }
      continue;
    }
    let r: RuleSettings = preset ?? { ...USER_RULE_DEFAULTS, match: { status: null, paths: [], methods: [] } };
    for (const layer of layers) {
      const p = own(layer);
      if (p === undefined) continue;
      const match: RuleMatch = p.match === undefined ? r.match : { ...r.match, ...p.match };
      r = { ...r, ...p, match };
    }
    if (selection !== null) r = { ...r, enabled: selection.has(name) };
    rules[name] = copyRule(r);
  }

  if (problems.length > 0) throw configError(problems);

  const config = assembleConfig(settings as SettingTypes, rules);

  const sources = new Map<string, string>();
  for (const layer of layers) for (const [k, v] of layer.sources) sources.set(k, v);
  // structuredClone gives plain objects back; rules become null-prototype again, so that
  // config.rules['constructor'] (a name from `ban --rule`, the socket, a state file) is undefined.
  const copy = structuredClone(config) as { -readonly [K in keyof Config]: Config[K] };
  copy.rules = Object.assign(Object.create(null) as Record<string, RuleSettings>, copy.rules);
  return { config: deepFreeze(copy as Config), sources, configPath };
}

function copyRule(r: RuleSettings): RuleSettings {
  return {
    enabled: r.enabled,
    description: r.description,
    match: { status: r.match.status === null ? null : [...r.match.status], paths: [...r.match.paths], methods: [...r.match.methods] },
    maxretry: r.maxretry,
    findtime: r.findtime,
    bantime: r.bantime,
    increment: r.increment === null ? null : { factor: r.increment.factor, maxtime: r.increment.maxtime },
  };
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
