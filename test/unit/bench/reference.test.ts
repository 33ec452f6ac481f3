import { describe, expect, it } from 'vitest';
import { canonicalAddress, parseLogTime, referenceFromText } from '../../../bench/reference.js';

const at = (hms: string): number => Date.parse(`2026-03-14T${hms}Z`);

/** A combined line at 14/Mar/2026 `hms` (+0000). */
function l(ip: string, hms: string, status: number | string, opts: { request?: string; ua?: string; referer?: string; zone?: string } = {}): string {
  return `${ip} - - [14/Mar/2026:${hms} ${opts.zone ?? '+0000'}] "${opts.request ?? 'GET /.htaccess HTTP/1.1'}" ${status} 199 "${opts.referer ?? '-'}" "${opts.ua ?? 'curl/8.5.0'}"`;
}

/**
 * The annotated log: each entry is [line, why]. Expected bans are listed after it. Addresses:
 * .10 crosses, is re-offending during its ban, then again after expiry; .11/.12 stay under; .20/.21
 * are framed by forged lines; loopback floods; mapped and non-canonical spellings merge.
 */
const LOG: [string, string][] = [
  // .10: five 403s within 59 s → ban at 06:00:59, failures 5.
  [l('198.18.0.10', '06:00:00', 403), '1st'],
  [l('198.18.0.10', '06:00:10', 403), '2nd'],
  [l('198.18.0.10', '06:00:20', 200), 'a 200 does not count'],
  [l('198.18.0.10', '06:00:20', 403), '3rd'],
  [l('198.18.0.10', '06:00:30', 403), '4th'],
  [l('198.18.0.10', '06:00:59', 403), '5th within 60 s → BAN'],
  // .11: five spread over 61 s → no ban (the first has left the window).
  [l('198.18.0.11', '06:00:00', 403), ''],
  [l('198.18.0.11', '06:00:15', 403), ''],
  [l('198.18.0.11', '06:00:30', 403), ''],
  [l('198.18.0.11', '06:00:45', 403), ''],
  [l('198.18.0.11', '06:01:01', 403), 'only 4 in (06:00:01, 06:01:01] → no ban'],
  // .12: five with the first exactly 60 s before the fifth → the window (t − 60 s, t] excludes it.
  [l('198.18.0.12', '06:02:00', 403), ''],
  [l('198.18.0.12', '06:02:20', 403), ''],
  [l('198.18.0.12', '06:02:40', 403), ''],
  [l('198.18.0.12', '06:02:50', 403), ''],
  [l('198.18.0.12', '06:03:00', 403), '06:02:00 is exactly 60 s old → 4 → no ban'],
  [l('198.18.0.12', '06:03:01', 403), '5 in (06:02:01, 06:03:01] → BAN'],
  // Framing: the attacker's own status is 200 or 400; the 403s are inside quoted fields.
  ...Array.from({ length: 6 }, (_, i): [string, string] => [
    l('198.18.0.20', `06:05:0${i}`, 200, {
      ua: `Mozilla/5.0\\" 198.18.0.21 - - [14/Mar/2026:06:05:0${i} +0000] \\"GET /admin HTTP/1.1\\" 403 199 \\"-\\" \\"x`,
    }),
    'forged line in the UA: no ban for .20 or .21',
  ]),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [
    l('198.18.0.20', `06:06:0${i}`, 200, { referer: `https://evil.example/\\" 198.18.0.21 - - [x] \\"GET / HTTP/1.1\\" 403 1 \\"-` }),
    'forged line in the referer',
  ]),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [
    l('198.18.0.20', `06:07:0${i}`, 400, { request: 'GET /x\\" 403 199 \\"-\\" \\"-\\" HTTP/1.1' }),
    'escaped quote in the request line: status is 400',
  ]),
  // Loopback is never banned, however written.
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('127.0.0.1', `06:08:0${i}`, 403), 'loopback']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('::1', `06:08:0${i}`, 403), 'loopback']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('::ffff:127.0.0.1', `06:09:0${i}`, 403), 'loopback, mapped']),
  // Spellings of one address merge.
  [l('::ffff:198.18.0.30', '06:10:00', 403), 'mapped spelling of .30'],
  [l('::ffff:198.18.0.30', '06:10:01', 403), ''],
  [l('::FFFF:C612:1E', '06:10:02', 403), 'hex mapped spelling of 198.18.0.30'],
  [l('198.18.0.30', '06:10:03', 403), ''],
  [l('198.18.0.30', '06:10:04', 403), '5th → BAN 198.18.0.30'],
  [l('2001:DB8:0:0:0:0:0:1', '06:11:00', 403), ''],
  [l('2001:db8::0:1', '06:11:01', 403), ''],
  [l('2001:0db8::1', '06:11:02', 403), ''],
  [l('2001:db8::1', '06:11:03', 403), ''],
  [l('2001:db8::1', '06:11:04', 403), '5th → BAN 2001:db8::1'],
  // Skipped: hostnames, invalid addresses and dates, bad status, truncated lines, junk.
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('scanner.bad.example', `06:12:0${i}`, 403), 'hostname']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('999.18.0.1', `06:12:0${i}`, 403), 'invalid address']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('198.18.0.40', `06:12:0${i}`, 403).replace('/Mar/', '/Foo/'), 'invalid month']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('198.18.0.41', `06:12:0${i}`, '4031'), 'four-digit status']),
  ...Array.from({ length: 6 }, (_, i): [string, string] => [l('198.18.0.42', `06:12:0${i}`, 403).slice(0, 60), 'truncated in the request']),
  ['', 'empty'],
  ['\u0000\u0000\u0000\u0000', 'binary'],
  // Time zones: 01:13:0x -0500 is 06:13:0x UTC.
  ...Array.from({ length: 5 }, (_, i): [string, string] => [l('198.18.0.50', `01:13:0${i}`, 403, { zone: '-0500' }), '→ BAN at 06:13:04Z']),
  // .10 during its ban (until 07:00:59): ten 403s in 10 s are not a new ban and do not count.
  ...Array.from({ length: 10 }, (_, i): [string, string] => [l('198.18.0.10', `06:30:0${i}`, 403), 'banned: ignored']),
  [l('198.18.0.10', '07:00:50', 403), 'banned: ignored'],
  [l('198.18.0.10', '07:00:55', 403), 'banned: ignored'],
  [l('198.18.0.10', '07:00:58', 403), 'banned: ignored'],
  [l('198.18.0.10', '07:00:59', 403), 'ban expired at exactly at + 1 h: counts (1st)'],
  [l('198.18.0.10', '07:01:00', 403), '2nd'],
  [l('198.18.0.10', '07:01:01', 403), '3rd'],
  [l('198.18.0.10', '07:01:02', 403), '4th'],
  [l('198.18.0.10', '07:01:03', 403), '5th → new BAN'],
];

describe('referenceFromText on the annotated log', () => {

  const r = referenceFromText(`${LOG.map(([line]) => line).join('\n')}\n`);

  it('finds exactly the annotated bans, in log order', () => {
    expect(r.bans).toEqual([
      { ip: '198.18.0.10', rule: 'forbidden', at: at('06:00:59'), failures: 5 },
      { ip: '198.18.0.12', rule: 'forbidden', at: at('06:03:01'), failures: 5 },
      { ip: '198.18.0.30', rule: 'forbidden', at: at('06:10:04'), failures: 5 },
      { ip: '2001:db8::1', rule: 'forbidden', at: at('06:11:04'), failures: 5 },
      { ip: '198.18.0.50', rule: 'forbidden', at: at('06:13:04'), failures: 5 },
      { ip: '198.18.0.10', rule: 'forbidden', at: at('07:01:03'), failures: 5 },
    ]);
  });

  it('counts lines, well-formed lines and 403 matches', () => {
    expect(r.lines).toBe(LOG.length);
    const skipped = LOG.filter(([, why]) => /hostname|invalid|four-digit|truncated|empty|binary/.test(why)).length;
    expect(r.parsed).toBe(LOG.length - skipped);
    const nonForbidden = LOG.filter(([line, why]) => !/hostname|invalid|four-digit|truncated|empty|binary/.test(why) && !/" 403 /.test(line.replace(/\\"/g, ''))).length;
    expect(r.matches).toBe(r.parsed - nonForbidden);
  });
});

describe('canonicalAddress', () => {
  it.each([
    ['198.18.0.1', '198.18.0.1'],
    ['::ffff:198.18.0.1', '198.18.0.1'],
    ['::ffff:c612:1', '198.18.0.1'],
    ['2001:DB8::A', '2001:db8::a'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::1', '::1'],
    ['::', '::'],
  ])('%s → %s', (raw, want) => expect(canonicalAddress(raw)).toBe(want));

  it.each(['host.example', '198.18.1', '999.1.1.1', '198.18.0.1:80', '[2001:db8::1]', 'fe80::1%eth0', '2001:db8::g', ''])('rejects %s', (raw) =>
    expect(canonicalAddress(raw)).toBeNull(),
  );
});

describe('parseLogTime', () => {
  it('applies the zone offset', () => {
    expect(parseLogTime('10/Oct/2026:13:55:36 -0700')).toBe(Date.parse('2026-10-10T20:55:36Z'));
    expect(parseLogTime('01/Jan/2026:00:30:00 +0100')).toBe(Date.parse('2025-12-31T23:30:00Z'));
  });
  it.each(['31/Feb/2026:00:00:00 +0000', '10/oct/2026:13:55:36 +0000', '10/Oct/2026:24:00:00 +0000', '10/Oct/2026:13:55:36', '1/Oct/2026:13:55:36 +0000'])(
    'rejects %s',
    (s) => expect(parseLogTime(s)).toBeNull(),
  );
});
