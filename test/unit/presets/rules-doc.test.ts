/**
 * The README's presets table is generated from presets/*.yaml (scripts/gen-rules-doc.ts): a stale
 * README fails here, and the generator itself is checked on a made-up preset.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRESET_DEFINITIONS } from '../../../src/detect/presets.js';
import type { RuleDefinition } from '../../../src/detect/rule-file.js';
import { fileReader, rationale, renderRulesTable, replaceRulesTable, RULES_TABLE_END, RULES_TABLE_START, thresholdText } from '../../../scripts/rules-doc.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

const def = (over: Partial<RuleDefinition['settings']>): RuleDefinition => ({
  name: 'probe',
  file: 'presets/probe.yaml',
  settings: { enabled: false, description: 'A | probe', match: { status: null, paths: [], methods: [] }, maxretry: 3, findtime: 600_000, bantime: 86_400_000, increment: null, ...over },
  samples: { match: [], noMatch: [] },
});

describe('README presets table (npm run check:rules-doc)', () => {
  it('is up to date with presets/*.yaml', () => {
    const next = replaceRulesTable(readme, renderRulesTable(PRESET_DEFINITIONS, fileReader(root)));
    expect(next, `README.md needs ${RULES_TABLE_START} … ${RULES_TABLE_END}`).not.toBeNull();
    expect(next === readme, 'README.md presets table is stale: run `npm run gen:rules-doc`').toBe(true);
  });

  it('lists every preset once, with whether it is on by default', () => {
    const block = readme.slice(readme.indexOf(RULES_TABLE_START), readme.indexOf(RULES_TABLE_END));
    for (const d of PRESET_DEFINITIONS) {
      const rows = block.split('\n').filter((l) => l.startsWith(`| \`${d.name}\` |`));
      expect(rows, d.name).toHaveLength(1);
      expect(rows[0]!.endsWith(d.settings.enabled ? '| **yes** |' : '| no |'), d.name).toBe(true);
    }
  });

  it('renders thresholds, counts and increments, escapes cells, and picks the file comment as the rationale', () => {
    expect(thresholdText(def({}))).toBe('3 in 10m → 1d');
    expect(thresholdText(def({ count: 'distinct-paths', maxretry: 40, findtime: 10_000, bantime: 600_000 }))).toBe('40 distinct paths in 10s → 10m');
    expect(thresholdText(def({ count: 'distinct-paths', maxretry: 1 }))).toBe('1 distinct path in 10m → 1d');
    expect(thresholdText(def({ maxretry: 1, increment: { factor: 2, maxtime: 4 * 7 * 86_400_000 } }))).toBe('1 in 10m → 1d (×2 per repeat, up to 4w)');
    const text = 'name: probe\n# Why: scanners\n# send many.\nmatch:\n  # not this\n  paths: []\n';
    expect(rationale(text)).toBe('Why: scanners send many.');
    const block = renderRulesTable([def({ enabled: true })], () => text);
    expect(block).toContain('| `probe` | A \\| probe | 3 in 10m → 1d | **yes** |');
    expect(block).toContain('- `probe` (presets/probe.yaml): Why: scanners send many.');
    expect(replaceRulesTable('no markers', block)).toBeNull();
    expect(replaceRulesTable(`a\n${RULES_TABLE_START}\nold\n${RULES_TABLE_END}\nb`, 'new')).toBe(`a\n${RULES_TABLE_START}\nnew\n${RULES_TABLE_END}\nb`);
  });
});
