/**
 * Where the presets come from: the rule files in presets/ at the package root.
 *
 * Run from the TypeScript sources (tsx, vitest) they are read and validated here, from the
 * directory. The bundle (scripts/bundle.ts) replaces this module with one that returns the same
 * definitions, read and validated at build time: dist/banhammer.js carries them, so the npm package
 * and both images need no presets/ directory, and the agent parses no YAML at boot (the yaml module
 * costs ~9 MB RSS, loaded only for a config file or a rules directory).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRuleDirOrThrow, type RuleDefinition } from './rule-file.js';

/** The presets/ directory: the nearest one above this module, beside a package.json. */
export function presetDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'presets')) && existsSync(join(d, 'package.json'))) return join(d, 'presets');
    if (dirname(d) === d) throw new Error(`no presets/ directory above ${from}`);
  }
}

/** Every preset, in file-name order. */
export function presetDefinitions(): RuleDefinition[] {
  return readRuleDirOrThrow(presetDir(), { defaultEnabled: false, trusted: true }).map((r) => ({ ...r, file: `presets/${r.file.split('/').pop()}` }));
}
