/**
 * Named presets: the rule files of presets/ (one rule per file, README "Rules"), loaded once
 * (preset-files.ts: from the directory when run from sources, embedded in the bundle). A file's
 * `enabled` says whether it runs by default (today `forbidden` and `exploit-probes`; README "Rules"
 * says why); the others are switched on with BANHAMMER_RULES, `enabled: true` in the YAML file or
 * BANHAMMER_RULE_<NAME>_ENABLED, and any field can be overridden.
 *
 * PRESETS has no prototype: `PRESETS['constructor']` is undefined, not Object's constructor, so a
 * name from the outside can be looked up directly. Still prefer isPreset() for membership.
 */
import type { RuleSettings } from './rule.js';
import type { RuleDefinition } from './rule-file.js';
import { presetDefinitions } from './preset-files.js';

export const DEFAULT_RULE = 'forbidden';

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** Every preset with its file and samples, in name order. */
export const PRESET_DEFINITIONS: readonly RuleDefinition[] = deepFreeze(presetDefinitions());

export const PRESETS: Readonly<Record<string, RuleSettings>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, RuleSettings>, Object.fromEntries(PRESET_DEFINITIONS.map((d) => [d.name, d.settings]))),
);

export const PRESET_NAMES = Object.keys(PRESETS);

/** True when `name` is a preset (an own key of PRESETS, never an inherited one). */
export function isPreset(name: string): boolean {
  return Object.hasOwn(PRESETS, name);
}
