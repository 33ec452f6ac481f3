/**
 * What Apache's configuration can carry: the one rule for every setting `banhammer apache-conf`
 * writes into the image's Apache configuration (renderApacheDefines, run by banhammer-entrypoint
 * before Apache starts). The loader reports these as problems (so `banhammer check-config` refuses
 * what the entrypoint would refuse, exit 78), and renderApacheDefines refuses exactly the same
 * values: neither has a rule of its own.
 *
 *   remoteip_header  `Define BANHAMMER_REMOTEIP_HEADER <header>`            always
 *   trusted_proxies  `Define BANHAMMER_TRUSTED_PROXIES "<cidr> <cidr>…"`    when set
 *   map_file         `Define BANHAMMER_MAP_FILE <path>`, then               with enforcer apache-map
 *                    `RewriteMap banhammer_sdbm "dbm=sdbm:${BANHAMMER_MAP_FILE}.sdbm/current/map"` and
 *                    `RewriteMap banhammer "txt:${BANHAMMER_MAP_FILE}.sdbm/current/overflow.map"`
 *
 * Apache's config reader splits words at spaces, treats quotes, substitutes `${…}` and reads bytes,
 * so a value it could split, quote, substitute or mis-decode is refused rather than written.
 */
import { cidrDetail, parseCidr } from '../parse/ip.js';
import { REMOTEIP_HEADER_ALLOWED, REMOTEIP_HEADER_RE, remoteipHeaderProblem, type Config } from './schema.js';

/** Characters a path may have to be written unquoted into Apache's configuration and a txt: map URL. */
export const APACHE_SAFE_PATH_RE = /^\/[A-Za-z0-9._/@+,=~:-]*$/;
export const APACHE_SAFE_PATH_ALLOWED = 'an absolute path of ASCII letters, digits and . _ / @ + , = ~ : - only (no spaces or quotes, no $ or %, nothing non-ASCII)';

export type ApacheSettings = Pick<Config, 'enforcer' | 'trustedProxies' | 'remoteipHeader' | 'mapFile'>;

export interface ApacheProblem {
  /** YAML key of the setting. */
  readonly key: 'remoteip_header' | 'trusted_proxies' | 'map_file';
  /** Its environment variable. */
  readonly env: string;
  readonly value: string;
  /** What is allowed instead, and why. */
  readonly allowed: string;
}

/** Every value of `c` that Apache's configuration cannot carry (empty: apache-conf renders it). */
export function apacheProblems(c: ApacheSettings): ApacheProblem[] {
  const out: ApacheProblem[] = [];
  if (!REMOTEIP_HEADER_RE.test(c.remoteipHeader)) {
    out.push({ key: 'remoteip_header', env: 'BANHAMMER_REMOTEIP_HEADER', value: c.remoteipHeader, allowed: `use ${REMOTEIP_HEADER_ALLOWED}` });
  } else {
    const why = remoteipHeaderProblem(c.remoteipHeader);
    if (why !== null) out.push({ key: 'remoteip_header', env: 'BANHAMMER_REMOTEIP_HEADER', value: c.remoteipHeader, allowed: why });
  }
  for (const p of c.trustedProxies) {
    if (parseCidr(p) === null) out.push({ key: 'trusted_proxies', env: 'BANHAMMER_TRUSTED_PROXIES', value: p, allowed: `expected IPv4/IPv6 addresses or CIDRs${cidrDetail(p)}` });
  }
  if (c.enforcer === 'apache-map' && !APACHE_SAFE_PATH_RE.test(c.mapFile)) {
    out.push({
      key: 'map_file',
      env: 'BANHAMMER_MAP_FILE',
      value: c.mapFile,
      allowed: `with BANHAMMER_ENFORCER=apache-map (Define BANHAMMER_MAP_FILE, RewriteMap dbm=sdbm: and txt:) use ${APACHE_SAFE_PATH_ALLOWED}`,
    });
  }
  return out;
}
