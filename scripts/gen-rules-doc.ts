/**
 * Rewrites README.md's presets table (section "Rules") from presets/*.yaml.
 *   tsx scripts/gen-rules-doc.ts           write the table between the rules-table markers
 *   tsx scripts/gen-rules-doc.ts --check   exit 1 when README.md is out of date (for CI)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PRESET_DEFINITIONS } from '../src/detect/presets.js';
import { fileReader, renderRulesTable, replaceRulesTable, RULES_TABLE_END, RULES_TABLE_START } from './rules-doc.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const check = process.argv.includes('--check');
const readme = readFileSync(readmePath, 'utf8');
const next = replaceRulesTable(readme, renderRulesTable(PRESET_DEFINITIONS, fileReader(root)));

if (next === null) {
  process.stderr.write(`gen-rules-doc: README.md has no ${RULES_TABLE_START} … ${RULES_TABLE_END} region; add both markers where the table belongs\n`);
  process.exitCode = 1;
} else if (check) {
  if (next !== readme) {
    process.stderr.write('gen-rules-doc: README.md presets table is out of date; run `npm run gen:rules-doc`\n');
    process.exitCode = 1;
  }
} else if (next !== readme) {
  writeFileSync(readmePath, next);
  process.stdout.write('gen-rules-doc: README.md updated\n');
} else {
  process.stdout.write('gen-rules-doc: README.md already up to date\n');
}
