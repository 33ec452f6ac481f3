/**
 * Reading YAML that may be hostile, the one way the configuration file and rule files both read it:
 * yaml loaded on first use; structureProblem() refuses, in one linear pass of yaml's lexer, the
 * nesting and the tag and anchor counts on which yaml's parser takes seconds to hours; and
 * parseDocument() finds duplicate keys with a set (yaml's own uniqueKeys is quadratic), refuses
 * values tagged !!omap, !!set, !!pairs, !!binary or !!timestamp (not plain data) and tags yaml
 * does not resolve (`!env X`, `!!int 1h`: loaded as the text written), and gives the first errors
 * their line and column.
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

export function structureProblem(text: string): string | null {
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
export function parseDocument(text: string): { doc: Yaml.Document.Parsed; errors: string[] } {
  const Y = yaml();
  const lines = new Y.LineCounter();
  const doc = Y.parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const duplicates: string[] = [];
  const notPlain: string[] = [];
  const at = (node: Yaml.Node): string => {
    const pos = node.range ? lines.linePos(node.range[0]) : null;
    return pos ? ` at line ${pos.line}, column ${pos.col}` : '';
  };
  // `!!omap`, `!!set`, `!!pairs`, `!!binary`, `!!timestamp`: loaded as Map, Set, bytes or a Date,
  // which the schemas read as a mapping without keys: `match: !!omap [{status: [403]}]` was a match
  // of every request, a file tagged `!!set` an empty configuration. Refused where they stand.
  const TAGGED = new Set(['tag:yaml.org,2002:omap', 'tag:yaml.org,2002:set', 'tag:yaml.org,2002:pairs']);
  Y.visit(doc, {
    Scalar(_, node) {
      const v: unknown = node.value;
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return undefined;
      notPlain.push(`a value tagged ${shortTag(node.tag)} is not plain text, a number or true/false${at(node)}`);
      return notPlain.length >= 5 ? Y.visit.BREAK : undefined;
    },
    Seq(_, node) {
      if (node.tag === undefined || !TAGGED.has(node.tag)) return undefined;
      notPlain.push(`a ${shortTag(node.tag)} collection is not a plain list or mapping${at(node)}`);
      return notPlain.length >= 5 ? Y.visit.BREAK : undefined;
    },
  });
  Y.visit(doc, {
    Map(_, map) {
      if (map.tag !== undefined && TAGGED.has(map.tag) && notPlain.length < 5) notPlain.push(`a ${shortTag(map.tag)} collection is not a plain list or mapping${at(map)}`);
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
  // A tag yaml does not resolve (`!secret x`, `!env X`, `!Ref x`, `!!int 1h`, `!!bool yes`, `!!map [..]`):
  // yaml only warns and loads the text as written, so `token: !env HOOK_TOKEN` sent the word
  // HOOK_TOKEN as the token and `!!int 1h` read as the text "1h". Refused where they stand, naming
  // the tags that are read. `!!float 60` is a float in YAML 1.2's core schema but not to yaml (it
  // wants a dot or an exponent): read as the number. (`!!merge` on a value is not plain data: above.)
  const unknownTags: string[] = [];
  const CORE = 'tag:yaml.org,2002:';
  const CORE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
  const refuse = (tag: string, node: Yaml.Node): void => {
    if (unknownTags.length < 5) unknownTags.push(`the tag ${shortTag(tag)} cannot be read here${at(node)} (tags read: !!str, !!int, !!float, !!bool, !!null, !!map, !!seq, each on a value of its kind; a secret is read from a *_file setting)`);
  };
  Y.visit(doc, {
    Scalar(_, node) {
      const tag = node.tag;
      if (tag === undefined || tag === '!' || tag === `${CORE}str` || tag === `${CORE}merge`) return undefined;
      const v: unknown = node.value;
      if (typeof v !== 'string') {
        // Resolved by yaml (a number, true/false, null) or not plain data (refused above).
        if (tag === `${CORE}int` || tag === `${CORE}float` || tag === `${CORE}bool` || tag === `${CORE}null`) return undefined;
        if (v !== null && typeof v === 'object') return undefined;
      }
      if (tag === `${CORE}float` && typeof v === 'string' && CORE_FLOAT.test(v)) {
        node.value = Number(v);
        return undefined;
      }
      refuse(tag, node);
      return undefined;
    },
    Map(_, node) {
      if (node.tag !== undefined && node.tag !== '!' && node.tag !== `${CORE}map` && !TAGGED.has(node.tag)) refuse(node.tag, node);
      return undefined;
    },
    Seq(_, node) {
      if (node.tag !== undefined && node.tag !== '!' && node.tag !== `${CORE}seq` && !TAGGED.has(node.tag)) refuse(node.tag, node);
      return undefined;
    },
  });
  const errors = [...doc.errors.slice(0, 5).map(shown), ...duplicates, ...notPlain, ...unknownTags];
  return { doc, errors };
}

/** `tag:yaml.org,2002:omap` as written, `!!omap`. */
function shortTag(tag: string | undefined): string {
  if (tag === undefined) return 'with a tag';
  const t = tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice(18)}` : tag;
  return t.length > 40 ? `${t.slice(0, 40)}…` : t;
}
