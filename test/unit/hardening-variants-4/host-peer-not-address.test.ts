/**
 * Issue 5 / 9 (round 4 audit, helper H3): framing through the host layout's first field. In
 * `$host $remote_addr - …` (nginx) or `%V %h %l %u …` (Apache, UseCanonicalName Off), the first field
 * is the client's own Host header. When the peer field is not an address (nginx on a UNIX socket
 * writes `unix:`, APR writes a link-local peer with its zone, HostnameLookups writes the client's own
 * PTR name), `auto` read the line as a plain one and counted it against the first field: any client
 * could have any address banned by sending it as `Host:`. Such a line must count for no one (README,
 * "Layouts": the first field of the host layout is never the client).
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';

const T = '05/Dec/2026:07:00:00 +0000';
const VICTIMS = ['198.19.0.9', '2001:db8:ffff::9', '::ffff:198.19.0.9'];
const PEERS = ['unix:', 'fec0::1%eth0', '2001:db8::7%eth0', 'attacker.example', 'localhost', '198.018.0.7', '2001:db8:1:2:3:4:5:198.18.0.9'];

describe('host layout: a peer field that is no address never makes the Host header the client', () => {
  for (const victim of VICTIMS) {
    for (const peer of PEERS) {
      for (const wrap of ['bare', 'docker', 'syslog'] as const) {
        it(`${victim} ${peer} (${wrap})`, () => {
          const access = `${victim} ${peer} - - [${T}] "GET /private HTTP/1.1" 403 9 "-" "curl/8"`;
          const line =
            wrap === 'bare' ? access : wrap === 'docker' ? JSON.stringify({ log: `${access}\n`, stream: 'stdout', time: '2026-12-05T07:00:00Z' }) : `<30>Dec  5 07:00:00 web[1]: ${access}`;
          const out = createLineParser('auto')(line);
          expect(isSkip(out) ? out : `counted against ${out.ip}`).toBe('bad-address');
        });
      }
    }
  }

  it('a link-local peer with its zone (APR) is the client, the address without its zone (round 6)', () => {
    for (const victim of VICTIMS) {
      const o = createLineParser('auto')(`${victim} fe80::1%eth0 - - [${T}] "GET /private HTTP/1.1" 403 9 "-" "curl/8"`);
      expect(isSkip(o) ? o : o.ip, victim).toBe('fe80::1');
    }
  });

  it('the ordinary layouts still count against their client', () => {
    const p = createLineParser('auto');
    const ip = (l: string): string => {
      const o = p(l);
      return isSkip(o) ? o : o.ip;
    };
    expect(ip(`198.18.0.7 - - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('198.18.0.7');
    expect(ip(`198.18.0.7 - alice [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('198.18.0.7');
    expect(ip(`2001:db8::7 - - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('2001:db8::7');
    expect(ip(`198.19.0.9 198.18.0.7 - - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('198.18.0.7');
    expect(ip(`www.example.test 2001:db8::7 - - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('2001:db8::7');
    expect(ip(`198.19.0.9, 198.18.0.7 - - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`)).toBe('198.18.0.7');
  });

  it('a format that names its first field (apache-combined, IdentityCheck On) still reads it', () => {
    const o = createLineParser('apache-combined')(`198.18.0.7 identuser - [${T}] "GET / HTTP/1.1" 403 9 "-" "-"`);
    expect(isSkip(o) ? o : o.ip).toBe('198.18.0.7');
  });
});
