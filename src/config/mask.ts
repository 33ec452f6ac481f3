/**
 * How a secret is shown wherever the configuration is described (check-config, its --json, config
 * problems): masked, keeping what tells one target from another (scheme, host, port), never the
 * secret. The agent itself always uses the real values; only descriptions go through here.
 *
 * What is secret is decided by what a value is, not by its name (the settings table marks each
 * setting whose value is or holds a secret with `redact`, src/config/schema.ts):
 * - a header value (a webhook token, `Authorization: Bearer …`) is a secret as a whole;
 * - a URL may carry one in its user info (`redis://:pass@host`, `smtps://user:pass@host`), in its
 *   path (a Slack or Discord webhook URL is itself the credential, an ntfy topic is its password) or
 *   in its query (`?token=…`): those parts are masked, the scheme, host and port stay. A Redis URL's
 *   database number (`/0`) is no secret and stays.
 *
 * Self-contained (no imports), so the settings tables can use it without an import cycle.
 */

export const MASK = '***';

/** A URL with every part that may carry a secret masked; text that is no URL is masked whole. */
export function maskUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return MASK;
  }
  const redis = u.protocol === 'redis:' || u.protocol === 'rediss:';
  const keepPath = u.pathname === '' || u.pathname === '/' || (redis && /^\/\d{1,2}$/.test(u.pathname));
  const userinfo = u.username !== '' || u.password !== '' || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(s);
  if (!userinfo && keepPath && u.search === '' && u.hash === '') return s; // nothing secret: as written
  // `host` keeps the port; for an opaque (non-special) URL without host the whole text is masked.
  if (u.host === '') return MASK;
  return `${u.protocol}//${userinfo ? `${MASK}@` : ''}${u.host}${keepPath ? u.pathname : `/${MASK}`}${u.search !== '' ? `?${MASK}` : ''}${u.hash !== '' ? `#${MASK}` : ''}`;
}

/** A secret as a whole (a token, a header value): null stays null, anything else is MASK. */
export function maskSecret<T extends string | null>(v: T): T {
  return (v === null ? null : MASK) as T;
}

/** A URL setting's value: null stays null. */
export function maskUrlValue<T extends string | null>(v: T): T {
  return (v === null ? null : maskUrl(v)) as T;
}

/** `scheme://…@`: a URL with user info (a user and maybe a password), wherever it turns up. */
const URL_WITH_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*@/i;

/**
 * The safety net of every description: every string in `v` (deeply: lists, mappings) that is a URL
 * with user info is masked (maskUrl), whatever setting it belongs to, so a URL setting added without
 * `redact` still cannot show a password. Returns a copy; `v` is not changed.
 */
export function maskCredentialUrls(v: unknown): unknown {
  if (typeof v === 'string') return URL_WITH_USERINFO.test(v) ? maskUrl(v) : v;
  if (Array.isArray(v)) return v.map(maskCredentialUrls);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
    for (const [k, x] of Object.entries(v)) out[k] = maskCredentialUrls(x);
    return out;
  }
  return v;
}

/** An offending value in a config problem about a secret setting: a URL masked as above, anything else whole. */
export function maskProblemValue(v: unknown): unknown {
  return typeof v === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(v) ? maskUrl(v) : MASK;
}
