import { describe, expect, it } from 'vitest';
import {
  encodeRequest,
  MAX_REQUEST_BYTES,
  parseRequest,
  parseResponse,
  PROTOCOL_VERSION,
  validateRequest,
} from '../../../src/control/protocol.js';

const ok = (line: string) => {
  const r = parseRequest(line);
  if (!r.ok) throw new Error(`expected ok, got ${r.error.message}`);
  return r.request;
};
const err = (line: string) => {
  const r = parseRequest(line);
  if (r.ok) throw new Error(`expected an error for ${line}`);
  return r.error;
};

describe('parseRequest', () => {
  it('accepts every op in its minimal and full form', () => {
    expect(ok('{"op":"status"}')).toEqual({ op: 'status' });
    expect(ok('{"v":1,"op":"status","rule":"forbidden"}')).toEqual({ op: 'status', rule: 'forbidden' });
    expect(ok('{"op":"ban","ip":"198.18.0.7","forMs":null}')).toEqual({ op: 'ban', ip: '198.18.0.7', forMs: null });
    expect(ok('{"op":"ban","ip":"198.18.0.7","rule":"forbidden","forMs":60000}')).toEqual({
      op: 'ban',
      ip: '198.18.0.7',
      rule: 'forbidden',
      forMs: 60000,
    });
    expect(ok('{"op":"unban","ip":"198.18.0.7"}')).toEqual({ op: 'unban', ip: '198.18.0.7' });
    expect(ok('{"op":"unban-all"}')).toEqual({ op: 'unban-all' });
    expect(ok('{"op":"reload"}')).toEqual({ op: 'reload' });
  });

  it('canonicalises addresses', () => {
    expect(ok('{"op":"unban","ip":"2001:DB8:0:0::7"}')).toEqual({ op: 'unban', ip: '2001:db8::7' });
    expect(ok('{"op":"unban","ip":"::ffff:198.18.0.7"}')).toEqual({ op: 'unban', ip: '198.18.0.7' });
  });

  it('rejects malformed JSON and non-objects', () => {
    expect(err('{"op":').message).toBe('request is not valid JSON');
    expect(err('[]').message).toBe('request must be a JSON object');
    expect(err('null').message).toBe('request must be a JSON object');
    expect(err('"status"').message).toBe('request must be a JSON object');
  });

  it('rejects unknown ops, unknown fields and other protocol versions', () => {
    expect(err('{"op":"shutdown"}')).toMatchObject({ code: 'BH_ERR_CONTROL', message: expect.stringContaining('unknown op "shutdown"') });
    expect(err('{"op":"__proto__"}').message).toContain('unknown op');
    expect(err('{"op":"toString"}').message).toContain('unknown op');
    expect(err('{}').message).toContain('unknown op undefined');
    expect(err('{"op":"status","ip":"1.2.3.4"}').message).toBe('unknown field "ip" for op status');
    expect(err('{"op":"unban-all","force":true}').message).toBe('unknown field "force" for op unban-all');
    expect(err('{"v":2,"op":"status"}').message).toContain('unsupported protocol version 2');
  });

  it('rejects wrong types', () => {
    expect(err('{"op":"status","rule":5}').code).toBe('BH_ERR_USAGE');
    expect(err('{"op":"status","rule":"a b"}').code).toBe('BH_ERR_USAGE');
    expect(err('{"op":"unban"}').message).toBe('op unban needs "ip" (a string)');
    expect(err('{"op":"unban","ip":7}').message).toBe('op unban needs "ip" (a string)');
    expect(err('{"op":"ban","ip":"198.18.0.7"}').message).toContain('"forMs"');
    expect(err('{"op":"ban","ip":"198.18.0.7","forMs":"1h"}').message).toContain('"forMs"');
    // Past the duration cap (3650 days): a raw socket request cannot push a ban out of Date's range.
    expect(err(`{"op":"ban","ip":"198.18.0.7","forMs":${3650 * 86400_000 + 1}}`).message).toContain('"forMs"');
    expect(err(`{"op":"ban","ip":"198.18.0.7","forMs":${99999999 * 86400_000}}`).message).toContain('"forMs"');
    expect(ok(`{"op":"ban","ip":"198.18.0.7","forMs":${3650 * 86400_000}}`)).toMatchObject({ forMs: 3650 * 86400_000 });
    expect(err('{"op":"ban","ip":"198.18.0.7","forMs":-1}').message).toContain('"forMs"');
    expect(err('{"op":"ban","ip":"198.18.0.7","forMs":1.5}').message).toContain('"forMs"');
    expect(err('{"op":"ban","ip":"198.18.0.7","forMs":0}').message).toContain('"forMs"');
  });

  it('rejects addresses that are not plain IPs, with the address code and a hint', () => {
    for (const ip of ['example.com', '10.0.0.0/33', '10.0.0.0/', '1.2.3.4:80', '[::1]', 'fe80::1%eth0', '', ' 198.18.0.0/24']) {
      const e = err(JSON.stringify({ op: 'ban', ip, forMs: null }));
      expect(e.code).toBe('BH_ERR_ADDRESS');
      expect(e.hint).toContain('IPv4 or IPv6');
    }
  });

  it('takes a network for ban and unban (CIDR bans), normalised to its network address; /32 and /128 are addresses', () => {
    expect(ok('{"op":"ban","ip":"198.18.0.7/24","forMs":86400000}')).toEqual({ op: 'ban', ip: '198.18.0.0/24', forMs: 86_400_000 });
    expect(ok('{"op":"unban","ip":"2001:DB8:0:0::/48"}')).toEqual({ op: 'unban', ip: '2001:db8::/48' });
    expect(ok('{"op":"ban","ip":"198.18.0.7/32","forMs":null}')).toEqual({ op: 'ban', ip: '198.18.0.7', forMs: null });
    expect(ok('{"op":"unban","ip":"2001:db8::7/128"}')).toEqual({ op: 'unban', ip: '2001:db8::7' });
    // Width, loopback and the allowlist are the ban book's decision, not the protocol's.
    expect(ok('{"op":"ban","ip":"0.0.0.0/0","forMs":null}')).toEqual({ op: 'ban', ip: '0.0.0.0/0', forMs: null });
  });

  it('rejects an oversize line without parsing it', () => {
    const big = JSON.stringify({ op: 'status', rule: 'x'.repeat(MAX_REQUEST_BYTES) });
    expect(err(big).message).toBe(`request larger than ${MAX_REQUEST_BYTES} bytes`);
  });

  it('encodeRequest produces one versioned line that parses back', () => {
    const line = encodeRequest({ op: 'ban', ip: '198.18.0.7', rule: 'forbidden', forMs: 1000 });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(JSON.parse(line)).toMatchObject({ v: PROTOCOL_VERSION });
    expect(validateRequest(JSON.parse(line))).toEqual({
      ok: true,
      request: { op: 'ban', ip: '198.18.0.7', rule: 'forbidden', forMs: 1000 },
    });
  });
});

describe('parseResponse', () => {
  it('reads results and errors', () => {
    expect(parseResponse('{"v":1,"ok":true,"result":3}')).toEqual({ v: 1, ok: true, result: 3 });
    expect(parseResponse('{"v":1,"ok":true,"result":null}')).toEqual({ v: 1, ok: true, result: null });
    expect(parseResponse('{"v":1,"ok":false,"error":{"code":"BH_ERR_USAGE","message":"m","hint":null}}')).toEqual({
      v: 1,
      ok: false,
      error: { code: 'BH_ERR_USAGE', message: 'm', hint: null },
    });
  });

  it('returns null for anything else', () => {
    for (const line of [
      'nope',
      '{"ok":true,"result":1}',
      '{"v":1,"ok":true}',
      '{"v":1,"ok":false,"error":{"code":"EPERM","message":"m"}}',
      '{"v":1,"ok":false,"error":{"code":"BH_ERR_X","message":5}}',
      '{"v":1,"ok":false,"error":{"code":"BH_ERR_X","message":"m","hint":5}}',
    ]) {
      expect(parseResponse(line)).toBeNull();
    }
  });
});
