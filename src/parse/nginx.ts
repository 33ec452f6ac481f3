/**
 * nginx `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 * "$http_referer" "$http_user_agent"` — the same shape as Apache combined, read by the same scanner.
 *
 * The one difference is quoting: with the default `escape=default`, nginx writes `"` as `\x22` and `\` as
 * `\x5C`, so a raw `"` inside a field never occurs and every `"` is a delimiter. The scanner is run
 * with backslash escapes off: a `\"` can then never hide a quote (with `escape=json` logs, such a line
 * is skipped rather than misread).
 */
import { createAccessScanner, type AccessScanner, type ScanCaches } from './apache.js';

export function createNginxScanner(caches: ScanCaches): AccessScanner {
  return createAccessScanner({ layout: 'plain', backslashEscapes: false }, caches);
}
