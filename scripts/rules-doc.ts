/**
 * The README's table of presets, generated from presets/*.yaml so it cannot drift from the files:
 * scripts/gen-rules-doc.ts writes it between `<!-- rules-table:start -->` and `<!-- rules-table:end -->`,
 * and a unit test fails when README.md holds anything else there.
 *
 * Each preset gives one row (name, description, what the window counts and its thresholds, whether it
 * is on by default), and below the table the comment of its file that says why its thresholds are
 * what they are (the lines starting with `#` at the start of a line, before `match:`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDuration } from '../src/config/duration.js';
import type { RuleDefinition } from '../src/detect/rule-file.js';

export const RULES_TABLE_START = '<!-- rules-table:start -->';
export const RULES_TABLE_END = '<!-- rules-table:end -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** "5 in 1m → 1h", "40 distinct paths in 10s → 10m", with the increment when there is one. */
export function thresholdText(d: RuleDefinition): string {
  const s = d.settings;
  const what = s.count === 'distinct-paths' ? `${s.maxretry} distinct ${s.maxretry === 1 ? 'path' : 'paths'}` : String(s.maxretry);
  const inc = s.increment === null ? '' : ` (×${s.increment.factor} per repeat, up to ${formatDuration(s.increment.maxtime)})`;
  return `${what} in ${formatDuration(s.findtime)} → ${formatDuration(s.bantime)}${inc}`;
}

/** The comment block of a rule file's top level that explains it (the `# …` lines before `match:`). */
export function rationale(text: string): string {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^match:/.test(line)) break;
    const m = /^#\s?(.*)$/.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  return out.join(' ').replace(/\s+/g, ' ').trim();
}

/**
 * The generated block (without the markers). `readText(file)` returns a definition's file text (its
 * `file` is `presets/<name>.yaml`, relative to the repository root).
 */
export function renderRulesTable(defs: readonly RuleDefinition[], readText: (file: string) => string): string {
  const sorted = [...defs].sort((a, b) => Number(b.settings.enabled) - Number(a.settings.enabled) || a.name.localeCompare(b.name));
  const lines = ['| preset | catches | threshold | on by default |', '| --- | --- | --- | --- |'];
  for (const d of sorted) {
    lines.push(`| ${cell(`\`${d.name}\``)} | ${cell(d.settings.description)} | ${cell(thresholdText(d))} | ${d.settings.enabled ? '**yes**' : 'no'} |`);
  }
  lines.push('', '<details><summary>Why each preset’s thresholds are what they are (from the comment in its file)</summary>', '');
  for (const d of sorted) {
    const why = rationale(readText(d.file));
    const refs = d.settings.references ?? [];
    lines.push(`- \`${d.name}\` (${d.file}): ${why === '' ? '—' : why}${refs.length > 0 ? ` References: ${refs.map((r, i) => `[${i + 1}](${r})`).join(', ')}.` : ''}`);
  }
  lines.push('', '</details>');
  return lines.join('\n');
}

/** README with the block between the markers replaced; null when the markers are missing. */
export function replaceRulesTable(readme: string, block: string): string | null {
  const start = readme.indexOf(RULES_TABLE_START);
  const end = readme.indexOf(RULES_TABLE_END);
  if (start < 0 || end < start) return null;
  return `${readme.slice(0, start + RULES_TABLE_START.length)}\n${block}\n${readme.slice(end)}`;
}

/** Reads a preset file given as `presets/<name>.yaml` from the repository at `root`. */
export function fileReader(root: string): (file: string) => string {
  return (file) => readFileSync(join(root, file), 'utf8');
}
