/**
 * The README's table of environment variables, generated from the schema so it cannot drift:
 * scripts/gen-env-table.ts writes it between `<!-- env-table:start -->` and `<!-- env-table:end -->`,
 * and a unit test fails when README.md holds anything else there.
 */
import { formatDuration } from './duration.js';
import { ENV_CONFIG, ENV_RULES, DEFAULT_RULE, PRESETS, RULE_ENV_FIELDS, SETTING_KEYS, SETTINGS } from './schema.js';

export const ENV_TABLE_START = '<!-- env-table:start -->';
export const ENV_TABLE_END = '<!-- env-table:end -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string): string => `\`${s}\``;

export function renderEnvTable(): string {
  const presetNames = Object.keys(PRESETS);
  const enabled = presetNames.filter((n) => PRESETS[n]!.enabled);
  const def = PRESETS[DEFAULT_RULE]!;
  const defaults: Record<string, string> = {
    maxretry: String(def.maxretry),
    findtime: formatDuration(def.findtime),
    bantime: formatDuration(def.bantime),
  };

  const rows: [string, string, string, string, string][] = [
    [code(ENV_CONFIG), 'YAML configuration file (read before the variables below, which override it)', '(none)', 'path', 're-read'],
  ];
  for (const key of SETTING_KEYS) {
    const s = SETTINGS[key];
    rows.push([code(s.env), `${s.description} (YAML \`${s.yamlPath.join('.')}\`)`, s.defaultText, s.allowed, s.reload]);
  }
  rows.push([code(ENV_RULES), 'Exactly the rules that run (all others are switched off)', enabled.join(', '), 'comma-separated rule names: presets (`banhammer rules` lists them), or your own rules (rules_dir, YAML file)', 'live']);
  for (const f of Object.values(RULE_ENV_FIELDS)) {
    if (f.defaultRuleEnv === null) continue;
    const field = f.env.toLowerCase();
    rows.push([code(f.defaultRuleEnv), `Default rule \`${DEFAULT_RULE}\`: ${f.description}`, defaults[field] ?? '', f.allowed, 'live']);
  }
  for (const f of Object.values(RULE_ENV_FIELDS)) {
    rows.push([
      code(`BANHAMMER_RULE_<NAME>_${f.env}`),
      `Rule NAME (upper-case, \`-\` → \`_\`, e.g. \`BANHAMMER_RULE_NOT_FOUND_${f.env}\`): ${f.description}`,
      'the rule’s own',
      f.allowed,
      'live',
    ]);
  }

  const lines = ['| Variable | Meaning | Default | Allowed values | On reload |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  lines.push(
    '',
    'Precedence: defaults, then the YAML file, then these variables, then command-line flags. An empty variable counts as unset; an unknown `BANHAMMER_*` variable is an error. Durations: seconds (`600`) or units `s m h d w` combined (`1h30m`). On reload (SIGHUP, which re-reads the YAML file; the environment of a running process does not change): `live` settings take effect at once, `restart` ones keep their running value until the agent restarts and the reload logs a warning naming them.',
  );
  return lines.join('\n');
}

/** Replaces the region between the markers; null when the markers are missing or out of order. */
export function replaceEnvTable(readme: string, table: string = renderEnvTable()): string | null {
  const a = readme.indexOf(ENV_TABLE_START);
  const b = readme.indexOf(ENV_TABLE_END);
  if (a < 0 || b < a) return null;
  return `${readme.slice(0, a + ENV_TABLE_START.length)}\n${table}\n${readme.slice(b)}`;
}

/** The text between the markers, without the surrounding newlines; null when the markers are missing. */
export function extractEnvTable(readme: string): string | null {
  const a = readme.indexOf(ENV_TABLE_START);
  const b = readme.indexOf(ENV_TABLE_END);
  if (a < 0 || b < a) return null;
  return readme.slice(a + ENV_TABLE_START.length, b).replace(/^\n/, '').replace(/\n$/, '');
}
