/**
 * nginx `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 * "$http_referer" "$http_user_agent"` — the same shape as Apache combined, read by the same scanner.
 *
 * Quoting: with the default `escape=default`, nginx writes `"` inside a field as `\x22` and `\` as
 * `\x5C`, so a raw quote or backslash never occurs inside a field and every `"` is a delimiter. With
 * `escape=json` it writes `\"` and `\\` instead. Honouring backslash escapes is therefore right for
 * both: under escape=default no `\` can precede a `"`, and under escape=json a `\"` is data. (Only
 * `escape=none` cannot be parsed safely by anyone; do not use it for a log that bans.)
 */
import { createAccessScanner, type AccessLayout, type AccessScanner, type ScanCaches } from './apache.js';
import type { TrustedProxies } from './trusted-proxies.js';

/**
 * nginx `main` (the example in nginx's documentation and the default nginx.conf of its packages) is
 * `combined` plus `"$http_x_forwarded_for"`: read the same way, the trailing field only when the peer
 * is a trusted proxy. `$host $remote_addr - $remote_user …` is the 'host' layout.
 */
export function createNginxScanner(caches: ScanCaches, layout: AccessLayout = 'plain', trusted: TrustedProxies | null = null, trailingForwarded = false): AccessScanner {
  return createAccessScanner({ layout, backslashEscapes: true, trusted, trailingForwarded, hostMayHoldSpaces: true }, caches);
}
