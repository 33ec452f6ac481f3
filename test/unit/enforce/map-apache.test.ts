import { afterEach, describe, expect, it } from 'vitest';
import { PERMANENT_STAMP, apacheKeys, renderApacheDefines, renderApacheMap, timeStamp } from '../../../src/enforce/apache-map.js';

const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('apache-map rendering', () => {
  it('stamps the expiry in local time like %{TIME}, rounded up to the second', () => {
    const until = Date.UTC(2026, 6, 1, 12, 0, 0, 500);
    process.env.TZ = 'UTC';
    expect(timeStamp(until)).toBe('20260701120001');
    expect(timeStamp(Date.UTC(2026, 6, 1, 12, 0, 0))).toBe('20260701120000');
    process.env.TZ = 'Europe/Berlin'; // CEST, UTC+2
    expect(timeStamp(until)).toBe('20260701140001');
    expect(timeStamp(null)).toBe(PERMANENT_STAMP);
    expect(timeStamp(Date.UTC(12000, 0, 1))).toBe(PERMANENT_STAMP);
  });

  it('14-digit stamps sort like the times they name', () => {
    process.env.TZ = 'UTC';
    const a = timeStamp(Date.UTC(2026, 8, 9, 23, 59, 59));
    const b = timeStamp(Date.UTC(2026, 9, 1, 0, 0, 0));
    expect(a < b).toBe(true);
    expect(b < PERMANENT_STAMP).toBe(true);
  });

  it('lists every spelling APR may use for the client', () => {
    // APR prints an IPv4-mapped address (a peer on the dual-stack socket, a mapped X-Forwarded-For entry) as plain IPv4.
    expect(apacheKeys({ ip: '198.18.0.9', family: 4 })).toEqual(['198.18.0.9']);
    expect(apacheKeys({ ip: '2001:db8::9', family: 6 })).toEqual(['2001:db8::9']);
    expect(apacheKeys({ ip: '::c612:9', family: 6 })).toEqual(['::c612:9', '::198.18.0.9']);
    expect(apacheKeys({ ip: '::1', family: 6 })).toEqual(['::1']);
  });

  it('renders comment lines and one "<key> <stamp>" line per key', () => {
    process.env.TZ = 'UTC';
    const now = Date.UTC(2026, 0, 1);
    const text = renderApacheMap([{ ip: '198.18.0.9', family: 4, until: now + 60_000 }, { ip: '2001:db8::9', family: 6, until: null }], now);
    expect(text.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      '198.18.0.9 20260101000100',
      `2001:db8::9 ${PERMANENT_STAMP}`,
      '',
    ]);
  });
});

describe('renderApacheDefines (banhammer apache-conf)', () => {
  const base = { enforcer: 'iptables' as const, trustedProxies: [] as string[], remoteipHeader: 'X-Forwarded-For', mapFile: '/run/banhammer/banned.map' };

  it('always names the header; proxies only when set; the map file only for apache-map', () => {
    expect(renderApacheDefines(base)).toBe('Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\n');
    expect(renderApacheDefines({ ...base, trustedProxies: ['198.19.100.0/26', '2001:db8:100::/48'], remoteipHeader: 'X-Real-IP' })).toBe(
      'Define BANHAMMER_REMOTEIP_HEADER X-Real-IP\nDefine BANHAMMER_TRUSTED_PROXIES "198.19.100.0/26 2001:db8:100::/48"\n',
    );
    expect(renderApacheDefines({ ...base, enforcer: 'apache-map', trustedProxies: ['198.19.100.7'] })).toBe(
      'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\nDefine BANHAMMER_TRUSTED_PROXIES "198.19.100.7/32"\nDefine BANHAMMER_MAP_FILE /run/banhammer/banned.map\n',
    );
    expect(renderApacheDefines({ ...base, enforcer: 'nginx-map' })).not.toContain('BANHAMMER_MAP_FILE');
  });

  it.each([
    [{ remoteipHeader: "'X-Forwarded-For" }, /remoteip_header = .*BANHAMMER_REMOTEIP_HEADER.*cannot be written into Apache's configuration/],
    [{ remoteipHeader: 'X|Y' }, /remoteip_header/],
    [{ trustedProxies: ['198.19.100.0/26"', 'x'] }, /trusted_proxies = .*BANHAMMER_TRUSTED_PROXIES/],
    [{ enforcer: 'apache-map' as const, mapFile: '/run/my map' }, /map_file = "\/run\/my map" \(BANHAMMER_MAP_FILE\).*no spaces or quotes/],
    [{ enforcer: 'apache-map' as const, mapFile: '/run/${X}' }, /map_file/],
    [{ enforcer: 'apache-map' as const, mapFile: '/run/"x' }, /map_file/],
  ])('refuses what Apache would split, quote or substitute: %o', (patch, message) => {
    expect(() => renderApacheDefines({ ...base, ...patch })).toThrow(message);
  });

  it('a path that is bad only for Apache does not matter to other enforcers', () => {
    expect(renderApacheDefines({ ...base, enforcer: 'nginx-map', mapFile: '/run/my map' })).toBe('Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For\n');
  });
});
