/**
 * Round 6: Apache (APR ≥ 1.7) writes a link-local IPv6 client with its zone, `fe80::77%eth0`, in
 * `%h` and `%a` (seen with Debian's Apache 2.4 in test/integration/client-seam-6/apache-zone.test.ts).
 * The parser skipped every such line as 'bad-address': a neighbour on the link was never banned.
 * Decision: the client is the address without its zone (what the kernel enforcers match as the
 * packets' source, and what banhammer-map.conf looks up once it drops the zone, see the patch in the
 * round-6 report); a zone anywhere else (a global address, an empty or overlong zone, two `%`) is
 * still no address.
 */
import { describe, expect, it } from 'vitest';
import { isSkip } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const REST = `[05/Dec/2026:11:36:39 +0000] "GET /zone-probe HTTP/1.1" 404 416 "-" "curl/7.88.1"`;
const who = (l: string, format: 'auto' | 'apache-combined' | 'apache-vhost-combined' | 'apache-host-combined' = 'auto'): string => {
  const r = createLineParser(format)(l);
  return isSkip(r) ? r : `${r.ip} ${r.family}${r.vhost === undefined ? '' : ` ${r.vhost}`}`;
};
const docker = (l: string): string => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-12-05T11:36:39.000000000Z' });

describe('a link-local client with its zone, as Apache writes it', () => {
  it('the first field (%h, %a): the address without its zone', () => {
    expect(who(`fe80::77%cs6d0 - - ${REST}`)).toBe('fe80::77 6');
    expect(who(`fe80::77%eth0 - - ${REST}`, 'apache-combined')).toBe('fe80::77 6');
    expect(who(`FE80::0:77%eth0 - - ${REST}`)).toBe('fe80::77 6');
    expect(who(`febf::1%2 - - ${REST}`)).toBe('febf::1 6'); // a numeric zone (no interface name)
    expect(who(`fe80::77%enp0s31f6.100 - - ${REST}`)).toBe('fe80::77 6');
    expect(who(docker(`fe80::77%eth0 - - ${REST}`))).toBe('fe80::77 6');
  });

  it('the peer after a host (vhost_combined, the host layout): the address without its zone', () => {
    expect(who(`www.example.org:80 fe80::77%eth0 - - ${REST}`)).toBe('fe80::77 6 www.example.org');
    expect(who(`www.example.org:80 fe80::77%eth0 - - ${REST}`, 'apache-vhost-combined')).toBe('fe80::77 6 www.example.org');
    expect(who(`www.example.org fe80::77%eth0 - - ${REST}`, 'apache-host-combined')).toBe('fe80::77 6 www.example.org');
    // `auto`, an address as the host: the second field is the peer, never the host's address.
    expect(who(`198.18.0.9 fe80::77%eth0 - - ${REST}`)).toBe('fe80::77 6 198.18.0.9');
  });

  it('a zone anywhere else is still no address', () => {
    for (const bad of ['2001:db8::7%eth0', '198.18.0.7%eth0', 'fe80::77%', 'fe80::77%abcdefghijklmnop', 'fe80::77%a%b', '%eth0', 'fec0::1%eth0', '::ffff:198.18.0.7%eth0']) {
      expect(who(`${bad} - - ${REST}`), bad).toBe('bad-address');
    }
    expect(who(`www.example.org:80 2001:db8::7%eth0 - - ${REST}`)).toBe('bad-address');
  });
});
