/**
 * the nftables enforcer validates a network ban again like the iptables and log
 * enforcers do (acceptNetwork / networkCoverReason: never wider than /8 for IPv4 or /32 for IPv6,
 * never covering multicast, the broadcast address or IPv4-mapped IPv6). It checked only /0, loopback
 * and the unspecified range, so `128.0.0.0/1` (half of IPv4) or `2000::/3` (all global unicast IPv6)
 * reaching it would have been written and dropped the whole internet's traffic to the site.
 */
import { describe, expect, it } from 'vitest';
import { acceptTarget, elementOps } from '../../../src/enforce/nft-args.js';
import { acceptNetwork } from '../../../src/enforce/iptables-args.js';
import type { RefusedEntry } from '../../../src/enforce/enforcer.js';

const NOW = 1_700_000_000_000;

describe('nftables refuses the networks the iptables enforcer refuses', () => {
  for (const net of ['128.0.0.0/1', '192.0.0.0/2', '198.0.0.0/7', '2000::/3', '2001::/16', '224.0.0.0/4', '255.255.255.0/24']) {
    it(`${net}`, () => {
      const why: RefusedEntry[] = [];
      expect(acceptNetwork({ ip: net, family: net.includes(':') ? 6 : 4 }, [4, 6], why)).toBeNull();
      expect(acceptTarget(net, [4, 6], true)).toHaveProperty('reason');
      const { ops, refused } = elementOps({ ban: [{ ip: net, family: net.includes(':') ? 6 : 4, until: null }], unban: [] }, [4, 6], NOW, { cidr: true });
      expect(ops).toEqual([]);
      expect(refused).toHaveLength(1);
    });
  }

  it('still accepts what iptables accepts', () => {
    for (const net of ['198.18.0.0/15', '10.0.0.0/8', '2001:db8::/32', '2001:db8:1::/48']) {
      expect(acceptTarget(net, [4, 6], true)).toMatchObject({ kind: 'net' });
    }
  });
});
