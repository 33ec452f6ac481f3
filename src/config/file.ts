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
const yaml = (): typeof Yaml => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

/**
 * Deepest nesting a configuration file may have (flow collections, or block indicators `- `, `? `,
 * `: ` on one line) and most tags and anchors it may hold. Real files nest a few levels and hold a
 * handful; yaml's parser takes seconds to hours on hostile structure within MAX_CONFIG_FILE_BYTES
 * (a file of `[`, one of `!t !t !t …`), and the file is read synchronously at start, at every
 * reload (the running agent's event loop) and by check-config. Checked first, in one pass of yaml's
 * own lexer (linear, stopped at the first excess), so such a file is refused at once, saying why.
 */
export const MAX_YAML_NESTING = 256;
export const MAX_YAML_PROPERTIES = 10_000;

function structureProblem(text: string): string | null {
  const Y = yaml();
  let depth = 0;
  let onLine = 0;
  let properties = 0;
  for (const token of new Y.Lexer().lex(text)) {
    switch (Y.CST.tokenType(token)) {
      case 'flow-map-start':
      case 'flow-seq-start':
        if (++depth > MAX_YAML_NESTING) return `nests collections more than ${MAX_YAML_NESTING} deep`;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        if (depth > 0) depth--;
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (depth === 0 && ++onLine > MAX_YAML_NESTING) return `nests collections more than ${MAX_YAML_NESTING} deep on one line`;
        break;
      case 'newline':
        onLine = 0;
        break;
      case 'tag':
      case 'anchor':
        if (++properties > MAX_YAML_PROPERTIES) return `holds more than ${MAX_YAML_PROPERTIES} tags and anchors`;
        break;
      default:
    }
  }
  return null;
}

/**
 * The document, with duplicate keys as errors. yaml's own `uniqueKeys` compares every key of a
 * mapping with every other (20,000 keys took 6 s); this looks each one up in a set instead, and says
 * the same: "Map keys must be unique at line L, column C". Errors are not made "pretty" by yaml (it
 * scans the text for each of them: 100,000 errors of a 300 KB file took a minute); the first five,
 * the only ones shown, get their line and column here.
 */
function parseDocument(text: string): { doc: Yaml.Document.Parsed; errors: string[] } {
  const Y = yaml();
  const lines = new Y.LineCounter();
  const doc = Y.parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const duplicates: string[] = [];
  Y.visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = pair.key;
        const id = Y.isScalar(k) ? k.value : k;
        if (!seen.has(id)) {
          seen.add(id);
          continue;
        }
        if (duplicates.length >= 5) return Y.visit.BREAK;
        const at = Y.isNode(k) && k.range ? lines.linePos(k.range[0]) : null;
        duplicates.push(`Map keys must be unique${at ? ` at line ${at.line}, column ${at.col}` : ''}`);
      }
      return undefined;
    },
  });
  const shown = (err: Yaml.YAMLError): string => {
    const message = (err.message.split('\n')[0] ?? '').replace(/:$/, '');
    const at = Array.isArray(err.pos) ? lines.linePos(err.pos[0]) : null;
    return at && !/ at line \d+, column \d+$/.test(message) ? `${message} at line ${at.line}, column ${at.col}` : message;
  };
  const errors = [...doc.errors.slice(0, 5).map(shown), ...duplicates];
  return { doc, errors };
}
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
