/**
 * Named presets. Only `forbidden` is enabled by default; the others are switched on with
 * BANHAMMER_RULES or `enabled: true` in the YAML file, and any field can be overridden.
 *
 * PRESETS has no prototype: `PRESETS['constructor']` is undefined, not Object's constructor, so a
 * name from the outside can be looked up directly. Still prefer isPreset() for membership.
 */
import type { RuleSettings } from './rule.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

export const DEFAULT_RULE = 'forbidden';

export const PRESETS: Readonly<Record<string, RuleSettings>> = Object.freeze(Object.assign(Object.create(null) as Record<string, RuleSettings>, {
  forbidden: {
    enabled: true,
    description: 'Floods of 403 Forbidden answers',
    match: { status: [403], paths: [], methods: [] },
    maxretry: 5,
    findtime: 60 * S,
    bantime: 1 * H,
    increment: null,
  },
  unauthorized: {
    enabled: false,
    description: 'Password guessing: repeated 401 Unauthorized answers',
    match: { status: [401], paths: [], methods: [] },
    maxretry: 10,
    findtime: 5 * M,
    bantime: 1 * H,
    increment: null,
  },
  'not-found': {
    enabled: false,
    description: 'Content scanners: floods of 404 Not Found answers',
    match: { status: [404], paths: [], methods: [] },
    maxretry: 30,
    findtime: 60 * S,
    bantime: 1 * H,
    increment: null,
  },
  'sensitive-paths': {
    enabled: false,
    description: 'Probes for secrets and traversal (/.env, /.git/, /.htaccess, /.htpasswd, passwd, ../, wp-config), any status',
    match: {
      status: null,
      paths: [
        String.raw`/\.env(?:[./?#]|$)`,
        String.raw`/\.git(?:/|$)`,
        String.raw`/\.ht(?:access|passwd)`,
        String.raw`/etc/(?:passwd|shadow)`,
        String.raw`(?:^|[/\\])\.\.(?:[/\\]|$)`,
        String.raw`wp-config\.php`,
      ],
      methods: [],
    },
    maxretry: 2,
    findtime: 10 * M,
    bantime: 1 * D,
    increment: null,
  },
  xmlrpc: {
    enabled: false,
    description: 'WordPress xmlrpc.php brute force (POST /xmlrpc.php)',
    match: { status: null, paths: [String.raw`^/xmlrpc\.php(?:[?#]|$)`], methods: ['POST'] },
    maxretry: 5,
    findtime: 60 * S,
    bantime: 1 * H,
    increment: null,
  },
  'request-flood': {
    enabled: false,
    description: 'Any client above a request rate, whatever the status',
    match: { status: null, paths: [], methods: [] },
    maxretry: 600,
    findtime: 60 * S,
    bantime: 10 * M,
    increment: null,
  },
}));

export const PRESET_NAMES = Object.keys(PRESETS);

/** True when `name` is a preset (an own key of PRESETS, never an inherited one). */
export function isPreset(name: string): boolean {
  return Object.hasOwn(PRESETS, name);
}
