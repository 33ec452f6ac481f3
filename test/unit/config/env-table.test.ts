import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_TABLE_END, ENV_TABLE_START, IMAGE_ENV_ROWS, extractEnvTable, renderEnvTable, replaceEnvTable } from '../../../src/config/env-table.js';
import { knownEnvNames } from '../../../src/config/env.js';
import { SETTING_KEYS, SETTINGS } from '../../../src/config/schema.js';

const readmePath = new URL('../../../README.md', import.meta.url).pathname;
const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
const hasMarkers = readme.includes(ENV_TABLE_START) && readme.includes(ENV_TABLE_END);

describe('renderEnvTable', () => {
  const table = renderEnvTable();
  it('has a row for every variable the loader accepts, and no other', () => {
    const rows = table.split('\n').filter((l) => l.startsWith('| `'));
    const names = rows.map((l) => /^\| `([^`]+)`/.exec(l)![1]!);
    const accepted = knownEnvNames([]);
    for (const n of accepted) expect(names).toContain(n);
    const patterns = names.filter((n) => n.includes('<NAME>'));
    expect(patterns).toEqual(['BANHAMMER_RULE_<NAME>_MAXRETRY', 'BANHAMMER_RULE_<NAME>_FINDTIME', 'BANHAMMER_RULE_<NAME>_BANTIME', 'BANHAMMER_RULE_<NAME>_ENABLED']);
    // and the image's own settings (docker/ scripts read them; the agent never does)
    const image = IMAGE_ENV_ROWS.map((r) => r[0].replace(/`/g, ''));
    for (const n of image) expect(names).toContain(n);
    expect(names.length).toBe(accepted.length + patterns.length + image.length);
  });
  it('states each setting’s default and allowed values from the schema', () => {
    for (const k of SETTING_KEYS) {
      const s = SETTINGS[k];
      const row = table.split('\n').find((l) => l.startsWith(`| \`${s.env}\` |`));
      expect(row, s.env).toBeDefined();
      expect(row).toContain(`| ${s.defaultText.replace(/\|/g, '\\|')} |`);
      expect(row).toContain(s.allowed.replace(/\|/g, '\\|'));
    }
    expect(table).toContain('| `BANHAMMER_MAXRETRY` | Default rule `forbidden`: matching requests within findtime that trigger a ban | 5 |');
  });
  it('replaces exactly the marked region', () => {
    const doc = `# T\n\nbefore\n${ENV_TABLE_START}\nstale\n${ENV_TABLE_END}\nafter\n`;
    const out = replaceEnvTable(doc, 'NEW')!;
    expect(out).toBe(`# T\n\nbefore\n${ENV_TABLE_START}\nNEW\n${ENV_TABLE_END}\nafter\n`);
    expect(extractEnvTable(out)).toBe('NEW');
    expect(replaceEnvTable('no markers')).toBeNull();
    expect(replaceEnvTable(`${ENV_TABLE_END}${ENV_TABLE_START}`)).toBeNull();
  });
});

describe('README.md', () => {
  it.skipIf(!hasMarkers)(
    `holds renderEnvTable() between the env-table markers (skipped when README.md lacks ${ENV_TABLE_START} … ${ENV_TABLE_END}; regenerate with tsx scripts/gen-env-table.ts)`,
    () => {
      expect(extractEnvTable(readme)).toBe(renderEnvTable());
    },
  );
});
