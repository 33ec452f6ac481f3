import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig, type LoadInput } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { PERMANENT } from '../../../src/config/duration.js';
import type { Problem } from '../../../src/config/problems.js';

const FILE = '/etc/banhammer/banhammer.yaml';

/** A loader whose file system holds exactly `files`. */
function input(opts: { env?: Record<string, string | undefined>; files?: Record<string, string>; flags?: LoadInput['flags']; hostname?: string }): LoadInput {
  const files = opts.files ?? {};
  return {
    env: opts.env ?? {},
    flags: opts.flags,
    hostname: opts.hostname ?? 'c0ffee123456',
    readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
      return t;
    },
  };
}

function failure(fn: () => unknown): BanhammerError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BanhammerError) return e;
    throw e;
  }
  throw new Error('expected a BanhammerError');
}

const problemKeys = (e: BanhammerError): string[] => (e.data.problems as Problem[]).map((p) => p.key);

describe('defaults', () => {
  const c = loadConfig(input({}));
  it('match the documented defaults', () => {
    expect(c.instance).toBe('c0ffee123456');
    expect(c.log).toEqual({ paths: ['/var/log/apache2/access.log'], format: 'auto' });
    expect(c.ignoreip).toEqual([]);
    expect(c.maxTracked).toBe(100_000);
    expect(c.stateDir).toBe('/var/lib/banhammer');
    expect(c.socketPath).toBe('/run/banhammer/banhammer.sock');
    expect(c.enforcer).toBe('iptables');
    expect(c.ports).toEqual([80, 443]);
    expect(c.iptablesMode).toBe('auto');
    expect(c.blockAction).toBe('DROP');
    expect(c.metricsAddr).toBeNull();
    expect(c.trustedProxies).toEqual([]);
    expect(c.logLevel).toBe('info');
  });
  it('hold every preset unchanged, only forbidden and exploit-probes enabled', () => {
    expect(Object.keys(c.rules)).toEqual(Object.keys(PRESETS));
    for (const [name, p] of Object.entries(PRESETS)) expect(c.rules[name]).toEqual(p);
    expect(Object.entries(c.rules).filter(([, r]) => r.enabled).map(([n]) => n)).toEqual(['exploit-probes', 'forbidden']);
  });
  it('reject a hostname that is not a valid instance name, pointing at BANHAMMER_INSTANCE', () => {
    const e = failure(() => loadConfig(input({ hostname: 'web 1' })));
    expect(e.message).toContain('instance = "web 1" (default)');
    expect(e.message).toContain('BANHAMMER_INSTANCE');
    expect(loadConfig(input({ hostname: 'web 1', env: { BANHAMMER_INSTANCE: 'web1' } })).instance).toBe('web1');
  });
});

describe('precedence: defaults → file → env → flags', () => {
  const files = {
    [FILE]: 'instance: from-file\nlog: { paths: [/file.log], format: apache-common }\nignoreip: [198.18.0.1]\nports: [8080]\nrules:\n  forbidden: { maxretry: 3, findtime: 2m }\n',
  };
  const env = {
    BANHAMMER_CONFIG: FILE,
    BANHAMMER_INSTANCE: 'from-env',
    BANHAMMER_LOG_PATH: '/env.log',
    BANHAMMER_IGNOREIP: '198.18.0.2',
    BANHAMMER_MAXRETRY: '4',
  };

  it('the file beats the defaults', () => {
    const c = loadConfig(input({ files, env: { BANHAMMER_CONFIG: FILE } }));
    expect(c.instance).toBe('from-file');
    expect(c.log).toEqual({ paths: ['/file.log'], format: 'apache-common' });
    expect(c.ports).toEqual([8080]);
    expect(c.rules.forbidden!.maxretry).toBe(3);
    expect(c.rules.forbidden!.findtime).toBe(120_000);
    expect(c.rules.forbidden!.bantime).toBe(PRESETS.forbidden!.bantime);
  });

  it('the environment beats the file, key by key', () => {
    const c = loadConfig(input({ files, env }));
    expect(c.instance).toBe('from-env');
    expect(c.log).toEqual({ paths: ['/env.log'], format: 'apache-common' });
    expect(c.ignoreip).toEqual(['198.18.0.2/32']);
    expect(c.ports).toEqual([8080]);
    expect(c.rules.forbidden!.maxretry).toBe(4);
    expect(c.rules.forbidden!.findtime).toBe(120_000);
  });

  it('flags beat the environment', () => {
    const c = loadConfig(
      input({ files, env, flags: { instance: 'from-flag', logPaths: ['/flag.log'], logFormat: 'nginx-combined', ignoreip: ['198.18.0.3', '2001:db8::1'] } }),
    );
    expect(c.instance).toBe('from-flag');
    expect(c.log).toEqual({ paths: ['/flag.log'], format: 'nginx-combined' });
    expect(c.ignoreip).toEqual(['198.18.0.3/32', '2001:db8::1/128']);
  });

  it('--config beats BANHAMMER_CONFIG', () => {
    const c = loadConfig(input({ files: { ...files, '/other.yaml': 'instance: other\n' }, env: { BANHAMMER_CONFIG: FILE }, flags: { configPath: '/other.yaml' } }));
    expect(c.instance).toBe('other');
  });

  it('rule selection: file enabled < BANHAMMER_RULES < --rules', () => {
    const f = { [FILE]: 'rules:\n  not-found: { enabled: true }\n' };
    const enabled = (i: LoadInput) => Object.entries(loadConfig(i).rules).filter(([, r]) => r.enabled).map(([n]) => n);
    expect(enabled(input({ files: f, env: { BANHAMMER_CONFIG: FILE } }))).toEqual(['exploit-probes', 'forbidden', 'not-found']);
    expect(enabled(input({ files: f, env: { BANHAMMER_CONFIG: FILE, BANHAMMER_RULES: 'xmlrpc, unauthorized' } }))).toEqual(['unauthorized', 'xmlrpc']);
    expect(enabled(input({ files: f, env: { BANHAMMER_CONFIG: FILE, BANHAMMER_RULES: 'xmlrpc' }, flags: { rules: ['sensitive-paths,forbidden'] } }))).toEqual([
      'forbidden',
      'sensitive-paths',
    ]);
  });

  it('records where each value came from', () => {
    const r = resolveConfig(input({ files, env, flags: { instance: 'x' } }));
    expect(r.configPath).toBe(FILE);
    expect(r.sources.get('instance')).toBe('flag --instance');
    expect(r.sources.get('log.paths')).toBe('env BANHAMMER_LOG_PATH');
    expect(r.sources.get('log.format')).toBe(`file ${FILE}`);
    expect(r.sources.get('rules.forbidden.maxretry')).toBe('env BANHAMMER_MAXRETRY');
    expect(r.sources.get('rules.forbidden.findtime')).toBe(`file ${FILE}`);
    expect(r.sources.has('state_dir')).toBe(false);
  });
});

describe('rules from the file', () => {
  it('user rules get the documented defaults; match fields default to any', () => {
    const c = loadConfig(input({ files: { [FILE]: "rules:\n  admin:\n    match: { paths: ['^/admin'] }\n" }, env: { BANHAMMER_CONFIG: FILE } }));
    expect(c.rules.admin).toEqual({
      enabled: true,
      description: '',
      match: { status: null, paths: ['^/admin'], methods: [] },
      maxretry: 5,
      findtime: 600_000,
      bantime: 600_000,
      increment: null,
    });
  });
  it('a preset override merges match field by field and keeps the rest', () => {
    const c = loadConfig(input({ files: { [FILE]: 'rules:\n  xmlrpc:\n    match: { methods: [post, get] }\n    bantime: -1\n' }, env: { BANHAMMER_CONFIG: FILE } }));
    expect(c.rules.xmlrpc!.match).toEqual({ ...PRESETS.xmlrpc!.match, methods: ['POST', 'GET'] });
    expect(c.rules.xmlrpc!.bantime).toBe(PERMANENT);
    expect(c.rules.xmlrpc!.maxretry).toBe(PRESETS.xmlrpc!.maxretry);
  });
  it('increment durations and scalar shorthands are normalised', () => {
    const c = loadConfig(
      input({ files: { [FILE]: 'rules:\n  t:\n    match: { status: 418 }\n    increment: { factor: 1.5, maxtime: 1w }\n' }, env: { BANHAMMER_CONFIG: FILE } }),
    );
    expect(c.rules.t!.match.status).toEqual([418]);
    expect(c.rules.t!.increment).toEqual({ factor: 1.5, maxtime: 7 * 86_400_000 });
  });
  it('a user rule can be named in BANHAMMER_RULES and configured per rule from the environment', () => {
    const c = loadConfig(
      input({
        files: { [FILE]: 'rules:\n  wp-login:\n    match: { status: [401] }\n' },
        env: { BANHAMMER_CONFIG: FILE, BANHAMMER_RULES: 'wp-login', BANHAMMER_RULE_WP_LOGIN_BANTIME: '1h30m' },
      }),
    );
    expect(c.rules['wp-login']!.enabled).toBe(true);
    expect(c.rules['wp-login']!.bantime).toBe(5_400_000);
    expect(c.rules.forbidden!.enabled).toBe(false);
  });
});

describe('environment parsing', () => {
  it('reads every setting from its variable', () => {
    const c = loadConfig(
      input({
        env: {
          BANHAMMER_INSTANCE: 'web_1.prod',
          BANHAMMER_LOG_PATH: '/a/access.log, /b/*.log',
          BANHAMMER_LOG_FORMAT: 'docker-json',
          BANHAMMER_IGNOREIP: '10.1.2.3/8, 2001:DB8::1  ::ffff:198.18.0.9',
          BANHAMMER_MAX_TRACKED: '5000',
          BANHAMMER_STATE_DIR: '/data/bh',
          BANHAMMER_SOCKET: '/tmp/bh.sock',
          BANHAMMER_ENFORCER: 'nginx-map',
          BANHAMMER_PORTS: '8080 8443,8080',
          BANHAMMER_IPTABLES_MODE: 'legacy',
          BANHAMMER_BLOCK_ACTION: 'reject',
          BANHAMMER_METRICS_ADDR: '[::1]:9100',
          BANHAMMER_TRUSTED_PROXIES: '198.18.0.0/15',
          BANHAMMER_LOG_LEVEL: 'DEBUG',
        },
      }),
    );
    expect(c.instance).toBe('web_1.prod');
    expect(c.log).toEqual({ paths: ['/a/access.log', '/b/*.log'], format: 'docker-json' });
    expect(c.ignoreip).toEqual(['10.0.0.0/8', '2001:db8::1/128', '198.18.0.9/32']);
    expect(c.maxTracked).toBe(5000);
    expect(c.stateDir).toBe('/data/bh');
    expect(c.socketPath).toBe('/tmp/bh.sock');
    expect(c.enforcer).toBe('nginx-map');
    expect(c.ports).toEqual([8080, 8443]);
    expect(c.iptablesMode).toBe('legacy');
    expect(c.blockAction).toBe('REJECT');
    expect(c.metricsAddr).toBe('[::1]:9100');
    expect(c.trustedProxies).toEqual(['198.18.0.0/15']);
    expect(c.logLevel).toBe('debug');
  });

  it('short variables configure the default rule; per-rule variables any rule', () => {
    const c = loadConfig(
      input({
        env: {
          BANHAMMER_MAXRETRY: '7',
          BANHAMMER_FINDTIME: '90',
          BANHAMMER_BANTIME: 'permanent',
          BANHAMMER_RULE_NOT_FOUND_ENABLED: 'yes',
          BANHAMMER_RULE_NOT_FOUND_MAXRETRY: '50',
          BANHAMMER_RULE_SENSITIVE_PATHS_FINDTIME: '1d 12h',
          BANHAMMER_RULE_XMLRPC_ENABLED: 'off',
        },
      }),
    );
    expect(c.rules.forbidden).toMatchObject({ maxretry: 7, findtime: 90_000, bantime: PERMANENT });
    expect(c.rules['not-found']).toMatchObject({ enabled: true, maxretry: 50 });
    expect(c.rules['sensitive-paths']!.findtime).toBe(36 * 3_600_000);
    expect(c.rules.xmlrpc!.enabled).toBe(false);
  });

  it('treats empty variables as unset and ignores unrelated variables', () => {
    const c = loadConfig(input({ env: { BANHAMMER_PORTS: '', BANHAMMER_RULES: ' ', BANHAMMER_CONFIG: '', PATH: '/usr/bin', HOME: undefined } }));
    expect(c.ports).toEqual([80, 443]);
    expect(c.rules.forbidden!.enabled).toBe(true);
  });

  it('metrics can be switched off explicitly', () => {
    expect(loadConfig(input({ env: { BANHAMMER_METRICS_ADDR: 'off' } })).metricsAddr).toBeNull();
    expect(loadConfig(input({ env: { BANHAMMER_METRICS_ADDR: ':9100' } })).metricsAddr).toBe(':9100');
  });

  it('reports every problem at once, one line each, naming key, value, source and what is allowed', () => {
    const e = failure(() =>
      loadConfig(
        input({
          env: { BANHAMMER_PORTS: '80,0', BANHAMMER_ENFORCER: 'pf', BANHAMMER_RULE_FORBIDDEN_FINDTIME: 'soon', BANHAMMER_LOGLEVEL: 'info' },
          flags: { rules: ['forbidden', 'bogus'] },
        }),
      ),
    );
    expect(e.code).toBe('BH_ERR_CONFIG');
    expect(e.hint).toBeTruthy();
    const lines = e.message.split('\n');
    expect(lines[0]).toBe('invalid configuration (5 problems):');
    expect(lines).toContain('- ports[1] = 0 (env BANHAMMER_PORTS): a port is 1–65535');
    expect(lines).toContain(
      '- enforcer = "pf" (env BANHAMMER_ENFORCER): expected one of iptables, nftables, auto, log, apache-map, nginx-map, docker-user',
    );
    expect(lines.find((l) => l.startsWith('- rules.forbidden.findtime = "soon" (env BANHAMMER_RULE_FORBIDDEN_FINDTIME): expected a duration'))).toBeDefined();
    expect(lines).toContain('- BANHAMMER_LOGLEVEL (env BANHAMMER_LOGLEVEL): unknown variable; did you mean BANHAMMER_LOG_LEVEL? (README lists every BANHAMMER_* variable)');
    expect(lines.find((l) => l.startsWith('- rules = "bogus" (flag --rules): unknown rule'))).toBeDefined();
  });

  it('catches a misspelt or lower-case prefix', () => {
    const e = failure(() => loadConfig(input({ env: { banhammer_ports: '8080', BANHAMMR_BANTIME: '1h', BANANA_SPLIT: 'yes' } })));
    expect(problemKeys(e).sort()).toEqual(['BANHAMMR_BANTIME', 'banhammer_ports']);
    expect(e.message).toContain('did you mean BANHAMMER_PORTS?');
    expect(e.message).toContain('did you mean BANHAMMER_BANTIME?');
  });

  it('names the per-rule variable a typo probably meant', () => {
    const e = failure(() => loadConfig(input({ env: { BANHAMMER_RULE_NOTFOUND_MAXRETRY: '3' } })));
    expect(problemKeys(e)).toEqual(['rules.notfound.maxretry']);
    expect(e.message).toContain('did you mean BANHAMMER_RULE_NOT_FOUND_MAXRETRY?');
  });

  it('never reads process.env', () => {
    const saved = process.env.BANHAMMER_PORTS;
    process.env.BANHAMMER_PORTS = '1';
    try {
      expect(loadConfig(input({})).ports).toEqual([80, 443]);
    } finally {
      if (saved === undefined) delete process.env.BANHAMMER_PORTS;
      else process.env.BANHAMMER_PORTS = saved;
    }
  });
});

describe('flags', () => {
  it('are validated like environment values', () => {
    const e = failure(() => loadConfig(input({ flags: { logFormat: 'json', ignoreip: ['198.18.0.1', 'example.org'], instance: '.x', logPaths: [] } })));
    expect(problemKeys(e).sort()).toEqual(['ignoreip[1]', 'instance', 'log.format', 'log.paths']);
    expect(e.message).toContain('(flag --log-format)');
    expect(e.message).toContain('(flag --ignoreip)');
  });
  it('reject an empty --rules', () => {
    expect(problemKeys(failure(() => loadConfig(input({ flags: { rules: [' , '] } }))))).toEqual(['rules']);
  });
});

describe('the config file', () => {
  it('a missing file is one BH_ERR_CONFIG_FILE naming the path and how it was given', () => {
    const e = failure(() => loadConfig(input({ env: { BANHAMMER_CONFIG: '/nope.yaml' } })));
    expect(e.code).toBe('BH_ERR_CONFIG_FILE');
    expect(e.message).toBe('config file /nope.yaml (from env BANHAMMER_CONFIG) does not exist');
    expect(e.hint).toContain('BANHAMMER_CONFIG');
  });
  it('an unreadable file or a directory is one clear error', () => {
    const eacces: LoadInput = {
      env: {},
      flags: { configPath: '/secret.yaml' },
      hostname: 'h',
      readFile: () => {
        throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      },
    };
    expect(failure(() => loadConfig(eacces)).message).toBe('config file /secret.yaml (from flag --config) cannot be read: permission denied');
    const e = failure(() => loadConfig({ env: { BANHAMMER_CONFIG: '/' }, hostname: 'h' }));
    expect(e.code).toBe('BH_ERR_CONFIG_FILE');
    expect(e.message).toContain('is a directory');
  });
  it('the default reader reads real files', () => {
    const path = new URL('../../fixtures/config/valid/full.yaml', import.meta.url).pathname;
    expect(loadConfig({ env: { BANHAMMER_CONFIG: path }, hostname: 'h' }).instance).toBe('web1');
  });
  it('a boolean takes the environment\'s words in YAML too (`enabled: yes` is true), and nothing else', () => {
    expect(loadConfig(input({ files: { [FILE]: 'rules:\n  xmlrpc: { enabled: yes }\n' }, env: { BANHAMMER_CONFIG: FILE } })).rules.xmlrpc!.enabled).toBe(true);
    const e = failure(() => loadConfig(input({ files: { [FILE]: 'rules:\n  xmlrpc: { enabled: maybe }\n' }, env: { BANHAMMER_CONFIG: FILE } })));
    expect(problemKeys(e)).toEqual(['rules.xmlrpc.enabled']);
  });
  it('log paths and the nginx reload command refuse an empty item or a NUL, naming the item', () => {
    const conf = (yaml: string) => failure(() => loadConfig(input({ files: { [FILE]: yaml }, env: { BANHAMMER_CONFIG: FILE } })));
    const paths = conf('log:\n  paths: ["/var/log/a.log", "", "/var/log/b\\0.log"]\n');
    expect(problemKeys(paths)).toEqual(['log.paths[1]', 'log.paths[2]']);
    expect(paths.message).toContain('must not be empty');
    expect(paths.message).toContain('must not contain NUL');
    const reload = conf('enforcer: nginx-map\nmap_file: /run/banhammer/banned.geo\nnginx_reload: ["nginx", ""]\n');
    expect(problemKeys(reload)).toEqual(['nginx_reload[1]']);
    expect(reload.message).toContain('must not be empty');
  });
  it('problems in the file and the environment are reported together', () => {
    const e = failure(() => loadConfig(input({ files: { [FILE]: 'max_tracked: -1\n' }, env: { BANHAMMER_CONFIG: FILE, BANHAMMER_PORTS: 'x' } })));
    expect(problemKeys(e)).toEqual(['max_tracked', 'ports[0]']);
  });
});

describe('the result', () => {
  const c = loadConfig(input({ files: { [FILE]: 'ignoreip: [198.18.0.0/16]\n' }, env: { BANHAMMER_CONFIG: FILE } }));
  it('is deeply frozen', () => {
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.log)).toBe(true);
    expect(Object.isFrozen(c.log.paths)).toBe(true);
    expect(Object.isFrozen(c.ignoreip)).toBe(true);
    expect(Object.isFrozen(c.rules)).toBe(true);
    expect(Object.isFrozen(c.rules.forbidden!.match.status)).toBe(true);
    expect(() => {
      (c as { maxTracked: number }).maxTracked = 1;
    }).toThrow(TypeError);
    expect(() => (c.ports as number[]).push(1)).toThrow(TypeError);
  });
  it('shares nothing with the presets', () => {
    expect(c.rules.forbidden).not.toBe(PRESETS.forbidden);
    expect(c.rules.forbidden!.match).not.toBe(PRESETS.forbidden!.match);
    expect(c.rules.forbidden!.match.status).not.toBe(PRESETS.forbidden!.match.status);
  });
});

describe('trusted proxies are never every address (review: helper)', () => {
  it.each(['0.0.0.0/0', '::/0', '198.18.0.1, 0.0.0.0/0'])('%s is refused, naming the risk', (value) => {
    const e = failure(() => loadConfig(input({ env: { BANHAMMER_TRUSTED_PROXIES: value } })));
    expect(e.code).toBe('BH_ERR_CONFIG');
    expect(e.message).toMatch(/is \/0: every client would be a trusted proxy/);
  });
  it('a network of proxies is accepted', () => {
    expect(loadConfig(input({ env: { BANHAMMER_TRUSTED_PROXIES: '198.18.0.0/15 2001:db8::/32' } })).trustedProxies).toEqual(['198.18.0.0/15', '2001:db8::/32']);
  });
});
