import { describe, expect, it } from 'vitest';
import { banField, groupKeys, groupProblem } from '../../../src/share/keys.js';
import { SHARE_ACL_COMMANDS, shareAclLine } from '../../../src/share/share.js';
import { SCRIPTS } from '../../../src/share/lua.js';

describe('share keys', () => {
  it('puts every key and the channel under banhammer:{<group>}:', () => {
    const k = groupKeys('shop');
    expect(k.prefix).toBe('banhammer:{shop}:');
    expect(k.events).toBe('banhammer:{shop}:events');
    expect(k.bans).toBe('banhammer:{shop}:bans');
    expect(k.epoch).toBe('banhammer:{shop}:epoch');
    expect(k.failures('http-403', '198.19.113.7', undefined)).toBe('banhammer:{shop}:fail:http-403:-:198.19.113.7');
    expect(k.failures('http-403', '2001:db8::1', 'c0ffee')).toBe('banhammer:{shop}:fail:http-403:c0ffee:2001:db8::1');
    expect(k.claim('http-403', '2001:db8::1', undefined)).toBe('banhammer:{shop}:claim:http-403:-:2001:db8::1');
    for (const key of [k.events, k.bans, k.epoch, k.failures('r', '1.2.3.4', 's'), k.claim('r', '1.2.3.4', undefined)]) expect(key.startsWith(k.prefix)).toBe(true);
  });

  it('accepts only group names that cannot leave their hash tag', () => {
    for (const ok of ['shop', 'a', 'Shop_1.prod-eu', 'x'.repeat(64)]) expect(groupProblem(ok)).toBeNull();
    for (const bad of ['', 'a}b', '{a}', 'a:b', 'a b', '-a', '.a', 'x'.repeat(65), 'a*', 'ä', 'a\n']) {
      expect(groupProblem(bad)).not.toBeNull();
      expect(() => groupKeys(bad)).toThrow(RangeError);
    }
  });

  it('refuses window parts that could collide or escape', () => {
    const k = groupKeys('g');
    expect(() => k.failures('Bad:Rule', '1.2.3.4', undefined)).toThrow(RangeError);
    expect(() => k.failures('r', '1.2.3.4', 'a:b')).toThrow(RangeError);
    expect(() => k.failures('r', '1.2.3.4', 'a b')).toThrow(RangeError);
    expect(() => k.failures('r', '', undefined)).toThrow(RangeError);
    expect(() => k.failures('r', '1.2.3.4}', undefined)).toThrow(RangeError);
  });

  it('names hash fields as the ban book does', () => {
    expect(banField('1.2.3.4', undefined)).toBe('1.2.3.4');
    expect(banField('1.2.3.4', 'c0ffee')).toBe('1.2.3.4 c0ffee');
  });

  it('gives the ACL line of a restricted user, with every command the scripts call', () => {
    expect(shareAclLine('shop', 'pw')).toBe(
      'user shop on >pw resetkeys resetchannels ~banhammer:{shop}:* &banhammer:{shop}:* -@all ' + SHARE_ACL_COMMANDS.map((c) => `+${c}`).join(' '),
    );
    const called = new Set<string>();
    for (const s of SCRIPTS) for (const m of s.source.matchAll(/redis\.p?call\('([A-Z]+)'/g)) called.add(m[1]!.toLowerCase());
    for (const c of called) expect(SHARE_ACL_COMMANDS).toContain(c);
  });
});
