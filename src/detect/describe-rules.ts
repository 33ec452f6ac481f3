/**
 * `banhammer rules`: every rule the configuration defines (the presets, then the user's own from
 * rules_dir or the YAML file), whether it runs, its thresholds and its one-line description, as text
 * for a terminal or as JSON.
 */
import { formatDuration, isPermanent } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { isPreset } from './presets.js';
import type { RuleSettings } from './rule.js';

export interface RuleListing {
  readonly name: string;
  readonly enabled: boolean;
  /** `preset` (presets/), or `user` (rules_dir or the YAML file). */
  readonly source: 'preset' | 'user';
  readonly description: string;
  readonly count: 'failures' | 'distinct-paths';
  readonly maxretry: number;
  /** ms */
  readonly findtime: number;
  /** ms; -1 for a permanent ban */
  readonly bantime: number;
  readonly references: readonly string[];
}

export function listRules(config: Config): RuleListing[] {
  const entries = Object.entries(config.rules) as [string, RuleSettings][];
  const rank = (n: string): number => (isPreset(n) ? 0 : 1);
  return entries
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([name, r]) => ({
      name,
      enabled: r.enabled,
      source: isPreset(name) ? 'preset' : 'user',
      description: r.description,
      count: r.count ?? 'failures',
      maxretry: r.maxretry,
      findtime: r.findtime,
      bantime: isPermanent(r.bantime) ? -1 : r.bantime,
      references: r.references ?? [],
    }));
}

/** One line per rule: on/off, name, threshold, description. */
export function formatRules(list: readonly RuleListing[]): string {
  const w = Math.max(4, ...list.map((r) => r.name.length));
  const threshold = (r: RuleListing): string =>
    `${r.maxretry}${r.count === 'distinct-paths' ? ' paths' : ''} in ${formatDuration(r.findtime)} -> ${r.bantime === -1 ? 'permanent' : formatDuration(r.bantime)}`;
  const tw = Math.max(...list.map((r) => threshold(r).length), 9);
  const out = [`${'    '}${'RULE'.padEnd(w)}  ${'THRESHOLD'.padEnd(tw)}  DESCRIPTION`];
  for (const r of list) {
    out.push(`${r.enabled ? 'on ' : 'off'} ${r.name.padEnd(w)}  ${threshold(r).padEnd(tw)}  ${r.source === 'user' ? '(yours) ' : ''}${oneLine(r.description)}`);
  }
  const on = list.filter((r) => r.enabled).map((r) => r.name);
  out.push('', `${on.length} of ${list.length} rules on${on.length > 0 ? `: ${on.join(', ')}` : ''}. Switch rules with BANHAMMER_RULES (exactly these) or BANHAMMER_RULE_<NAME>_ENABLED; see them on your logs with banhammer replay FILE --all-rules.`);
  return `${out.join('\n')}\n`;
}

/** A description as one printable line (a user's rule file is hostile input to the terminal too). */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
