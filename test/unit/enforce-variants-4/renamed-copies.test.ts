/**
 * Round 4 (H5): which chains shutdown takes for a renamed copy of ours (renamed-copies.ts): only a
 * user chain holding nothing but rules naming our sets (and RETURNs); never a built-in chain,
 * DOCKER-USER, our own chain, a chain of anyone else's that uses our set among other rules, or a
 * chain naming a set that merely starts like ours.
 */
import { describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { renamedCopies, setInUse, setUsers } from '../../../src/enforce/renamed-copies.js';

const SETS = ['bh-web-v4', 'bh-web-n4'];
const save = [
  '-P INPUT ACCEPT',
  '-N BANHAMMER-web',
  '-N renamed',
  '-N theirs',
  '-N lookalike',
  '-N DOCKER-USER',
  '-A INPUT -p tcp -m multiport --dports 80 -j renamed',
  '-A INPUT -p tcp -m multiport --dports 80 -j BANHAMMER-web',
  '-A INPUT -m set --match-set bh-web-v4 src -j LOG',
  '-A FORWARD -j renamed',
  '-A renamed -m conntrack --ctdir REPLY -j RETURN',
  '-A renamed -p tcp -m set --match-set bh-web-v4 src -j DROP',
  '-A renamed -p udp -m set --match-set bh-web-n4 src -j DROP',
  '-A BANHAMMER-web -p tcp -m set --match-set bh-web-v4 src -j DROP',
  '-A theirs -p tcp -m set --match-set bh-web-v4 src -j DROP',
  '-A theirs -s 198.18.9.9/32 -j ACCEPT',
  '-A lookalike -m set --match-set bh-web-v4x src -j DROP',
  '-A DOCKER-USER -m set --match-set bh-web-v4 src -j DROP',
  '',
].join('\n');

describe('renamedCopies', () => {
  it('finds only the copy, with every jump to it', () => {
    const c = renamedCopies(save, SETS, 'BANHAMMER-web');
    expect(c.map((x) => x.chain)).toEqual(['renamed']);
    expect(c[0]!.jumps.map((j) => `${j.chain} ${j.spec.join(' ')}`)).toEqual(['INPUT -p tcp -m multiport --dports 80 -j renamed', 'FORWARD -j renamed']);
  });

  it('a copy carrying a quoted comment is not taken (its rules could not be deleted word for word)', () => {
    const s = save.replace('-A renamed -p udp -m set --match-set bh-web-n4 src -j DROP', '-A renamed -p udp -m set --match-set bh-web-n4 src -m comment --comment "a b" -j DROP');
    expect(renamedCopies(s, SETS, 'BANHAMMER-web')).toEqual([]);
  });

  it('setUsers names every chain still using a set; setInUse reads ipset’s refusal', () => {
    expect(setUsers(save, 'bh-web-v4', 'BANHAMMER-web').sort()).toEqual(['DOCKER-USER', 'INPUT', 'renamed', 'theirs']);
    const e = new BanhammerError('BH_ERR_FIREWALL', 'x', { data: { stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component' } });
    expect(setInUse(e)).toBe(true);
    expect(setInUse(new BanhammerError('BH_ERR_FIREWALL', 'x', { data: { stderr: 'The set with the given name does not exist' } }))).toBe(false);
    expect(setInUse(new Error('in use by a kernel component'))).toBe(false);
  });
});
