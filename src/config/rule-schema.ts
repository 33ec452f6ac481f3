/**
 * The schemas of rules, shared by the YAML configuration (`rules:` overrides, config/schema.ts) and
 * rule files (presets/*.yaml and the files of `rules_dir`, detect/rule-file.ts), plus the small zod
 * helpers the settings use too. It imports nothing that imports the presets, so the preset loader
 * can use it while config/schema.ts is still being evaluated.
 *
 * A match is validated strictly (unknown keys rejected, with the allowed ones named), every regular
 * expression is checked up front for linear-time matching (path-pattern.ts), and nesting (any_of,
 * all_of, none_of) is bounded in depth and width so that no file can make matching a line expensive.
 * YAML spells fields in snake_case (user_agents, any_of); the output is RuleMatch's camelCase.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { RuleMatch } from '../detect/rule.js';
import { checkPathPattern, checkPathPatternUnion } from '../detect/path-pattern.js';
import { formatDuration, MAX_DURATION_MS, MAX_FINDTIME_MS, parseDuration, PERMANENT } from './duration.js';

// Classic zod installed its English locale on first use; zod/mini leaves that to the application.
z.config(en());

/** Rule names: lower-case letters, digits and `-` (BANHAMMER_RULE_<NAME>_… maps `-` to `_`), 1–64 long. */
export const RULE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
/**
 * The label under which the metrics count rule names past their cap and the notification digest
 * counts rules past its own (metrics/registry.ts OVERFLOW_LABEL, notify/channel.ts): a rule of that
 * name would share its series with every overflowed rule. Written here, not imported: this module
 * must not load the metrics registry (prom-client).
 */
export const OVERFLOW_RULE_LABEL = 'other';
/** Names a rule cannot have: the daemon's pseudo-rule of manual bans, the overflow label, and anything Object.prototype holds. */
export const RESERVED_RULE_NAMES: ReadonlySet<string> = new Set(['manual', OVERFLOW_RULE_LABEL, ...Object.getOwnPropertyNames(Object.prototype)]);

/** Why `name` cannot name a rule, or null when it can. */
export function ruleNameProblem(name: string): string | null {
  if (!RULE_NAME_RE.test(name)) return 'a rule name must match ^[a-z0-9][a-z0-9-]{0,63}$ (lower-case letters, digits and -, at most 64)';
  if (RESERVED_RULE_NAMES.has(name)) {
    const why =
      name === 'manual' ? ' for manual bans (banhammer ban)'
      : name === OVERFLOW_RULE_LABEL ? ' (metrics and notification digests count rules past their limit under "other", which would mix them with this rule)'
      : '';
    return `"${name}" is reserved${why}; choose another rule name`;
  }
  return null;
}

export const MAX_MAXRETRY = 1_000_000;
/** Most levels of any_of / all_of / none_of inside a match (the top level is 0). */
export const MAX_MATCH_DEPTH = 3;
/** Most branches of one any_of / all_of / none_of. */
export const MAX_MATCH_BRANCHES = 32;
/** Most patterns (or status codes, methods) in one list. */
export const MAX_LIST_ITEMS = 256;

/** A scalar where a list is expected becomes a one-element list (`ports: 8080`). */
export const asList = (v: unknown): unknown => (v === undefined || v === null || Array.isArray(v) ? v : [v]);

export const dedupe = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** `fn` runs on the raw value before `schema` validates it (classic zod's z.preprocess). */
export function preprocess<S extends z.core.$ZodType>(fn: (v: unknown) => unknown, schema: S): z.ZodMiniPipe<z.ZodMiniTransform<unknown, unknown>, S> {
  return z.pipe(z.transform(fn), schema);
}

/**
 * Reports a custom issue from inside a transform, as classic zod's `ctx.addIssue` did: the input is
 * the value being transformed unless the issue names its own.
 */
export function addIssue(ctx: z.core.ParsePayload, issue: { message: string; path?: PropertyKey[]; input?: unknown }): void {
  ctx.issues.push({ code: 'custom', input: ctx.value, ...issue });
}

/**
 * A duration from YAML (number of seconds, or a string like 1h30m) or from the environment, above 0
 * and at most `max` (default MAX_DURATION_MS, about 10 years: `now + duration` stays a valid Date).
 */
export function durationSchema(opts: { permanent: boolean; max?: number }) {
  const max = opts.max ?? MAX_DURATION_MS;
  return z.pipe(
    z.unknown(),
    z.transform((v, ctx): number => {
      // In any case and with blanks around, as units are read (2H) and as `ban --for` reads it (parseBanDuration).
      if (opts.permanent && (v === -1 || (typeof v === 'string' && /^\s*(?:-1|permanent)\s*$/i.test(v)))) return PERMANENT;
      const allowed = `a duration like 600 (seconds), 10m, 1h30m, 1d${opts.permanent ? ', or -1/permanent' : ''}`;
      let ms: number;
      const tooLong = `must be at most ${formatDuration(max)}${max === MAX_DURATION_MS ? ' (about 10 years)' : ''}${opts.permanent ? '; use -1/permanent for a ban that never ends' : ''}`;
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
        ms = Math.round(v * 1000);
        if (!(ms <= max)) {
          addIssue(ctx, { message: tooLong });
          return z.NEVER;
        }
      } else if (typeof v === 'string') {
        try {
          ms = parseDuration(v, Number.MAX_SAFE_INTEGER);
        } catch (e) {
          // A capital M is refused for its ambiguity (duration.ts): say so, not only what is allowed.
          const ambiguous = /unit "M" could mean .*$/.exec((e as Error).message)?.[0];
          addIssue(ctx, { message: ambiguous !== undefined ? `${ambiguous} (${allowed})` : `expected ${allowed}` });
          return z.NEVER;
        }
        if (ms > max) {
          addIssue(ctx, { message: tooLong });
          return z.NEVER;
        }
      } else {
        addIssue(ctx, { message: `expected ${allowed}` });
        return z.NEVER;
      }
      if (ms <= 0) {
        addIssue(ctx, { message: `must be longer than 0 (${allowed})` });
        return z.NEVER;
      }
      return ms;
    }),
  );
}

/** The spellings of a boolean, in YAML (config file, rule files) and in the environment alike. */
export const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, boolean>, { true: true, yes: true, on: true, '1': true, false: false, no: false, off: false, '0': false }),
);
export const BOOLEAN_ALLOWED = 'true or false (or yes/no, on/off, 1/0)';

/**
 * A boolean: true/false, or one of the same words the environment takes (BOOLEAN_WORDS, any case,
 * surrounding blanks ignored), or the numbers 1 and 0. YAML 1.2 reads `off`, `no`, `yes` as strings:
 * `enabled: off` was refused in the file while BANHAMMER_RULE_<NAME>_ENABLED=off was taken, so the
 * same setting took different words in its two places. The field is a boolean, so these words can
 * mean nothing else; anything else (`enabled: maybe`, 2, a list) is refused, naming what is allowed.
 */
export const booleanSchema = z.pipe(
  z.unknown(),
  z.transform((v, ctx): boolean => {
    if (typeof v === 'boolean') return v;
    if (v === 1 || v === 0) return v === 1;
    if (typeof v === 'string' && v.length <= 8) {
      const word = v.trim().toLowerCase();
      if (Object.hasOwn(BOOLEAN_WORDS, word)) return BOOLEAN_WORDS[word]!;
    }
    addIssue(ctx, { message: `expected ${BOOLEAN_ALLOWED}` });
    return z.NEVER;
  }),
);

export const maxretrySchema = z
  .int({ error: 'expected an integer ≥ 1' })
  .check(z.gte(1, { error: 'must be ≥ 1' }), z.lte(MAX_MAXRETRY, { error: `must be ≤ ${MAX_MAXRETRY}` }));

/**
 * Regular expressions tested against the request target: each must be valid JavaScript syntax and run
 * in RE2's linear time (no backreferences, no lookaround), and so must their union (path-pattern.ts).
 */
/** `checked: false` skips the linear-time checks: for the presets, checked by the unit tier and the bundle. */
function regexListOf(checked: boolean) {
  return z.pipe(
    preprocess(
      asList,
      z
        .array(z.string({ error: 'expected a regular expression (string)' }), { error: 'expected a list of regular expressions' })
        .check(z.maxLength(MAX_LIST_ITEMS, { error: `at most ${MAX_LIST_ITEMS} expressions per list; split the rule` })),
    ),
    z.transform((paths: string[], ctx): readonly string[] => {
      if (!checked) return paths;
      let ok = true;
      paths.forEach((p, i) => {
        const why = checkPathPattern(p);
        if (why !== null) {
          ok = false;
          addIssue(ctx, { path: [i], input: p, message: why });
        }
      });
      if (ok && paths.length > 1) {
        const why = checkPathPatternUnion(paths);
        if (why !== null) addIssue(ctx, { message: why });
      }
      return paths;
    }),
  );
}

export const regexList = regexListOf(true);
const uncheckedRegexList = regexListOf(false);

export const statusList = preprocess(
  asList,
  z.pipe(
    z
      .array(
        z
          .int({ error: 'expected an HTTP status code (integer 100–599)' })
          .check(z.gte(100, { error: 'a status code is 100–599' }), z.lte(599, { error: 'a status code is 100–599' })),
        { error: 'expected a list of HTTP status codes, or null for any' },
      )
      .check(z.minLength(1, { error: 'list at least one status code, or omit status to match any' })),
    z.transform((xs: number[]): readonly number[] => dedupe(xs)),
  ),
);

export const methodList = preprocess(
  asList,
  z.pipe(
    z.array(z.string().check(z.regex(/^[A-Za-z]{1,20}$/, { error: 'expected an HTTP method such as GET or POST' })), { error: 'expected a list of HTTP methods' }),
    z.transform((xs: string[]): readonly string[] => dedupe(xs.map((m) => m.toUpperCase()))),
  ),
);

/** A strict object whose unknown-key message lists the allowed keys. */
export function strict<S extends z.core.$ZodLooseShape>(shape: S) {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key; allowed keys here: ${keys}` : undefined),
  });
}


/** How a rule's window counts: every matching request, or the distinct paths an address requested. */
export const COUNT_MODES = ['failures', 'distinct-paths'] as const;
export type CountMode = (typeof COUNT_MODES)[number];

export const countSchema = z.enum(COUNT_MODES, { error: `expected one of ${COUNT_MODES.join(', ')}` });

export const incrementSchema = strict({
  factor: z.number({ error: 'expected a number ≥ 1' }).check(z.gte(1, { error: 'must be ≥ 1' }), z.lte(1000, { error: 'must be ≤ 1000' })),
  maxtime: durationSchema({ permanent: true }),
});

export const findtimeSchema = durationSchema({ permanent: false, max: MAX_FINDTIME_MS });
export const bantimeSchema = durationSchema({ permanent: true });

/** The pattern lists of a match: YAML key → RuleMatch key. */
export const MATCH_PATTERN_FIELDS = {
  paths: 'paths',
  queries: 'queries',
  user_agents: 'userAgents',
  referers: 'referers',
  requests: 'requests',
} as const;
/** The nested lists of a match: YAML key → RuleMatch key. */
export const MATCH_NESTED_FIELDS = { any_of: 'anyOf', all_of: 'allOf', none_of: 'noneOf' } as const;

type Shape = Record<string, z.ZodMiniType>;
type RawMatch = Record<string, unknown>;

/**
 * A match as YAML states it, at nesting `depth`: every field optional. Past MAX_MATCH_DEPTH the
 * nested keys are not allowed at all (the strict object names the allowed ones).
 */
function matchObject(depth: number, checked: boolean) {
  const shape: Shape = {
    status: z.optional(z.nullable(statusList)),
    methods: z.optional(methodList),
  };
  for (const k of Object.keys(MATCH_PATTERN_FIELDS)) shape[k] = z.optional(checked ? regexList : uncheckedRegexList);
  if (depth < MAX_MATCH_DEPTH) {
    const branches = z
      .array(nestedMatch(depth + 1, checked), { error: 'expected a list of matches' })
      .check(
        z.minLength(1, { error: 'list at least one match' }),
        z.maxLength(MAX_MATCH_BRANCHES, { error: `at most ${MAX_MATCH_BRANCHES} matches per list; split the rule` }),
      );
    for (const k of Object.keys(MATCH_NESTED_FIELDS)) shape[k] = z.optional(branches);
  }
  return strict(shape);
}

/** The RuleMatch fields a YAML match states (camelCase; absent fields stay absent). */
function camelMatch(raw: RawMatch): Partial<RuleMatch> {
  const out: Record<string, unknown> = {};
  if (raw.status !== undefined) out.status = raw.status;
  if (raw.methods !== undefined) out.methods = raw.methods;
  for (const [yaml, key] of Object.entries(MATCH_PATTERN_FIELDS)) if (raw[yaml] !== undefined) out[key] = raw[yaml];
  for (const [yaml, key] of Object.entries(MATCH_NESTED_FIELDS)) if (raw[yaml] !== undefined) out[key] = raw[yaml];
  return out as Partial<RuleMatch>;
}

/** A complete match: absent fields take their "any" defaults (status null, no paths, no methods). */
export function completeMatch(m: Partial<RuleMatch>): RuleMatch {
  return { status: null, paths: [], methods: [], ...m };
}

/** A branch of any_of / all_of / none_of: a complete match that states at least one field. */
function nestedMatch(depth: number, checked: boolean): z.ZodMiniType<RuleMatch> {
  return z.pipe(
    matchObject(depth, checked),
    z.transform((raw: RawMatch, ctx): RuleMatch => {
      const m = camelMatch(raw);
      if (Object.keys(m).length === 0) {
        addIssue(ctx, { message: 'an empty match holds for every request; state at least one field' });
        return z.NEVER;
      }
      return completeMatch(m);
    }),
  ) as unknown as z.ZodMiniType<RuleMatch>;
}

/**
 * A rule's description: one line of printable text, shown as is by `banhammer rules`, check-config and
 * the README's tables. A rule file is often someone else's work: a bidi override (U+202E), an isolate,
 * a line separator or a C1 control (U+009B is CSI) in it reordered or rewrote the operator's terminal
 * (rules replaced C0 and C1 only, check-config none of them), and the config's own `rules:` took a
 * newline. Refused at load, naming the rule, in both places a description is written.
 */
// eslint-disable-next-line no-control-regex
const DESCRIPTION_UNSAFE_RE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const descriptionText = <T extends z.ZodMiniType<string>>(base: T) =>
  base.check(z.refine((s: string) => !DESCRIPTION_UNSAFE_RE.test(s), { error: 'must be one line of printable text (no control, bidi or line-separator characters)' }));

/** The match of a rule, as one layer states it (config overrides merge it field by field). */
function partialMatchOf(checked: boolean): z.ZodMiniType<Partial<RuleMatch>> {
  return z.pipe(
    matchObject(0, checked),
    z.transform((raw: RawMatch): Partial<RuleMatch> => camelMatch(raw)),
  ) as unknown as z.ZodMiniType<Partial<RuleMatch>>;
}
export const partialMatchSchema = partialMatchOf(true);

/** A rule in the YAML configuration's `rules:` (every field optional: it may override a preset). */
export const RULE_FILE_SCHEMA = strict({
  enabled: z.optional(booleanSchema),
  description: z.optional(descriptionText(z.string({ error: 'expected text' }))),
  match: z.optional(partialMatchSchema),
  count: z.optional(countSchema),
  maxretry: z.optional(maxretrySchema),
  findtime: z.optional(findtimeSchema),
  bantime: z.optional(bantimeSchema),
  increment: z.optional(z.nullable(incrementSchema)),
});

/** Most sample lines of each kind in a rule file. */
export const MAX_SAMPLES = 200;
/** Longest sample line. */
export const MAX_SAMPLE_LENGTH = 16 * 1024;

const oneLine = (what: string, max: number) =>
  z
    .string({ error: `expected ${what} (text)` })
    .check(
      z.minLength(1, { error: 'must not be empty' }),
      z.maxLength(max, { error: `at most ${max} characters` }),
      z.refine((s) => !/[\0\r\n]/.test(s), { error: 'must be one line' }),
    );

const sampleList = z
  .array(oneLine('a log line', MAX_SAMPLE_LENGTH), { error: 'expected a list of log lines' })
  .check(z.maxLength(MAX_SAMPLES, { error: `at most ${MAX_SAMPLES} samples` }));

const referenceUrl = z.string({ error: 'expected a URL' }).check(
  z.maxLength(2048, { error: 'at most 2048 characters' }),
  z.refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL' },
  ),
);

/**
 * A rule file (presets/<name>.yaml, or a file of rules_dir): one complete rule, its thresholds
 * stated, with its own sample lines.
 */
function ruleDocSchema(checked: boolean) {
  return strict({
    name: z.string({ error: 'expected the rule name (the file name without .yaml)' }),
    description: descriptionText(oneLine('a one-line description', 300)),
    enabled: z.optional(booleanSchema),
    references: z.optional(z.array(referenceUrl, { error: 'expected a list of URLs' }).check(z.maxLength(32, { error: 'at most 32 references' }))),
    match: partialMatchOf(checked),
    count: z.optional(countSchema),
    maxretry: maxretrySchema,
    findtime: findtimeSchema,
    bantime: bantimeSchema,
    increment: z.optional(z.nullable(incrementSchema)),
    samples: z.optional(strict({ match: z.optional(sampleList), no_match: z.optional(sampleList) })),
  });
}

export const RULE_DOC_SCHEMA = ruleDocSchema(true);
/** The same without the linear-time checks of patterns (which load re2js): for the presets, which the unit tier and the bundle check. */
export const TRUSTED_RULE_DOC_SCHEMA = ruleDocSchema(false);
