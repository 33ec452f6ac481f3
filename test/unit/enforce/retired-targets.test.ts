/**
 * Host mode: which containers' sets and rules an enforcer's check() lets go (firewall-commands.ts
 * retiredTargets): those none of whose bans in the ban book is in force; never any without the book's
 * view. The kernel side is in test/integration/enforce (docker-user and nftables).
 */
import { describe, expect, it } from 'vitest';
import { retiredTargets } from '../../../src/enforce/firewall-commands.js';

const X = 'a'.repeat(64);
const Y = 'b'.repeat(64);
const Z = 'c'.repeat(64);

describe('retiredTargets', () => {
  it('lets go of containers with no ban in force: none at all, expired ones only, or host-wide ones only', () => {
    const now = 1_000_000;
    const book = [
      { ip: '198.18.0.1', family: 4 as const, until: now + 1, scope: X },
      { ip: '198.18.0.2', family: 4 as const, until: now, scope: Y }, // ends now: not in force
      { ip: '198.18.0.3', family: 4 as const, until: null }, // host-wide
      { ip: '2001:db8::4', family: 6 as const, until: null, scope: Z },
    ];
    expect(retiredTargets([X, Y, Z, 'd'.repeat(64)], book, now)).toEqual([Y, 'd'.repeat(64)]);
    expect(retiredTargets([X, Y], [], now)).toEqual([X, Y]);
  });

  it('lets go of none without the ban book’s view', () => {
    expect(retiredTargets([X, Y], null, 0)).toEqual([]);
  });
});
