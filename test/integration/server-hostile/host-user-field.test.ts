/**
 * Found with real servers (attribution.test.ts): in the host layout the user field comes after the
 * client's own address, and a client fills it (nginx's $remote_user from any `Authorization: Basic`
 * header, Apache's %u from the user name tried on a 401), ` - ` included. A fixed host format refused
 * a line when an address followed by ` - ` stood among those words, so any client could have all its
 * lines skipped (a ban escape). Apache never writes a space into the host field (%v is its ServerName,
 * %V a Host it checked: a Host with spaces is answered 400, lines kept here as Apache and nginx wrote
 * them), so apache-host-combined now reads the user field as declared. nginx before 1.21.1 does write
 * a Host's spaces into $host, where reading the line as declared would let a client name any address:
 * nginx-host-combined keeps the refusal (a limit the README states), as `auto` does.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';

const TRUSTED = ['198.18.39.0/24', '2001:db8:39::/64'];

/** Lines as nginx 1.22 wrote them for raw requests (the time aside). */
const BASIC_USER_LINES = [
  // Authorization: Basic for `198.18.9.9 - - [06/Dec/2026:10:00:00 +0000] "GET:pw` (the user ends at the first colon).
  ['www.example.org 198.18.38.68 - 198.18.9.9 - - [06/Dec/2026 [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 403 153 "-" "-"', '198.18.38.68'],
  ['www.example.org 2001:db8:38::7e - 198.18.9.9 - - [06/Dec/2026 [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 403 153 "-" "-"', '2001:db8:38::7e'],
  // Authorization: Basic for `x" 198.18.39.250 - -:pw` (a trusted proxy's address, followed by ` - `).
  ['www.example.org 198.18.38.69 - x\\x22 198.18.39.250 - - [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 403 153 "-" "-"', '198.18.38.69'],
  ['www.example.org 2001:db8:38::7f - x\\x22 198.18.39.250 - - [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 403 153 "-" "-"', '2001:db8:38::7f'],
] as const;

describe('fixed host layout: a user name that imitates a line start', () => {
  for (const trustedProxies of [undefined, TRUSTED]) {
    it(`apache-host-combined never has the client's own lines skipped${trustedProxies ? ', behind trusted proxies' : ''}`, () => {
      const parse = createLineParser('apache-host-combined', { trustedProxies });
      for (const [line, client] of BASIC_USER_LINES) {
        const out = parse(line);
        expect(typeof out === 'string' ? out : `${out.ip} ${out.status}`, line).toBe(`${client} 403`);
      }
    });
    it(`nginx-host-combined refuses the line, never names the address in it (the README's limit)${trustedProxies ? ', behind trusted proxies' : ''}`, () => {
      const parse = createLineParser('nginx-host-combined', { trustedProxies });
      for (const [line] of BASIC_USER_LINES) expect(parse(line), line).toBe('bad-forwarded');
    });
  }

  it('the host field nginx writes for a Host with spaces (empty) or Apache (its own name) still names the peer', () => {
    const nginx = ' 198.18.38.58 - - [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 400 157 "-" "-"';
    const apache = 'www.example.org 198.18.38.58 - - [06/Dec/2026:17:31:22 +0000] "GET /forbidden HTTP/1.1" 400 448 "-" "-"';
    for (const [line, format] of [[nginx, 'nginx-host-combined'], [apache, 'apache-host-combined'], [nginx, 'auto'], [apache, 'auto']] as const) {
      const out = createLineParser(format)(line);
      expect(typeof out === 'string' ? out : `${out.ip} ${out.status}`, `${format}: ${line}`).toBe('198.18.38.58 400');
    }
  });
});
