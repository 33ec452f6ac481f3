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

/** Settings of the banhammer images, read by docker/bin/* and docker/s6/* (a unit test keeps the list complete). */
export const IMAGE_ENV_ROWS: readonly [string, string, string, string, string][] = [
  ['`IMAGE_MODE`', 'Image only: `app` runs Apache, a syslogd and the agent; `host` runs the agent alone for the containers of a Docker host (README “Host mode”)', 'app', 'app, host', 'container restart'],
  ['`HTTP_PORT`', 'Image only: the port Apache listens on; BANHAMMER_PORTS defaults to it (with HTTPS_PORT), and a BANHAMMER_PORTS of your own that leaves either out draws a warning at start', '80', 'integer 1–65535 (no leading zero)', 'container restart'],
  ['`HTTPS_PORT`', 'Image only: Apache’s TLS port (a Listen under mod_ssl), added to the default BANHAMMER_PORTS', '(none)', 'integer 1–65535, not HTTP_PORT', 'container restart'],
  ['`ACCESS_LOG_ROTATE_SIZE`', 'Image only: the access log (/var/log/apache2/access/current) is rotated by s6-log when it would exceed this size', '10M', 'bytes, or a number with K or M; 4K–255M', 'container restart'],
  ['`ACCESS_LOG_ROTATE_KEEP`', 'Image only: rotated access-log files kept', '2', 'integer 1–100', 'container restart'],
  ['`AGENT_STOP_TIMEOUT`', 'Image only: on `docker stop`, seconds the agent is given to remove its rules before it is killed (keep it + 6 below the stop grace period)', '6', 'integer 1–600', 'container restart'],
];

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

  // The image's own settings (read by its scripts under docker/, not by the agent: no BANHAMMER_
  // prefix, so the agent's unknown-variable check never sees them). On reload: the container's.
  rows.push(...IMAGE_ENV_ROWS);

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
