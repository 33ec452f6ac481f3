import { describe, expect, it } from 'vitest';
import { checkOutgoingBan, encodeBan, encodeUnban, MAX_MESSAGE_CHARS, parseMessage, parseStoredBan } from '../../../src/share/messages.js';
import type { SharedBan } from '../../../src/share/share.js';

const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const ban: SharedBan = { ip: '198.19.113.7', family: 4, rule: 'http-403', at: NOW, until: NOW + HOUR, origin: 'replica-1', nth: 2 };
const msg = (o: Record<string, unknown>): string => JSON.stringify({ v: 1, t: 'ban', ip: '198.19.113.7', family: 4, rule: 'http-403', at: NOW, until: NOW + HOUR, origin: 'r', sent: NOW, ...o });

describe('share messages', () => {
  it('round-trips bans and unbans', () => {
    expect(parseMessage(encodeBan(ban, NOW + 5), NOW)).toEqual({ ok: true, value: { t: 'ban', sent: NOW + 5, ban } });
    const scoped: SharedBan = { ...ban, ip: '2001:db8::1', family: 6, scope: 'c0ffee', until: null };
    delete scoped.nth;
    expect(parseMessage(encodeBan(scoped, NOW), NOW)).toEqual({ ok: true, value: { t: 'ban', sent: NOW, ban: scoped } });
    expect(parseMessage(encodeUnban({ ip: '1.2.3.4', family: 4, origin: 'r', at: NOW - 1 }, NOW), NOW)).toEqual({
      ok: true,
      value: { t: 'unban', sent: NOW, unban: { ip: '1.2.3.4', family: 4, origin: 'r', at: NOW - 1 } },
    });
  });

  it('a manual network (CIDR) ban travels too, host-wide, with its family checked', () => {
    const net: SharedBan = { ...ban, ip: '198.18.0.0/24', rule: 'manual', until: null };
    delete net.nth;
    expect(parseMessage(encodeBan(net, NOW), NOW)).toEqual({ ok: true, value: { t: 'ban', sent: NOW, ban: net } });
    const v6 = parseMessage(msg({ ip: '2001:db8:7::/48', family: 6 }), NOW);
    expect(v6.ok && v6.value.t === 'ban' && v6.value.ban.ip).toBe('2001:db8:7::/48');
    expect(parseMessage(msg({ ip: '198.18.0.0/24', family: 6 }), NOW)).toEqual({ ok: false, reason: 'family' });
    expect(parseMessage(encodeUnban({ ip: '198.18.0.0/24', family: 4, origin: 'r', at: NOW }, NOW), NOW)).toMatchObject({ ok: true, value: { t: 'unban', unban: { ip: '198.18.0.0/24' } } });
    expect(checkOutgoingBan(net, NOW)).toEqual({ ok: true, value: net });
    // Spelled otherwise, it is read as its network, as an address is read canonical.
    const loose = parseMessage(msg({ ip: '198.18.0.7/24' }), NOW);
    expect(loose.ok && loose.value.t === 'ban' && loose.value.ban.ip).toBe('198.18.0.0/24');
  });

  it('canonicalises addresses and checks the family against them', () => {
    const p = parseMessage(msg({ ip: '2001:0DB8:0:0::1', family: 6 }), NOW);
    expect(p.ok && p.value.t === 'ban' && p.value.ban.ip).toBe('2001:db8::1');
    const mapped = parseMessage(msg({ ip: '::ffff:198.19.113.7', family: 4 }), NOW);
    expect(mapped.ok && mapped.value.t === 'ban' && mapped.value.ban.ip).toBe('198.19.113.7');
    expect(parseMessage(msg({ ip: '::ffff:198.19.113.7', family: 6 }), NOW)).toEqual({ ok: false, reason: 'family' });
  });

  const cases: Array<[string, unknown, string]> = [
    ['not a string', 42, 'shape'],
    ['too long', msg({ pad: 'x'.repeat(MAX_MESSAGE_CHARS) }), 'too-long'],
    ['not JSON', '{"v":1,', 'json'],
    ['array', '[1]', 'shape'],
    ['null', 'null', 'shape'],
    ['wrong version', msg({ v: 2 }), 'shape'],
    ['unknown type', msg({ t: 'nuke' }), 'shape'],
    ['hostname', msg({ ip: 'evil.example' }), 'ip'],
    ['shell', msg({ ip: '1.2.3.4;reboot' }), 'ip'],
    ['network wider than /8', msg({ ip: '10.0.0.0/7' }), 'ip'],
    ['network /0', msg({ ip: '0.0.0.0/0' }), 'ip'],
    ['network covering loopback', msg({ ip: '127.0.0.0/8' }), 'ip'],
    ['IPv6 network wider than /32', msg({ ip: '2001:db8::/31', family: 6 }), 'ip'],
    ['network with a scope', msg({ ip: '198.18.0.0/24', scope: 'c0ffee' }), 'scope'],
    ['multicast', msg({ ip: '224.0.0.1' }), 'ip'],
    ['unspecified', msg({ ip: '0.0.0.0' }), 'ip'],
    ['ip not a string', msg({ ip: 16909060 }), 'ip'],
    ['family', msg({ family: 6 }), 'family'],
    ['family type', msg({ family: '4' }), 'family'],
    ['origin missing', msg({ origin: undefined }), 'origin'],
    ['origin with space', msg({ origin: 'a b' }), 'origin'],
    ['origin too long', msg({ origin: 'a'.repeat(129) }), 'origin'],
    ['scope with space', msg({ scope: 'a b' }), 'scope'],
    ['scope object', msg({ scope: {} }), 'scope'],
    ['rule', msg({ rule: 'Rule!' }), 'rule'],
    ['rule too long', msg({ rule: 'a'.repeat(65) }), 'rule'],
    ['at as string', msg({ at: '2026' }), 'time'],
    ['at fractional', msg({ at: NOW + 0.5 }), 'time'],
    ['at negative', msg({ at: -1 }), 'time'],
    ['at far future', msg({ at: NOW + 2 * 86_400_000, until: null }), 'time'],
    ['until huge', msg({ until: 1e300 }), 'time'],
    ['until before at', msg({ until: NOW - 1 }), 'time'],
    ['until too long', msg({ until: NOW + 3652 * 86_400_000 }), 'time'],
    ['until missing', msg({ until: undefined }), 'time'],
    ['sent missing', msg({ sent: undefined }), 'time'],
    ['sent NaN-ish', '{"v":1,"t":"ban","ip":"1.2.3.4","family":4,"rule":"r","at":1,"until":null,"origin":"r","sent":1e400}', 'time'],
    ['nth zero', msg({ nth: 0 }), 'nth'],
    ['unban without at', msg({ t: 'unban', at: undefined }), 'time'],
    ['unban from the future', msg({ t: 'unban', at: NOW + 2 * 86_400_000 }), 'time'],
    ['nth string', msg({ nth: '1' }), 'nth'],
    // Not ASCII (review, suspicion 4): Redis and the Lua scripts count bytes, this side UTF-16 units.
    ['not ASCII', msg({ x: 'é' }), 'encoding'],
    ['invalid UTF-8 as JavaScript reads it', msg({ x: '\ufffd' }), 'encoding'],
    ['within the cap in characters, beyond it in bytes', msg({ x: 'é'.repeat(MAX_MESSAGE_CHARS / 2) }), 'too-long'],
    ['within the cap in characters, beyond it in bytes (astral)', msg({ x: '\u{1F600}'.repeat(MAX_MESSAGE_CHARS / 4) }), 'too-long'],
  ];
  it.each(cases)('drops %s', (_name, raw, reason) => {
    expect(parseMessage(raw, NOW)).toEqual({ ok: false, reason });
  });

  it('a link-local address or a network holding one is refused: it names a machine on the sender\'s own link, not on this host\'s', () => {
    // 169.254.169.254 is the cloud's metadata service: in host mode a ban drops its replies to every
    // container (DOCKER-USER sees them as forwarded packets from it), on every replica of the group.
    for (const [ip, family] of [
      ['169.254.169.254', 4],
      ['::ffff:169.254.1.1', 4],
      ['fe80::1', 6],
      ['FE80:0:0:0:0:0:0:1', 6],
      ['febf::1', 6],
      ['169.254.0.0/16', 4],
      ['169.254.7.0/24', 4],
      ['169.0.0.0/8', 4],
      ['fe80::/64', 6],
      ['fe00::/8', 6],
    ] as const) {
      expect(parseMessage(msg({ ip, family }), NOW)).toEqual({ ok: false, reason: 'ip' });
      expect(parseMessage(msg({ t: 'unban', ip, family }), NOW)).toEqual({ ok: false, reason: 'ip' });
      expect(checkOutgoingBan({ ...ban, ip, family }, NOW)).toEqual({ ok: false, reason: 'ip' });
    }
    // Their neighbours are clients like any other.
    for (const [ip, family] of [['169.253.255.255', 4], ['169.255.0.1', 4], ['fec0::1', 6], ['fe7f::1', 6], ['169.255.0.0/16', 4]] as const) {
      expect(parseMessage(msg({ ip, family }), NOW).ok).toBe(true);
    }
  });

  it('ignores __proto__ and unknown fields without polluting anything', () => {
    const raw = '{"v":1,"t":"ban","ip":"1.2.3.4","family":4,"rule":"r","at":1,"until":null,"origin":"r","sent":1,"__proto__":{"polluted":true},"extra":1}';
    const p = parseMessage(raw, NOW);
    expect(p.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(p.ok && p.value.t === 'ban' && Object.keys(p.value.ban).sort()).toEqual(['at', 'family', 'ip', 'origin', 'rule', 'until']);
  });

  it('checks a stored ban against its field', () => {
    expect(parseStoredBan('198.19.113.7', msg({}), NOW).ok).toBe(true);
    expect(parseStoredBan('198.19.113.7 c0ffee', msg({ scope: 'c0ffee' }), NOW).ok).toBe(true);
    expect(parseStoredBan('198.19.113.8', msg({}), NOW)).toEqual({ ok: false, reason: 'field' });
    expect(parseStoredBan('198.19.113.7', msg({ scope: 'c0ffee' }), NOW)).toEqual({ ok: false, reason: 'field' });
    expect(parseStoredBan('198.19.113.7', msg({ t: 'unban' }), NOW)).toEqual({ ok: false, reason: 'shape' });
    expect(parseStoredBan(7, msg({}), NOW)).toEqual({ ok: false, reason: 'field' });
  });

  it('a message at the cap is taken, one byte more is not, ASCII being one byte a character', () => {
    const base = msg({ x: '' });
    const at = msg({ x: 'x'.repeat(MAX_MESSAGE_CHARS - base.length) });
    expect(at.length).toBe(MAX_MESSAGE_CHARS);
    expect(Buffer.byteLength(at)).toBe(MAX_MESSAGE_CHARS);
    expect(parseMessage(at, NOW).ok).toBe(true);
    expect(parseMessage(msg({ x: 'x'.repeat(MAX_MESSAGE_CHARS - base.length + 1) }), NOW)).toEqual({ ok: false, reason: 'too-long' });
    // One 'é' (two bytes) for one 'x': as many characters as the cap, a byte more.
    expect(parseMessage(msg({ x: `é${'x'.repeat(MAX_MESSAGE_CHARS - base.length - 1)}` }), NOW)).toEqual({ ok: false, reason: 'too-long' });
  });

  it('checks outgoing bans with the same rules', () => {
    expect(checkOutgoingBan(ban, NOW)).toEqual({ ok: true, value: ban });
    expect(checkOutgoingBan({ ...ban, ip: '::ffff:198.19.113.7' }, NOW)).toEqual({ ok: true, value: ban });
    expect(checkOutgoingBan({ ...ban, ip: 'nope' }, NOW)).toEqual({ ok: false, reason: 'ip' });
    expect(checkOutgoingBan({ ...ban, until: Number.NaN }, NOW)).toEqual({ ok: false, reason: 'time' });
  });
});
