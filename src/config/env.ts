/**
 * The environment layer: every BANHAMMER_* variable, read from an `env` object passed in (never from
 * process.env).
 *
 * Known variables: one per setting (SETTINGS[k].env), BANHAMMER_CONFIG (read by the loader),
 * BANHAMMER_RULES (exactly the rules that run), BANHAMMER_MAXRETRY / _FINDTIME / _BANTIME (the
 * default rule) and BANHAMMER_RULE_<NAME>_<FIELD>. Anything else starting with BANHAMMER_ (or a near
 * miss such as BANHAMER_) is a Problem, as is a rule name that is neither a preset nor defined in the
 * file. A variable set to the empty string counts as unset.
 */
import { emptyPatch, type ConfigPatch } from './patch.js';
import { closest, problemsFromIssues, suggester, type Problem, type Suggest } from './problems.js';
import {
  DEFAULT_RULE,
  ENV_CONFIG,
  ENV_PREFIX,
  ENV_RULE_PREFIX,
  ENV_RULES,
  RULE_ENV_FIELDS,
  SETTING_KEYS,
  SETTINGS,
  ruleEnvName,
  ruleNameFromEnv,
  type RuleEnvFieldName,
  type RulePatch,
  type SettingKey,
  type SettingSpec,
} from './schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvLayer {
  readonly patch: ConfigPatch;
  readonly problems: Problem[];
}

const RULE_VAR_RE = new RegExp(`^${ENV_RULE_PREFIX}([A-Z0-9][A-Z0-9_]*)_(${Object.values(RULE_ENV_FIELDS).map((f) => f.env).join('|')})$`);
const FIELD_BY_ENV = new Map<string, RuleEnvFieldName>(Object.entries(RULE_ENV_FIELDS).map(([k, f]) => [f.env, k as RuleEnvFieldName]));
const SETTING_BY_ENV = new Map<string, SettingKey>(SETTING_KEYS.map((k) => [SETTINGS[k].env, k]));
const DEFAULT_RULE_VARS = new Map<string, RuleEnvFieldName>(
  Object.entries(RULE_ENV_FIELDS).flatMap(([k, f]) => (f.defaultRuleEnv === null ? [] : [[f.defaultRuleEnv, k as RuleEnvFieldName] as const])),
);

/** Splits a BANHAMMER_RULES / --rules value: names separated by commas or spaces. */
export function splitRuleList(raw: string): string[] {
  return raw.split(/[\s,]+/).filter((s) => s !== '');
}

/** Every variable name the environment layer accepts for these rules (for suggestions and docs). */
export function knownEnvNames(rules: Iterable<string>): string[] {
  const names = [ENV_CONFIG, ENV_RULES, ...SETTING_BY_ENV.keys(), ...DEFAULT_RULE_VARS.keys()];
  for (const r of rules) for (const f of FIELD_BY_ENV.values()) names.push(ruleEnvName(r, f));
  return names;
}

/** Validates one rule-field value and stores it in `patch` (used by env and, for rules, by flags). */
function setRuleField(patch: ConfigPatch, problems: Problem[], rule: string, field: RuleEnvFieldName, raw: string, source: string, suggest?: Suggest): void {
  const spec = RULE_ENV_FIELDS[field];
  const r = spec.schema.safeParse(spec.fromEnv(raw), { reportInput: true });
  if (!r.success) {
    problems.push(...problemsFromIssues(r.error.issues, source, ['rules', rule, field], suggest));
    return;
  }
  const target: RulePatch = (patch.rules[rule] ??= {});
  (target as Record<string, unknown>)[field] = r.data;
  patch.sources.set(`rules.${rule}.${field}`, source);
}

export function readEnv(env: Env, knownRules: ReadonlySet<string>): EnvLayer {
  const patch = emptyPatch();
  const problems: Problem[] = [];
  const ruleVars = new Map<string, string>(); // rules.<name>.<field> → variable that set it
  const known = knownEnvNames(knownRules);
  const knownRuleList = [...knownRules].join(', ');
  // Suggestions ("did you mean") for the first problems only: the report prints no more (problems.ts).
  const suggest = suggester();

  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined) continue;
    const blank = value.trim() === '';

    if (!name.startsWith(ENV_PREFIX)) {
      const head = name.split('_')[0] ?? '';
      if (head !== 'BANHAMMER' && head.length >= 7 && closest(head, ['BANHAMMER']) !== null && name.includes('_')) {
        problems.push({ key: name, source: `env ${name}`, message: `unknown variable; did you mean ${suggest(name.replace(head, 'BANHAMMER'), known) ?? 'a BANHAMMER_* variable'}?` });
      }
      continue;
    }
    if (name === ENV_CONFIG) continue;
    const source = `env ${name}`;
    // Two variables may name the same rule field (BANHAMMER_MAXRETRY, BANHAMMER_RULE_FORBIDDEN_MAXRETRY).
    const claim = (key: string, rule: string, field: RuleEnvFieldName): void => {
      const other = ruleVars.get(key);
      if (other !== undefined) {
        problems.push({ key, source, value, message: `also set by ${other}; set only one of them` });
        return;
      }
      ruleVars.set(key, name);
      setRuleField(patch, problems, rule, field, value, source, suggest);
    };

    const settingKey: SettingKey | undefined = SETTING_BY_ENV.get(name);
    if (settingKey !== undefined) {
      if (blank) continue;
      const spec = SETTINGS[settingKey] as SettingSpec<unknown>;
      const r = spec.schema.safeParse(spec.fromEnv(value), { reportInput: true });
      if (!r.success) {
        problems.push(...problemsFromIssues(r.error.issues, source, spec.yamlPath, suggest));
        continue;
      }
      (patch.settings as Record<string, unknown>)[settingKey] = r.data;
      patch.sources.set(spec.yamlPath.join('.'), source);
      continue;
    }

    if (name === ENV_RULES) {
      if (blank) continue;
      const names = splitRuleList(value);
      const unknown = names.filter((n) => !knownRules.has(n));
      for (const n of unknown) {
        const guess = suggest(n, knownRules);
        problems.push({ key: 'rules', source, value: n, message: `unknown rule${guess ? ` (did you mean "${guess}"?)` : ''}; known rules: ${knownRuleList}` });
      }
      // Only separators (`,`, `, ,`): not empty, so not unset, and no rule at all would run, silently.
      // Refused as --rules refuses it (flags.ts).
      if (names.length === 0) problems.push({ key: 'rules', source, value, message: 'names no rule; name at least one, or leave it unset for the default rules' });
      if (unknown.length === 0 && names.length > 0) {
        patch.selection = [...new Set(names)];
        for (const r of knownRules) patch.sources.set(`rules.${r}.enabled`, source);
      }
      continue;
    }

    const shortField = DEFAULT_RULE_VARS.get(name);
    if (shortField !== undefined) {
      if (blank) continue;
      claim(`rules.${DEFAULT_RULE}.${shortField}`, DEFAULT_RULE, shortField);
      continue;
    }

    const m = RULE_VAR_RE.exec(name);
    if (m !== null) {
      const rule = ruleNameFromEnv(m[1]!);
      const field = FIELD_BY_ENV.get(m[2]!)!;
      if (!knownRules.has(rule)) {
        const guess = suggest(rule, knownRules);
        problems.push({
          key: `rules.${rule}.${field}`,
          source,
          message: `unknown rule "${rule}"${guess ? ` (did you mean ${ruleEnvName(guess, field)}?)` : ''}; known rules: ${knownRuleList}`,
        });
        continue;
      }
      if (blank) continue;
      claim(`rules.${rule}.${field}`, rule, field);
      continue;
    }

    const guess = suggest(name, known);
    problems.push({
      key: name,
      source,
      message: `unknown variable${guess ? `; did you mean ${guess}?` : ''} (README lists every BANHAMMER_* variable)`,
    });
  }

  // BANHAMMER_RULES says exactly which rules run; a per-rule ENABLED saying otherwise is a contradiction.
  if (patch.selection !== null) {
    const selected = new Set(patch.selection);
    for (const [rule, p] of Object.entries(patch.rules)) {
      if (p.enabled !== undefined && p.enabled !== selected.has(rule)) {
        problems.push({
          key: `rules.${rule}.enabled`,
          source: `env ${ruleEnvName(rule, 'enabled')}`,
          value: p.enabled,
          message: `contradicts ${ENV_RULES} (which ${selected.has(rule) ? 'lists' : 'does not list'} "${rule}"); set only one of them`,
        });
      }
    }
  }
  return { patch, problems };
}
