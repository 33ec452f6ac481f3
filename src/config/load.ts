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
import { readRegularFileSync } from '../fs/read-regular.js';
import type { RuleMatch, RuleSettings } from '../detect/rule.js';
import { readConfigFile } from './file.js';
import { readRuleDir, type DirReader, type RuleDefinition } from '../detect/rule-file.js';
import { readEnv, type Env } from './env.js';
import { FLAG_NAMES, readFlags, type ConfigFlags } from './flags.js';
import { emptyPatch, type ConfigPatch } from './patch.js';
import { apacheProblems, type ApacheSettings } from './apache.js';
import { configError, type Problem } from './problems.js';
import { assembleConfig, redactProblem } from './settings.js';
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
  /** Reads the config file as UTF-8; defaults to a regular file of at most MAX_CONFIG_FILE_BYTES (fs/read-regular.ts). */
  readonly readFile?: ((path: string) => string) | undefined;
  /** Lists and reads the rules directory (rules_dir); defaults to the file system. */
  readonly readDir?: DirReader | undefined;
}

/** The rules directory the file or the environment names (the environment wins), with its source. */
function rulesDirOf(env: Env, file: ConfigPatch): { dir: string; source: string } | null {
  const spec = SETTINGS.rulesDir;
  const raw = env[spec.env];
  if (raw !== undefined && raw.trim() !== '') {
    const r = spec.schema.safeParse(spec.fromEnv(raw));
    // An invalid value is reported by the environment layer.
    return r.success && r.data !== null ? { dir: r.data, source: `env ${spec.env}` } : null;
  }
  const fromFile = file.settings.rulesDir;
  return fromFile === undefined || fromFile === null ? null : { dir: fromFile, source: file.sources.get('rules_dir') ?? 'file' };
}

export interface ResolvedConfig {
  readonly config: Config;
  /** YAML key path → where its value came from (`file …`, `env …`, `flag …`); absent means default. */
  readonly sources: ReadonlyMap<string, string>;
  /** The config file read, or null. */
  readonly configPath: string | null;
}

/** Far above any real configuration; a larger file is refused rather than read. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;
const defaultReadFile = (path: string): string => readRegularFileSync(path, MAX_CONFIG_FILE_BYTES);

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

  // The user's rule files (BANHAMMER_RULES_DIR / rules_dir) are read before the environment layer,
  // which must know every rule name (BANHAMMER_RULE_<NAME>_…, BANHAMMER_RULES).
  const dirRules = Object.create(null) as Record<string, RuleDefinition>;
  const dirSetting = rulesDirOf(input.env, file);
  if (dirSetting !== null) {
    const read = readRuleDir(dirSetting.dir, { defaultEnabled: true, ...(input.readDir !== undefined ? { reader: input.readDir } : {}) });
    for (const message of read.problems) problems.push({ key: 'rules_dir', source: dirSetting.source, message });
    for (const r of read.rules) {
      if (isPreset(r.name)) {
        problems.push({
          key: 'rules_dir',
          source: dirSetting.source,
          message: `rule file ${r.file}: "${r.name}" is a preset; change a preset with rules: ${r.name}: in the config file (or BANHAMMER_RULE_* variables), or give your rule another name`,
        });
        continue;
      }
      dirRules[r.name] = r;
    }
  }
  const ruleNames = [...Object.keys(PRESETS), ...Object.keys(dirRules), ...userRules.filter((n) => !Object.hasOwn(dirRules, n))];
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

  // What `banhammer apache-conf` (the image's entrypoint) would refuse, refused here, by the same rule:
  // check-config must not accept a configuration the container then stops on (exit 78).
  const sourceOf = (yamlKey: string): string => {
    let source = 'default';
    for (const layer of layers) source = layer.sources.get(yamlKey) ?? source;
    return source;
  };
  for (const p of apacheProblems(settings as unknown as ApacheSettings)) {
    problems.push({ key: p.key, source: sourceOf(p.key), value: p.value, message: `${p.env} cannot be written into Apache's configuration (banhammer apache-conf, run by the image's entrypoint): ${p.allowed}` });
  }

  // Notification targets: the shorthand (env) ones and notify.targets must combine into valid targets.
  problems.push(...notifyProblems(settings as Partial<SettingTypes>, problems));

  // Rules: preset or user defaults, then each layer's fields, then the selection.
  const rules = Object.create(null) as Record<string, RuleSettings>;
  let selection: ReadonlySet<string> | null = null;
  for (const layer of layers) if (layer.selection !== null) selection = new Set(layer.selection);
  for (const name of ruleNames) {
    const preset = isPreset(name) ? PRESETS[name] : Object.hasOwn(dirRules, name) ? dirRules[name]!.settings : undefined;
    const own = (patch: ConfigPatch): RulePatch | undefined => (Object.hasOwn(patch.rules, name) ? patch.rules[name] : undefined);
    if (preset === undefined && own(file)?.match === undefined) {
      if (own(file) !== undefined) {
        problems.push({ key: `rules.${name}.match`, source: `file ${configPath}`, message: `"${name}" is neither a preset nor in rules_dir, so it needs match (status, paths and/or methods); presets are ${Object.keys(PRESETS).join(', ')}` });
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

  // Secrets (a bad token, a webhook URL) are named by key and source, their values masked.
  if (problems.length > 0) throw configError(problems.map(redactProblem));

  const config = assembleConfig(settings as SettingTypes, rules);

  const sources = new Map<string, string>();
  for (const layer of layers) for (const [k, v] of layer.sources) sources.set(k, v);
  // structuredClone gives plain objects back; rules become null-prototype again, so that
  // config.rules['constructor'] (a name from `ban --rule`, the socket, a state file) is undefined.
  const copy = structuredClone(config) as { -readonly [K in keyof Config]: Config[K] };
  copy.rules = Object.assign(Object.create(null) as Record<string, RuleSettings>, copy.rules);
  return { config: deepFreeze(copy as Config), sources, configPath };
}

/** A deep copy of a rule (plain data: numbers, strings, lists, nested matches; Infinity survives). */
function copyRule(r: RuleSettings): RuleSettings {
  return structuredClone(r);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
