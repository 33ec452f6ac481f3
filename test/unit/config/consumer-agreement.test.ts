/**
 * What check-config (the loader) accepts, every later consumer takes: `banhammer apache-conf` (the
 * image's entrypoint), the control socket, the state files, the share stage's Redis client. Each
 * refusal comes from one rule, so check-config names the problem instead of the container stopping
 * with exit 78 (or the agent crashing) later.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.js';
import { APACHE_SAFE_PATH_RE, apacheProblems } from '../../../src/config/apache.js';
import { INSTANCE_MAX_LENGTH, SOCKET_PATH_MAX_BYTES } from '../../../src/config/schema.js';
import { renderApacheDefines } from '../../../src/enforce/apache-map.js';
import { firewallNames } from '../../../src/enforce/iptables-args.js';
import { nftNames } from '../../../src/enforce/nft-args.js';
import { redisClientOptions } from '../../../src/share/redis-share.js';
import { BanhammerError } from '../../../src/errors.js';
import { main, type CliIo } from '../../../src/cli.js';
import type { Problem } from '../../../src/config/problems.js';

type Env = Record<string, string>;
const load = (env: Env, readFile?: () => string) => resolveConfig({ env, hostname: 'unit', ...(readFile ? { readFile } : {}) });
const problemsOf = (env: Env, readFile?: () => string): Problem[] => {
  try {
    load(env, readFile);
    return [];
  } catch (e) {
    if (e instanceof BanhammerError && e.code === 'BH_ERR_CONFIG') return e.data.problems as Problem[];
    throw e;
  }
};
const accepted = (env: Env): boolean => problemsOf(env).length === 0;
const BASE = { enforcer: 'iptables', mapFile: '/run/banhammer/banned.map', remoteipHeader: 'X-Forwarded-For', trustedProxies: [] } as const;
/** apache-conf on the raw value, without the loader in front of it. */
const renders = (patch: Partial<Parameters<typeof renderApacheDefines>[0]>): boolean => {
  try {
    renderApacheDefines({ ...BASE, ...patch });
    return true;
  } catch (e) {
    expect((e as BanhammerError).code).toBe('BH_ERR_CONFIG');
    return false;
  }
};
const rendered = (env: Env): boolean => {
  try {
    renderApacheDefines(load(env).config);
    return true;
  } catch {
    return false;
  }
};

const MAP_PATHS = [
  '/run/bh map/banned.map', '/run/bh\tmap', '/run/bh/"x".map', "/run/bh/'x'.map", '/run/${X}/a.map', '/run/%{ENV:X}/a.map', '/run/bh/é.map',
  '/run/bh/a\\b.map', '/run/bh/#a.map', '/run/bh/<a>.map', '/run/bh/a;b', '/run/bh/a|b', '/run/bh/a*b', '/run/bh/a?b', '/run/bh/[a]',
  '/run/bh/a&b', '/run/bh/a!b', '/run/bh/a\nb', '/run/bh/\u200b.map', '/run/bh/a\u00a0b',
];
const GOOD_MAP_PATHS = ['/run/banhammer/banned.map', '/run/b-h/a_b.c@d+e,f=g~h:i.map'];

describe('map file: check-config refuses exactly what apache-conf refuses (apache-map)', () => {
  for (const path of [...MAP_PATHS, ...GOOD_MAP_PATHS]) {
    it(JSON.stringify(path), () => {
      const env = { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: path };
      const ok = accepted(env);
      expect(ok).toBe(APACHE_SAFE_PATH_RE.test(path.trim()));
      if (ok) expect(rendered(env)).toBe(true);
      else expect(renders({ enforcer: 'apache-map', mapFile: path })).toBe(false);
    });
  }
});

describe('map file: the problem names the setting, its variable and what is allowed', () => {
  it('from the environment', () => {
    const [p, ...rest] = problemsOf({ BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: '/run/bh map/banned.map' });
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ key: 'map_file', source: 'env BANHAMMER_MAP_FILE', value: '/run/bh map/banned.map' });
    expect(p!.message).toMatch(/BANHAMMER_MAP_FILE/);
    expect(p!.message).toMatch(/letters, digits and \. _ \/ @ \+ , = ~ : -/);
  });
  it('from the file, with the enforcer from the environment', () => {
    const ps = problemsOf({ BANHAMMER_CONFIG: '/c.yaml', BANHAMMER_ENFORCER: 'apache-map' }, () => 'map_file: "/run/bh/é.map"\n');
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ key: 'map_file', source: 'file /c.yaml' });
  });
  it('check-config prints it and fails; apache-conf fails too', async () => {
    for (const cmd of ['check-config', 'apache-conf']) {
      let stderr = '';
      const io: CliIo = { stdout: () => {}, stderr: (s) => void (stderr += s), env: { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: '/run/${X}/a.map' }, hostname: 'h' };
      expect(await main([cmd], io), cmd).not.toBe(0);
      expect(stderr, cmd).toMatch(/map_file = "\/run\/\$\{X\}\/a\.map".*BANHAMMER_MAP_FILE/);
    }
  });
  it('other enforcers do not write the path into Apache: it stays accepted', () => {
    for (const enforcer of ['nginx-map', 'iptables', 'log']) {
      expect(accepted({ BANHAMMER_ENFORCER: enforcer, BANHAMMER_MAP_FILE: '/run/bh map/banned.map' }), enforcer).toBe(true);
    }
  });
});

describe('remoteip header and trusted proxies: one rule for both', () => {
  const headers = ['X-Forwarded-For', 'X-Real-IP', 'X_Y.Z', 'X|Y', "X'Y", 'X$Y', 'X Y', 'X*', '-X', 'X'.repeat(128), 'X'.repeat(129), 'É'];
  for (const h of headers) {
    it(`header ${JSON.stringify(h.length > 20 ? `${h.slice(0, 10)}…(${h.length})` : h)}`, () => {
      const env = { BANHAMMER_REMOTEIP_HEADER: h, BANHAMMER_TRUSTED_PROXIES: '10.0.0.0/8' };
      expect(accepted(env)).toBe(renders({ remoteipHeader: h }));
      if (accepted(env)) expect(rendered(env)).toBe(true);
    });
  }
  it('every accepted configuration has no apache problem', () => {
    const c = load({ BANHAMMER_TRUSTED_PROXIES: '::ffff:198.19.0.0/112, 2001:db8::/32', BANHAMMER_ENFORCER: 'apache-map' }).config;
    expect(apacheProblems(c)).toEqual([]);
  });
});

describe('paths the agent uses later', () => {
  it('the control socket fits a Unix socket address (Node silently cuts a longer one)', () => {
    const at = (n: number) => `/run/${'s'.repeat(n - 5)}`;
    expect(accepted({ BANHAMMER_SOCKET: at(SOCKET_PATH_MAX_BYTES) })).toBe(true);
    expect(problemsOf({ BANHAMMER_SOCKET: at(SOCKET_PATH_MAX_BYTES + 1) })[0]).toMatchObject({ key: 'socket', source: 'env BANHAMMER_SOCKET' });
    // Bytes, not characters: 54 two-byte letters are 108 bytes.
    expect(accepted({ BANHAMMER_SOCKET: `/${'é'.repeat(53)}` })).toBe(true);
    expect(accepted({ BANHAMMER_SOCKET: `/${'é'.repeat(54)}` })).toBe(false);
  });
  it('file settings must name a file', () => {
    for (const [v, env] of [
      ['BANHAMMER_SOCKET', { BANHAMMER_SOCKET: '/run/banhammer/' }],
      ['BANHAMMER_MAP_FILE', { BANHAMMER_MAP_FILE: '/run/banhammer/.' }],
      ['BANHAMMER_MAP_FILE', { BANHAMMER_ENFORCER: 'nginx-map', BANHAMMER_MAP_FILE: '/' }],
      ['BANHAMMER_REDIS_PASSWORD_FILE', { BANHAMMER_REDIS_URL: 'redis://r', BANHAMMER_SHARE_GROUP: 'g', BANHAMMER_REDIS_PASSWORD_FILE: '/run/secrets/..' }],
    ] as const) {
      const ps = problemsOf(env);
      expect(ps.map((p) => p.source), v).toEqual([`env ${v}`]);
      expect(ps[0]!.message).toMatch(/must name a file/);
    }
  });
  it('a name longer than NAME_MAX, a path longer than PATH_MAX, a map file name without room for its temporary', () => {
    expect(accepted({ BANHAMMER_DOCKER_CONTAINERS_DIR: `/x/${'a'.repeat(255)}` })).toBe(true);
    expect(problemsOf({ BANHAMMER_DOCKER_CONTAINERS_DIR: `/x/${'a'.repeat(256)}` })[0]?.message).toMatch(/at most 255 bytes/);
    expect(problemsOf({ BANHAMMER_RULES_DIR: `/x/${'a'.repeat(256)}` })[0]?.message).toMatch(/at most 255 bytes/);
    expect(accepted({ BANHAMMER_DOCKER_CONTAINERS_DIR: `/${'a/'.repeat(2048)}` })).toBe(false);
    expect(accepted({ BANHAMMER_STATE_DIR: `/${'a/'.repeat(1940)}` })).toBe(false);
    expect(accepted({ BANHAMMER_MAP_FILE: `/run/${'m'.repeat(200)}` })).toBe(true);
    expect(accepted({ BANHAMMER_MAP_FILE: `/run/${'m'.repeat(201)}` })).toBe(false);
  });
  it('the instance name fits the state and outbox file names; the firewall derives names from any accepted one', () => {
    const name = 'i'.repeat(INSTANCE_MAX_LENGTH);
    const c = load({ BANHAMMER_INSTANCE: name }).config;
    expect(`state-${c.instance}.json.tmp-4194304-9007199254740991`.length).toBeLessThanOrEqual(255);
    expect(firewallNames(c.instance).chain.length).toBeLessThanOrEqual(28);
    expect(nftNames(c.instance).table.length).toBeLessThanOrEqual(64);
    expect(problemsOf({ BANHAMMER_INSTANCE: `${name}i` })[0]).toMatchObject({ key: 'instance', source: 'env BANHAMMER_INSTANCE' });
  });
});

describe('share Redis URL: what the loader accepts, the share client takes', () => {
  const urls = ['redis://r', 'redis://u:p@r:6380/2', 'rediss://r', 'redis://[::1]:6379', 'redis://us%zzer@r', 'redis://:p%zz@r', 'redis://:%E0%A4%A@r', 'redis://r:0', 'redis://r:00', 'redis://:p%25@r'];
  for (const url of urls) {
    it(url, () => {
      const ok = accepted({ BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'g' });
      let clientOk = true;
      try {
        const o = redisClientOptions(url, undefined);
        if (!(o.socket.port >= 1 && o.socket.port <= 65535)) clientOk = false;
      } catch {
        clientOk = false;
      }
      expect({ url, ok }).toEqual({ url, ok: clientOk });
    });
  }
});
