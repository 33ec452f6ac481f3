/**
 * What one configuration layer (file, environment, flags) says: a partial set of values, already
 * validated and normalised, plus where each came from. Layers are merged over the defaults in order,
 * later ones winning key by key (lists are replaced, not appended; a rule's `match` is merged field by
 * field).
 */
import type { RulePatch, SettingTypes } from './schema.js';

export interface ConfigPatch {
  readonly settings: Partial<SettingTypes>;
  /** Null-prototype: a rule name is only ever an own key. */
  readonly rules: Record<string, RulePatch>;
  /** Exactly these rules run (BANHAMMER_RULES, --rules), or null when the layer does not say. */
  selection: readonly string[] | null;
  /** YAML key path (rules.forbidden.maxretry) → source label, for check-config and messages. */
  readonly sources: Map<string, string>;
}

export function emptyPatch(): ConfigPatch {
  return { settings: {}, rules: Object.create(null) as Record<string, RulePatch>, selection: null, sources: new Map() };
}
