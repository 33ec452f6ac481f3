/**
 * Rule files: one rule per YAML file, `<name>.yaml`, in the format of presets/*.yaml (README "Rules").
 * The presets are such files (presets.ts), and so are the files of the directory a user names with
 * BANHAMMER_RULES_DIR / `rules_dir`.
 *
 * A file is hostile input: it is size-capped, parsed as YAML 1.2 (duplicate keys are errors, aliases
 * bounded), validated strictly (unknown keys rejected) and every regular expression is checked for
 * linear-time matching before anything runs (config/rule-schema.ts). Every problem is one line that
 * names the file and the key: `rule file /etc/banhammer/rules/probe.yaml: match.paths[0]: …`.
 */
import { readdirSync } from 'node:fs';
import { NotRegularFileError, readRegularFileSync } from '../fs/read-regular.js';
import { basename, join } from 'node:path';
import { parseDocument, structureProblem } from '../config/yaml-document.js';
import { BanhammerError } from '../errors.js';
import { completeMatch, RULE_DOC_SCHEMA, ruleNameProblem, TRUSTED_RULE_DOC_SCHEMA } from '../config/rule-schema.js';
import type { RuleMatch, RuleSettings } from './rule.js';

/** Largest rule file read (a rule with its samples fits in a few KiB). */
export const MAX_RULE_FILE_BYTES = 256 * 1024;
/** Most rule files in one directory. */
export const MAX_RULE_FILES = 1000;

export interface RuleSamples {
  /** Log lines the rule must match (full lines, any supported layout). */
  readonly match: readonly string[];
  /** Log lines the rule must not match. */
  readonly noMatch: readonly string[];
}

export interface RuleDefinition {
  readonly name: string;
  /** Where it was read from (a path, or presets/<name>.yaml for the presets). */
  readonly file: string;
  readonly settings: RuleSettings;
  readonly samples: RuleSamples;
}

export type RuleFileResult = { readonly ok: true; readonly rule: RuleDefinition } | { readonly ok: false; readonly problems: readonly string[] };

/** `rules.yaml` → `rules`; null when the name does not end in .yaml or .yml. */
export function ruleNameOfFile(file: string): string | null {
  const m = /^(.*)\.ya?ml$/.exec(basename(file));
  return m === null ? null : m[1]!;
}

const keyOf = (path: readonly PropertyKey[]): string =>
  path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i > 0 ? '.' : ''}${String(k)}`)).join('');

/** Parses and validates one rule file's text. */
export interface RuleFileOptions {
  /** Whether a file that does not say `enabled:` runs (false for presets, true for a user's rule files). */
  readonly defaultEnabled: boolean;
  /**
   * Skip the linear-time checks of patterns (they load re2js, ~7 MB RSS): only for the presets,
   * which the unit tier and the bundle check (so the agent compiles their RE2-run patterns on first
   * use: compileRule's `checked`).
   */
  readonly trusted?: boolean;
}

export function parseRuleFile(file: string, text: string, opts: RuleFileOptions): RuleFileResult {
  const fail = (...msgs: string[]): RuleFileResult => ({ ok: false, problems: msgs.map((m) => `rule file ${file}: ${m}`) });
  const expected = ruleNameOfFile(file);
  if (expected === null) return fail('the file name must be <rule name>.yaml');
  if (text.length > MAX_RULE_FILE_BYTES) return fail(`larger than ${MAX_RULE_FILE_BYTES} bytes`);
  // Read as the configuration file is (config/yaml-document.ts): hostile structure refused at
  // once, duplicate keys found with a set.
  const structure = structureProblem(text);
  if (structure !== null) return fail(`not valid YAML: it ${structure}`);
  const { doc, errors } = parseDocument(text);
  if (errors.length > 0) return fail(`not valid YAML: ${errors[0]}`);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail(`cannot be loaded: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('must be a mapping (name:, description:, match:, maxretry:, findtime:, bantime: …)');
  return validateRuleDocument(file, raw, opts);
}

/** Validates an already parsed rule document (what parseRuleFile does after YAML). */
export function validateRuleDocument(file: string, raw: unknown, opts: RuleFileOptions): RuleFileResult {
  const fail = (msgs: string[]): RuleFileResult => ({ ok: false, problems: msgs.map((m) => `rule file ${file}: ${m}`) });
  const expected = ruleNameOfFile(file);
  const parsed = (opts.trusted === true ? TRUSTED_RULE_DOC_SCHEMA : RULE_DOC_SCHEMA).safeParse(raw);
  if (!parsed.success) {
    return fail(
      parsed.error.issues.slice(0, 10).map((iss) => {
        const where = keyOf(iss.path);
        if (iss.code === 'unrecognized_keys') {
          const allowed = /allowed keys here: (.*)$/.exec(iss.message)?.[1] ?? '';
          return `${where === '' ? '' : `${where}: `}unknown key ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}; allowed here: ${allowed}`;
        }
        return `${where === '' ? '' : `${where}: `}${iss.message}`;
      }),
    );
  }
  const d = parsed.data;
  const nameWhy = ruleNameProblem(d.name);
  if (nameWhy !== null) return fail([`name: ${nameWhy}`]);
  if (d.name !== expected) return fail([`name: "${d.name}" must equal the file name without .yaml ("${expected}")`]);
  const match: RuleMatch = completeMatch(d.match);
  const settings: RuleSettings = {
    enabled: d.enabled ?? opts.defaultEnabled,
    description: d.description,
    match,
    maxretry: d.maxretry,
    findtime: d.findtime,
    bantime: d.bantime,
    increment: d.increment ?? null,
    ...(d.count !== undefined && d.count !== 'failures' ? { count: d.count } : {}),
    ...(d.references !== undefined && d.references.length > 0 ? { references: d.references } : {}),
  };
  return { ok: true, rule: { name: d.name, file, settings, samples: { match: d.samples?.match ?? [], noMatch: d.samples?.no_match ?? [] } } };
}

export interface DirReader {
  readonly list: (dir: string) => string[];
  readonly read: (path: string) => string;
}

/** A rule file: a regular file only, never more than MAX_RULE_FILE_BYTES + 1 bytes read (read-regular.ts). */
function readRuleFile(path: string): string {
  try {
    return readRegularFileSync(path, MAX_RULE_FILE_BYTES);
  } catch (e) {
    // Too large: a text that parseRuleFile refuses with its own message.
    if (e instanceof NotRegularFileError && e.code === 'EFBIG') return ' '.repeat(MAX_RULE_FILE_BYTES + 1);
    throw e;
  }
}

const fsReader: DirReader = {
  list: (dir) => readdirSync(dir),
  read: readRuleFile,
};

/**
 * Every rule file (*.yaml, *.yml) of `dir`, in name order; other files are ignored (a README beside
 * them is fine). Problems of every file are collected, one line each. A directory that cannot be
 * listed is one problem.
 */
export function readRuleDir(dir: string, opts: RuleFileOptions & { readonly reader?: DirReader }): { rules: RuleDefinition[]; problems: string[] } {
  const reader = opts.reader ?? fsReader;
  let names: string[];
  try {
    names = reader.list(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read: permission denied' : `cannot be read: ${(e as Error).message}`;
    return { rules: [], problems: [`rules directory ${dir} ${why}`] };
  }
  const files = names.filter((n) => ruleNameOfFile(n) !== null && !n.startsWith('.')).sort();
  if (files.length > MAX_RULE_FILES) return { rules: [], problems: [`rules directory ${dir} holds ${files.length} rule files, at most ${MAX_RULE_FILES}`] };
  const rules: RuleDefinition[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const path = join(dir, f);
    let text: string;
    try {
      text = reader.read(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') continue;
      problems.push(`rule file ${path}: cannot be read: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message}`);
      continue;
    }
    const r = parseRuleFile(path, text, opts);
    if (!r.ok) {
      problems.push(...r.problems);
      continue;
    }
    const other = seen.get(r.rule.name);
    if (other !== undefined) {
      problems.push(`rule file ${path}: rule "${r.rule.name}" is also defined by ${other}; keep one of them`);
      continue;
    }
    seen.set(r.rule.name, path);
    rules.push(r.rule);
  }
  return { rules, problems };
}

/** readRuleDir for trusted directories (the presets): any problem is an error. */
export function readRuleDirOrThrow(dir: string, opts: RuleFileOptions): RuleDefinition[] {
  const { rules, problems } = readRuleDir(dir, opts);
  if (problems.length > 0) {
    throw new BanhammerError('BH_ERR_CONFIG_FILE', problems.join('\n'), { hint: 'fix the rule file', data: { dir, problems } });
  }
  return rules;
}
