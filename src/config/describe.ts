/**
 * The effective configuration for humans and machines (`banhammer check-config [--json]`).
 *
 * describeConfig renders YAML in the file's own vocabulary (snake_case keys, durations as `1h30m`,
 * `permanent`), so its output is itself a valid config file that loads back to the same Config, except
 * that secrets are masked in it as in every description (`***`: tokens; a URL keeps its scheme, host
 * and port, its user info, path and query become `***`; redactedConfig in settings.ts). Given
 * the sources from resolveConfig, each value that did not come from the defaults carries a trailing
 * comment saying where it came from. configToJson is the machine form: the Config shape with ms
 * numbers, a permanent bantime written as -1 (JSON has no Infinity).
 */
import { Document, isMap, isScalar, isSeq, visit } from 'yaml';
import type { RuleMatch, RuleSettings } from '../detect/rule.js';
import { MATCH_NESTED_FIELDS, MATCH_PATTERN_FIELDS } from './rule-schema.js';
import { formatDuration, isPermanent } from './duration.js';
import { SETTING_KEYS, SETTINGS, type Config, type SettingSpec } from './schema.js';
import { redactedConfig, settingValues } from './settings.js';
import { configWarnings } from './warnings.js';

/** A match in the file's vocabulary (snake_case; fields beyond status, paths and methods only when set). */
function matchToYaml(m: RuleMatch): Record<string, unknown> {
  const out: Record<string, unknown> = { status: m.status === null ? null : [...m.status], paths: [...m.paths], methods: [...m.methods] };
  for (const [yaml, key] of Object.entries(MATCH_PATTERN_FIELDS)) {
    const v = m[key];
    if (key !== 'paths' && v !== undefined && v.length > 0) out[yaml] = [...v];
  }
  for (const [yaml, key] of Object.entries(MATCH_NESTED_FIELDS)) {
    const v = m[key];
    if (v !== undefined && v.length > 0) out[yaml] = v.map(matchToYaml);
  }
  return out;
}

function ruleToYaml(r: RuleSettings): Record<string, unknown> {
  return {
    enabled: r.enabled,
    description: r.description,
    match: matchToYaml(r.match),
    ...(r.count !== undefined && r.count !== 'failures' ? { count: r.count } : {}),
    maxretry: r.maxretry,
    findtime: formatDuration(r.findtime),
    bantime: formatDuration(r.bantime),
    increment: r.increment === null ? null : { factor: r.increment.factor, maxtime: formatDuration(r.increment.maxtime) },
  };
}

/** The config as a plain object in YAML-file form (snake_case keys, formatted durations), secrets masked. */
export function configToYamlObject(c: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const values = settingValues(redactedConfig(c)) as unknown as Record<string, unknown>;
  for (const key of SETTING_KEYS) {
    const [a, b] = (SETTINGS[key] as SettingSpec<unknown>).yamlPath as [string, string | undefined];
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    const v = spec.toYaml !== undefined ? spec.toYaml(values[key]) : values[key];
    const copy = Array.isArray(v) ? [...(v as unknown[])] : v;
    if (b === undefined) out[a] = copy;
    else ((out[a] ??= {}) as Record<string, unknown>)[b] = copy;
  }
  out.rules = Object.fromEntries(Object.entries(c.rules).map(([name, r]) => [name, ruleToYaml(r)]));
  return out;
}

export interface DescribeOptions {
  /** From resolveConfig: YAML key path → source; values not listed came from the defaults. */
  readonly sources?: ReadonlyMap<string, string> | undefined;
}

export function describeConfig(c: Config, opts: DescribeOptions = {}): string {
  const doc = new Document(configToYamlObject(c));
  // Short lists of scalars read better inline: ports: [ 80, 443 ].
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => isScalar(i)) && node.items.length <= 8) node.flow = true;
    },
    // Text with a character a terminal obeys or reorders by (C1, bidi, separators: the yaml library
    // writes them raw) is double-quoted, where the \uXXXX written for it below reads back the same.
    Scalar(_, node) {
      if (typeof node.value === 'string' && TERMINAL_UNSAFE_RE.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  for (const [key, source] of opts.sources ?? []) {
    const path = key.split('.');
    const node = doc.getIn(path, true);
    if (isScalar(node) || isSeq(node)) {
      node.comment = ` from ${source}`;
    } else if (isMap(node)) {
      // A block mapping's own comment would land below it; put it on its key instead (`match: # from …`).
      const parent = doc.getIn(path.slice(0, -1), true);
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]) : undefined;
      if (pair !== undefined && isScalar(pair.key)) pair.key.comment = ` from ${source}`;
    }
  }
  const enabled = Object.entries(c.rules).filter(([, r]) => r.enabled).map(([n]) => n);
  // Settings that switch protection off load (they may be meant) but are said first (warnings.ts).
  const warnings = configWarnings(c).map((w) => `\n warning: ${w}`).join('');
  doc.commentBefore = ` effective banhammer configuration; rules that run: ${enabled.length > 0 ? enabled.join(', ') : '(none)'}${warnings}`;
  return terminalSafe(doc.toString({ lineWidth: 0 }));
}

/**
 * What the yaml library and JSON.stringify leave raw of the characters terminal-text.ts escapes:
 * DEL, C1 controls, bidi marks, overrides and isolates, line and paragraph separators. A rule file,
 * a log path or a pattern in the configuration may hold them (someone else's rules), and check-config
 * printed them to the operator's terminal as they were.
 */
// eslint-disable-next-line no-control-regex
const TERMINAL_UNSAFE_RE = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const TERMINAL_UNSAFE_ALL_RE = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** Each such character as \uXXXX: inside a JSON string or a double-quoted YAML scalar, the same text. */
function terminalSafe(text: string): string {
  return text.replace(TERMINAL_UNSAFE_ALL_RE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON-safe form of the Config: same shape and ms numbers; a permanent duration is -1; secrets masked. */
export function configToJson(c: Config): unknown {
  const ms = (v: number): number => (isPermanent(v) ? -1 : v);
  return {
    ...redactedConfig(c),
    rules: Object.fromEntries(
      Object.entries(c.rules).map(([name, r]) => [
        name,
        { ...r, bantime: ms(r.bantime), increment: r.increment === null ? null : { factor: r.increment.factor, maxtime: ms(r.increment.maxtime) } },
      ]),
    ),
  };
}

export function describeConfigJson(c: Config): string {
  return `${terminalSafe(JSON.stringify(configToJson(c), null, 2))}\n`;
}
