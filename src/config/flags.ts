/**
 * The command-line layer: the typed overrides cli.ts parsed, validated exactly like environment values
 * and sourced by flag name (`flag --rules`) in messages.
 */
import { emptyPatch, type ConfigPatch } from './patch.js';
import { problemsFromIssues, suggester, type Problem } from './problems.js';
import { SETTINGS, type SettingKey, type SettingSpec } from './schema.js';
import { splitRuleList } from './env.js';

export interface ConfigFlags {
  configPath?: string | undefined;
  /** Exactly the rules that run (each item may itself be a comma list). */
  rules?: readonly string[] | undefined;
  logPaths?: readonly string[] | undefined;
  logFormat?: string | undefined;
  ignoreip?: readonly string[] | undefined;
  instance?: string | undefined;
}

/** How each flag is spelt on the command line, for messages. */
export const FLAG_NAMES: Readonly<Record<keyof ConfigFlags, string>> = {
  configPath: '--config',
  rules: '--rules',
  logPaths: '--log-path',
  logFormat: '--log-format',
  ignoreip: '--ignoreip',
  instance: '--instance',
};

export interface FlagsLayer {
  readonly patch: ConfigPatch;
  readonly problems: Problem[];
}

export function readFlags(flags: ConfigFlags, knownRules: ReadonlySet<string>): FlagsLayer {
  const patch = emptyPatch();
  const problems: Problem[] = [];
  const suggest = suggester();

  const set = (flag: keyof ConfigFlags, key: SettingKey, value: unknown): void => {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    const source = `flag ${FLAG_NAMES[flag]}`;
    const r = spec.schema.safeParse(value, { reportInput: true });
    if (!r.success) {
      problems.push(...problemsFromIssues(r.error.issues, source, spec.yamlPath, suggest));
      return;
    }
    (patch.settings as Record<string, unknown>)[key] = r.data;
    patch.sources.set(spec.yamlPath.join('.'), source);
  };

  if (flags.instance !== undefined) set('instance', 'instance', flags.instance);
  if (flags.logPaths !== undefined) set('logPaths', 'logPaths', [...flags.logPaths]);
  if (flags.logFormat !== undefined) set('logFormat', 'logFormat', flags.logFormat);
  if (flags.ignoreip !== undefined) set('ignoreip', 'ignoreip', flags.ignoreip.join(','));

  if (flags.rules !== undefined) {
    const source = `flag ${FLAG_NAMES.rules}`;
    const names = flags.rules.flatMap(splitRuleList);
    const unknown = names.filter((n) => !knownRules.has(n));
    const knownRuleList = [...knownRules].join(', ');
    for (const n of unknown) {
      const guess = suggest(n, knownRules);
      problems.push({ key: 'rules', source, value: n, message: `unknown rule${guess ? ` (did you mean "${guess}"?)` : ''}; known rules: ${knownRuleList}` });
    }
    if (names.length === 0) problems.push({ key: 'rules', source, value: flags.rules, message: 'name at least one rule' });
    if (unknown.length === 0 && names.length > 0) {
      patch.selection = [...new Set(names)];
      for (const r of knownRules) patch.sources.set(`rules.${r}.enabled`, source);
    }
  }
  return { patch, problems };
}
