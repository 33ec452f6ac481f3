/**
 * normalisedPath and withoutParameters (src/detect/rule.ts) as they were first written, with regex
 * replaces: the references the one-scan forms are compared with on random and hostile text
 * (test/unit/hardening-variants-6/hostile-target-cost.test.ts).
 */
const LOGGED_BACKSLASHES = /\\x5c/gi;
const BACKSLASHES = /\\/g;
const SLASH_RUNS = /\/{2,}/g;
const PATH_PARAMETERS = /;[^/]*/g;

/** `\` and Apache's logged `\x5c` read as `/`, then runs of `/` as one. */
export function normalisedPathByReplace(s: string): string {
  let n = s;
  if (n.includes('\\')) n = n.replace(LOGGED_BACKSLASHES, '/').replace(BACKSLASHES, '/');
  if (n.includes('//')) n = n.replace(SLASH_RUNS, '/');
  return n;
}

/** A path without its `;…` parameters, then runs of `/` as one. */
export function withoutParametersByReplace(path: string): string {
  const n = path.replace(PATH_PARAMETERS, '');
  return n.includes('//') ? n.replace(SLASH_RUNS, '/') : n;
}
