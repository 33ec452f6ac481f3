/**
 * The YAML configuration file layer.
 *
 * readConfigFile reads through an injected `readFile`, parses YAML 1.2 (duplicate keys are errors),
 * and validates against FILE_SCHEMA. A file that is missing, unreadable, not YAML or not a mapping at
 * the top is one BH_ERR_CONFIG_FILE error thrown at once; invalid values are returned as Problems
 * (sourced `file <path>`) so they are reported together with the other layers'. An empty file is an
 * empty layer.
 */
import { parseDocument, structureProblem } from './yaml-document.js';
import { BanhammerError } from '../errors.js';
import { emptyPatch, type ConfigPatch } from './patch.js';
import { MAX_MESSAGE_CHARS, MAX_SOURCE_CHARS, problemsFromIssues, shorten, type Problem } from './problems.js';
import { FILE_SCHEMA, SETTING_KEYS, SETTINGS, readYamlPath, ruleNameProblem, type RulePatch, type SettingSpec } from './schema.js';

export interface FileLayer {
  readonly patch: ConfigPatch;
  readonly problems: Problem[];
  /** Rule names the file defines (valid names only, even when the rule itself has problems). */
  readonly ruleNames: string[];
}

/** One bounded message: the path and every quoted parser message are shortened (problems.ts). */
function fileError(path: string, via: string, what: string, hint: string, cause?: unknown): BanhammerError {
  return new BanhammerError('BH_ERR_CONFIG_FILE', `config file ${shorten(path, MAX_SOURCE_CHARS)} (from ${via}) ${what}`, { hint, data: { path }, cause });
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
    throw fileError(path, via, `cannot be read: ${shorten(String((e as Error).message), MAX_MESSAGE_CHARS)}`, 'check the path and its permissions', e);
  }

  const structure = structureProblem(text);
  if (structure !== null) throw fileError(path, via, `is not a configuration file: it ${structure}`, 'fix the YAML structure (a configuration nests a few levels and needs few tags or anchors)');
  const { doc, errors } = parseDocument(text);
  if (errors.length > 0) {
    const list = errors.slice(0, 5).map((err) => `  ${shorten(err, MAX_MESSAGE_CHARS)}`).join('\n');
    throw fileError(path, via, `is not valid YAML:\n${list}`, 'fix the YAML syntax (indentation, quoting, duplicate keys)');
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw fileError(path, via, `cannot be loaded: ${shorten(String((e as Error).message), MAX_MESSAGE_CHARS)}`, 'avoid YAML alias bombs and custom tags', e);
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
