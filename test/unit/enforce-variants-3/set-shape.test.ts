/**
 * Round 3 (H5): what check() and init() take for "one of our sets" (setShapeProblem), against the
 * headers the real `ipset list -t` (v7.17) prints. A set of our name that cannot hold our bans must
 * be named as such (and is then replaced: test/integration/enforce-variants-3/ipset-shape.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseSetHeaderInfo, setShapeProblem } from '../../../src/enforce/iptables-args.js';
import { refusedLine } from '../../../src/enforce/firewall-commands.js';
import { BanhammerError } from '../../../src/errors.js';

const listing = (name: string, type: string, header: string) => `Name: ${name}\nType: ${type}\nRevision: 6\nHeader: ${header}\nSize in memory: 216\nReferences: 2\nNumber of entries: 3\n`;
const one = (type: string, header: string) => parseSetHeaderInfo(listing('bh-web-v4', type, header)).get('bh-web-v4')!;
const M = 1_048_576;

describe('setShapeProblem', () => {
  it('our own shape, with or without extras that do not matter, is fine', () => {
    expect(setShapeProblem(one('hash:ip', 'family inet hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x1'), 4, 'hash:ip', M)).toBeNull();
    expect(setShapeProblem(one('hash:ip', 'family inet6 hashsize 4096 maxelem 2000000 timeout 30 counters comment bucketsize 12'), 6, 'hash:ip', M)).toBeNull();
    expect(setShapeProblem(one('hash:net', 'family inet hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12'), 4, 'hash:net', M)).toBeNull();
    expect(one('hash:ip', 'family inet maxelem 1').count).toBe(3);
  });
  it.each([
    ['no timeout support', 'hash:ip', 'family inet hashsize 1024 maxelem 1048576 bucketsize 12', /timeout/],
    ['the other family', 'hash:ip', 'family inet6 hashsize 1024 maxelem 1048576 timeout 0', /family is inet6/],
    ['another hash type', 'hash:net', 'family inet hashsize 1024 maxelem 1048576 timeout 0', /type hash:net/],
    ['list:set', 'list:set', 'size 8', /type list:set/],
    ['bitmap', 'bitmap:ip', 'range 198.18.0.0-198.18.0.255 timeout 0', /type bitmap:ip/],
    ['too small', 'hash:ip', 'family inet hashsize 1024 maxelem 65536 timeout 0', /at most 65536/],
    ['forceadd', 'hash:ip', 'family inet hashsize 1024 maxelem 1048576 timeout 0 forceadd', /forceadd/],
  ])('%s is named', (_, type, header, why) => {
    expect(setShapeProblem(one(type, header), 4, 'hash:ip', M)).toMatch(why);
  });
  it('an ipset restore failure caused by the set’s shape is the set’s, never one element’s (not remembered as refused)', () => {
    for (const stderr of [
      'ipset v7.17: Error in line 1: Timeout cannot be used: set was created without timeout support',
      'ipset v7.17: Error in line 2: Syntax error: cannot parse 198.18.0.2: resolving to IPv6 address failed',
    ]) {
      expect(refusedLine(new BanhammerError('BH_ERR_FIREWALL', 'x', { data: { stderr } }))).toBeNull();
    }
  });
});
