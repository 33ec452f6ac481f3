/**
 * Rewrites README.md's environment-variable table from the config schema.
 *   tsx scripts/gen-env-table.ts           write the table between the env-table markers
 *   tsx scripts/gen-env-table.ts --check   exit 1 when README.md is out of date (for CI)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ENV_TABLE_END, ENV_TABLE_START, replaceEnvTable } from '../src/config/env-table.js';

const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const check = process.argv.includes('--check');
const readme = readFileSync(readmePath, 'utf8');
const next = replaceEnvTable(readme);

if (next === null) {
  process.stderr.write(`gen-env-table: README.md has no ${ENV_TABLE_START} … ${ENV_TABLE_END} region; add both markers where the table belongs\n`);
  process.exitCode = 1;
} else if (check) {
  if (next !== readme) {
    process.stderr.write('gen-env-table: README.md environment table is out of date; run `tsx scripts/gen-env-table.ts`\n');
    process.exitCode = 1;
  }
} else if (next !== readme) {
  writeFileSync(readmePath, next);
  process.stdout.write('gen-env-table: README.md updated\n');
} else {
  process.stdout.write('gen-env-table: README.md already up to date\n');
}
