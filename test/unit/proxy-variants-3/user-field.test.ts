/**
 * Issue 5, round 3: a client's own Basic-auth user name (nginx fills $remote_user from any
 * `Authorization: Basic` header; Apache %u from the attempted user) must never have its lines
 * skipped in the host layout (`$host $remote_addr - $remote_user`, `%v %h %l %u`) or after
 * vhost_combined's `%v:%p` either: the README's rule for ordinary lines ("refusing such lines would
 * let any client have its own lines skipped, a ban escape"). The Host-header-with-spaces defence
 * (the word after the address the scanner took is not the `-` the server writes) still holds.
 */
import { describe, expect, it } from 'vitest';
import { isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { createLineParser, type LineParserOptions } from '../../../src/parse/line-parser.js';

const REST = `[10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 403 199 "-" "M"`;
const TRUSTED = { trustedProxies: ['198.19.0.0/16'] };
const who = (l: string, f: LogFormat, o: LineParserOptions = {}): string => {
  const r = createLineParser(f, o)(l);
  return isSkip(r) ? r : r.ip;
};

const USERS = ['Doe, John', 'x,y', 'John 198.18.0.9', 'John 198.18.0.9 x', `${'a '.repeat(20)}x`, `${'a - '.repeat(10)}x`, 'x, 2001:db8::5', 'a b c d e', 'x, [2001:db8::5]:443 y'];

describe('a user name never has a client\'s own lines skipped after a host (host layout, vhost_combined)', () => {
  for (const user of USERS) {
    it(`host layout, user ${JSON.stringify(user)}`, () => {
      for (const host of ['www.example.org', '198.18.0.66', '[2001:db8::66]']) {
        for (const f of ['auto', 'nginx-host-combined', 'apache-host-combined'] as const) {
          for (const o of [{}, TRUSTED]) {
            expect(who(`${host} 198.18.0.7 - ${user} ${REST}`, f, o), `${host} ${f} ${JSON.stringify(o)}`).toBe('198.18.0.7');
            expect(who(`${host} 2001:db8::7 - ${user} ${REST}`, f, o), `${host} ${f} v6`).toBe('2001:db8::7');
          }
        }
      }
    });

    it(`vhost_combined, user ${JSON.stringify(user)}`, () => {
      for (const f of ['auto', 'apache-vhost-combined'] as const) {
        for (const o of [{}, TRUSTED]) expect(who(`www.example.org:443 198.18.0.7 - ${user} ${REST}`, f, o), `${f} ${JSON.stringify(o)}`).toBe('198.18.0.7');
      }
    });
  }

  it('a fixed host layout reads its declared user field even when it holds a trusted proxy\'s address', () => {
    for (const f of ['nginx-host-combined', 'apache-host-combined'] as const) {
      expect(who(`www.example.org 198.18.0.7 - x 198.19.0.1 y ${REST}`, f, TRUSTED)).toBe('198.18.0.7');
    }
  });

  // Not apache-host-combined: Apache never writes a space into %v or %V (it answers such a Host 400:
  // test/integration/server-hostile); there the same words are a user name, which must count for its
  // client (host-user-field.test.ts). nginx before 1.21.1 does write a Host's spaces into $host.
  it('a Host header with spaces that ends in ` -` never frames the address it names (auto and the nginx host layout)', () => {
    for (const host of ['www.example.org 198.18.0.9 -', 'www.example.org 198.18.0.9 - x', 'x [2001:db8::9] -', 'x 2001:db8::9 -']) {
      for (const f of ['auto', 'nginx-host-combined'] as const) {
        for (const user of ['-', 'bob']) {
          const out = who(`${host} 198.18.0.7 - ${user} ${REST}`, f);
          expect(out, `${host} ${f} ${user}`).not.toMatch(/^(198\.18\.0\.9|2001:db8::9)$/);
        }
      }
    }
  });

  it('still refused in auto: `$http_x_forwarded_for $remote_addr` whose header held spaces (the peer follows, then ` - `)', () => {
    for (const xff of ['x 198.18.0.9 -', 'x 198.18.0.9 - y', 'x 2001:db8::9 -', `x 198.18.0.9 ${'- a '.repeat(30)}-`]) {
      for (const user of ['-', 'bob', `${'- a '.repeat(30)}x`]) {
        for (const o of [{}, TRUSTED]) expect(who(`${xff} 198.18.0.7 - ${user} ${REST}`, 'auto', o), `${xff} / ${user}`).not.toBe('198.18.0.9');
      }
    }
  });

  it('still refused: a forged list through a trusted proxy (auto), and a Host header with spaces', () => {
    // `$http_x_forwarded_for $remote_addr`: the client wrote `x 198.18.0.9 - y`, the trusted proxy appended.
    expect(who(`x 198.18.0.9 - y, 198.18.0.7, 198.19.0.1 - - ${REST}`, 'auto', TRUSTED)).toBe('bad-forwarded');
    // Host `www.example.org 198.18.0.9`: the word after 198.18.0.9 is the real peer, not `-`.
    for (const f of ['auto', 'nginx-host-combined', 'apache-host-combined'] as const) {
      expect(['bad-forwarded', '198.18.0.7'], f).toContain(who(`www.example.org 198.18.0.9 198.18.0.7 - - ${REST}`, f));
      expect(['bad-forwarded', '198.18.0.7'], f).toContain(who(`www.example.org 198.18.0.9 x, 198.18.0.7 - - ${REST}`, f));
    }
  });
});
