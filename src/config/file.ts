/**
 * The YAML configuration file layer.
 *
 * readConfigFile reads through an injected `readFile`, parses YAML 1.2 (duplicate keys are errors),
 * and validates against FILE_SCHEMA. A file that is missing, unreadable, not YAML or not a mapping at
 * the top is one BH_ERR_CONFIG_FILE error thrown at once; invalid values are returned as Problems
 * (sourced `file <path>`) so they are reported together with the other layers'. An empty file is an
 * empty layer.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

/** yaml is loaded on first use: an agent configured by environment alone never pays its ~9 MB. */
let yamlModule: typeof Yaml | undefined;
function parseDocument(...args: Parameters<typeof Yaml.parseDocument>): ReturnType<typeof Yaml.parseDocument> {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule.parseDocument(...args);
}
import { BanhammerError } from '../errors.js';
import { emptyPatch, type ConfigPatch } from './patch.js';
import { problemsFromIssues, type Problem } from './problems.js';
import { FILE_SCHEMA, SETTING_KEYS, SETTINGS, readYamlPath, ruleNameProblem, type RulePatch, type SettingSpec } from './schema.js';

export interface FileLayer {
  readonly patch: ConfigPatch;
  readonly problems: Problem[];
  /** Rule names the file defines (valid names only, even when the rule itself has problems). */
  readonly ruleNames: string[];
}

function fileError(path: string, via: string, what: string, hint: string, cause?: unknown): BanhammerError {
  return new BanhammerError('BH_ERR_CONFIG_FILE', `config file ${path} (from ${via}) ${what}`, { hint, data: { path }, cause });
}

export function readConfigFile(path: string, readFile: (path: string) => string, via: string): FileLayer {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(path, via, 'does not exist', `create it, or point ${via} at the right file`, e);
    if (code === 'EACCES' || code === 'EPERM') throw fileError(path, via, 'cannot be read: permission denied', 'make it readable by the user banhammer runs as', e);
    if (code === 'EISDIR') throw fileError(path, via, 'is a directory', 'give the path of a YAML file', e);
    if (code === 'ENOTREG') throw fileError(path, via, 'is not a regular file', 'give the path of a YAML file', e);
    if (code === 'EFBIG') throw fileError(path, via, 'is too large to be a configuration file', 'give the path of a YAML file', e);
    throw fileError(path, via, `cannot be read: ${(e as Error).message}`, 'check the path and its permissions', e);
  }

  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const list = doc.errors.slice(0, 5).map((err) => `  ${(err.message.split('\n')[0] ?? '').replace(/:$/, '')}`).join('\n');
    throw fileError(path, via, `is not valid YAML:\n${list}`, 'fix the YAML syntax (indentation, quoting, duplicate keys)');
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw fileError(path, via, `cannot be loaded: ${(e as Error).message}`, 'avoid YAML alias bombs and custom tags', e);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw fileError(path, via, 'must be a mapping of settings at the top level', 'start with keys such as `rules:` or `ignoreip:`');
  }

  const rawRules = (raw as Record<string, unknown>).rules;
  const ruleNames = rawRules !== null && typeof rawRules === 'object' && !Array.isArray(rawRules) ? Object.keys(rawRules).filter((n) => ruleNameProblem(n) === null) : [];

  const source = `file ${path}`;
  const parsed = FILE_SCHEMA.safeParse(raw, { reportInput: true });
  const patch = emptyPatch();
  // zod's record drops a `__proto__` key without a word (so it cannot replace the output's prototype);
  // say so instead of silently ignoring the user's rule.
  const protoRule: Problem[] =
    rawRules !== null && typeof rawRules === 'object' && Object.hasOwn(rawRules, '__proto__')
      ? [{ key: 'rules.__proto__', source, message: `invalid name: ${ruleNameProblem('__proto__')}` }]
      : [];
  if (!parsed.success) return { patch, problems: [...protoRule, ...problemsFromIssues(parsed.error.issues, source)], ruleNames };
  if (protoRule.length > 0) return { patch, problems: protoRule, ruleNames };

  const data = parsed.data as Record<string, unknown>;
  const settings = patch.settings as Record<string, unknown>;
  for (const key of SETTING_KEYS) {
    const spec = SETTINGS[key] as SettingSpec<unknown>;
    const v = readYamlPath(data, spec.yamlPath);
    if (v === undefined) continue;
    settings[key] = v;
    patch.sources.set(spec.yamlPath.join('.'), source);
  }
  const rules = (data.rules ?? {}) as Record<string, RulePatch>;
  for (const [name, rule] of Object.entries(rules)) {
    patch.rules[name] = rule;
    for (const field of Object.keys(rule)) patch.sources.set(`rules.${name}.${field}`, source);
  }
  return { patch, problems: [], ruleNames };
}
