/**
 * IPv4-mapped IPv6 networks in configuration (review: helper). `::ffff:a.b.c.d/N` counts N in IPv6
 * bits: the 96 bits of ::ffff:0:0/96 and then N − 96 bits of the IPv4 address, so
 * `::ffff:198.18.0.0/112` is 198.18.0.0/16. Every list of networks (ignoreip, trusted_proxies, the
 * renderer of Apache's trusted proxies) reads it through parseCidr, so one rule holds everywhere. A
 * prefix below /96 on a mapped address would reach outside ::ffff:0:0/96 and is refused, saying so.
 * The prefix used to be taken as IPv4 bits: `::ffff:198.18.0.0/24` was 198.18.0.0/24 (IPv4), and the
 * right spellings (/112, /128) were refused as not a CIDR.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadInput } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import { canonicalTarget, cidrProblem, parseCidr } from '../../../src/parse/ip.js';
import { acceptTarget } from '../../../src/enforce/nft-args.js';
import { renderApacheDefines } from '../../../src/enforce/apache-map.js';
import type { Problem } from '../../../src/config/problems.js';

const FILE = '/etc/banhammer/banhammer.yaml';

function input(env: Record<string, string>, yaml?: string): LoadInput {
  return {
    env: yaml === undefined ? env : { ...env, BANHAMMER_CONFIG: FILE },
    hostname: 'c0ffee123456',
    readFile: (p) => {
      if (yaml !== undefined && p === FILE) return yaml;
      throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
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

const problems = (e: BanhammerError): Problem[] => e.data.problems as Problem[];

describe('parseCidr: an IPv4-mapped network counts its prefix in IPv6 bits', () => {
  it.each([
    ['::ffff:198.18.0.0/112', '198.18.0.0', 16],
    ['::ffff:198.18.1.2/128', '198.18.1.2', 32],
    ['::ffff:198.18.1.2/127', '198.18.1.2', 31],
    ['::FFFF:c612:100/120', '198.18.1.0', 24],
    ['0:0:0:0:0:ffff:198.18.1.77/120', '198.18.1.0', 24],
    ['0000:0000:0000:0000:0000:FFFF:C612:0102/128', '198.18.1.2', 32],
    ['::ffff:198.19.255.255/111', '198.18.0.0', 15],
    ['::ffff:198.18.1.2/96', '0.0.0.0', 0],
  ])('%s is %s/%i (IPv4)', (raw, network, prefix) => {
    expect(parseCidr(raw)).toEqual({ network, prefix, family: 4 });
    expect(cidrProblem(raw)).toBeNull();
  });

  it.each(['::ffff:198.18.0.0/24', '::ffff:198.18.0.0/8', '::ffff:198.18.1.2/32', '::ffff:198.18.0.0/0', '::ffff:0:0/95', '::FFFF:c612:0/64', '::ffff:198.18.0.0/129'])(
    '%s is refused, and the problem says how to write it',
    (raw) => {
      expect(parseCidr(raw)).toBeNull();
      // Beyond /128 it is plainly no CIDR (nothing more to say); below /96, how to write it.
      if (raw.endsWith('/129')) expect(cidrProblem(raw)).toBeNull();
      else expect(cidrProblem(raw)).toMatch(/IPv4-mapped.*\/96 to \/128.*::ffff:198\.18\.0\.0\/112 is 198\.18\.0\.0\/16/);
    },
  );

  it('leaves the other IPv6 networks IPv6; a mapped network read from config is still no ban target', () => {
    expect(parseCidr('::198.18.0.0/120')).toEqual({ network: '::c612:0', prefix: 120, family: 6 });
    expect(parseCidr('::ffff:0:198.18.0.0/120')).toEqual({ network: '::ffff:0:c612:0', prefix: 120, family: 6 });
    expect(parseCidr('2001:db8::/32')).toEqual({ network: '2001:db8::', prefix: 32, family: 6 });
    // ban, unban, why, the group's messages and the nftables enforcer name a network in its own family
    // only (as status shows it): the mapped spelling stays refused there, by the ban book and the kernel alike.
    for (const raw of ['::ffff:198.18.0.0/120', '::ffff:198.18.0.5/128', '::ffff:198.18.0.0/24']) {
      expect(parseCidr(raw) !== null || cidrProblem(raw) !== null, raw).toBe(true);
      expect(canonicalTarget(raw), raw).toBeNull();
      expect(acceptTarget(raw, [4, 6], true), raw).toEqual({ reason: 'not a valid network (address/prefix)' });
    }
  });
});

describe('configuration lists read mapped networks one way', () => {
  it('ignoreip and trusted_proxies (environment and YAML) hold the IPv4 network the mapped one names', () => {
    const env = loadConfig(input({ BANHAMMER_IGNOREIP: '::ffff:198.18.0.0/112, ::ffff:198.19.1.2/128', BANHAMMER_TRUSTED_PROXIES: '::FFFF:c613:200/120' }));
    expect(env.ignoreip).toEqual(['198.18.0.0/16', '198.19.1.2/32']);
    expect(env.trustedProxies).toEqual(['198.19.2.0/24']);
    const yaml = loadConfig(input({}, 'ignoreip: ["::ffff:198.18.4.0/118", 198.18.4.0/22]\ntrusted_proxies: ["0:0:0:0:0:ffff:198.19.0.9/127"]\n'));
    // The two spellings of one network are one entry.
    expect(yaml.ignoreip).toEqual(['198.18.4.0/22']);
    expect(yaml.trustedProxies).toEqual(['198.19.0.8/31']);
  });

  it('a mapped address with a prefix below /96 is a configuration error naming the entry and the rule', () => {
    for (const [key, env] of [['ignoreip', 'BANHAMMER_IGNOREIP'], ['trusted_proxies', 'BANHAMMER_TRUSTED_PROXIES']] as const) {
      const e = failure(() => loadConfig(input({ [env]: '198.18.0.1 ::ffff:198.18.0.0/24' })));
      expect(e.code).toBe('BH_ERR_CONFIG');
      expect(problems(e).map((p) => p.key)).toEqual([`${key}[1]`]);
      expect(e.message).toMatch(/IPv4-mapped.*\/96 to \/128/);
    }
    const y = failure(() => loadConfig(input({}, 'ignoreip: ["::ffff:198.18.0.0/16"]\n')));
    expect(problems(y).map((p) => p.key)).toEqual(['ignoreip[0]']);
  });

  it('::ffff:0:0/96 is every IPv4 address: allowed in ignoreip as 0.0.0.0/0 is, refused as a trusted proxy as /0 is', () => {
    expect(loadConfig(input({ BANHAMMER_IGNOREIP: '::ffff:0:0/96' })).ignoreip).toEqual(['0.0.0.0/0']);
    const e = failure(() => loadConfig(input({ BANHAMMER_TRUSTED_PROXIES: '::ffff:0.0.0.0/96' })));
    expect(e.message).toMatch(/is \/0: every client would be a trusted proxy/);
  });

  it("Apache's trusted proxies get the IPv4 network (mod_remoteip compares IPv4 clients with IPv4 networks only)", () => {
    const c = loadConfig(input({ BANHAMMER_TRUSTED_PROXIES: '::ffff:198.19.0.0/112 2001:db8::/32', BANHAMMER_ENFORCER: 'apache-map' }));
    expect(renderApacheDefines(c)).toContain('Define BANHAMMER_TRUSTED_PROXIES "198.19.0.0/16 2001:db8::/32"\n');
    // A value that did not come through the schema is read the same way.
    expect(renderApacheDefines({ ...c, trustedProxies: ['::ffff:198.19.0.0/112'] })).toContain('"198.19.0.0/16"');
    expect(() => renderApacheDefines({ ...c, trustedProxies: ['::ffff:198.19.0.0/16'] })).toThrow(/IPv4-mapped/);
  });
});
