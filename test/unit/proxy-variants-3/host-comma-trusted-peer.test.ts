/**
 * Issue 5, round 3: "a header from an untrusted peer is ignored; trusted proxies are never banned"
 * and README "Who is the client" (only what no client can choose decides). nginx's `$host` is the
 * client's Host header, and nginx accepts `Host: 198.18.0.9,`. In `auto`, the host layout with nginx
 * main's trailing field (`$host $remote_addr - … "$http_x_forwarded_for"`, read behind a trusted
 * proxy, as the README supports) then read `198.18.0.9, <proxy> - - […]` as a first-field list
 * walked past the trusted proxy: the line blamed the address in the client's Host header (or, for
 * `Host: a,`, counted for no one). The trailing field decides, as for any trusted peer.
 */
import { describe, expect, it } from 'vitest';
import { isSkip } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const REST = `[10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 403 199 "-" "M"`;
const TRUSTED = { trustedProxies: ['198.19.0.0/16', '2001:db8:ffff::/48'] };
const who = (l: string, o = TRUSTED): string => {
  const r = createLineParser('auto', o)(l);
  return isSkip(r) ? r : r.ip;
};
const docker = (l: string): string => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-10-10T13:55:36.000000000Z' });

describe('a Host header with a comma, in front of a trusted peer with nginx main\'s trailing field', () => {
  const hosts = ['198.18.0.9,', '198.18.0.9,198.18.0.8,', '[2001:db8::9],', '2001:db8::9,', 'a,', ',', '198.18.0.9,unknown,'];
  for (const host of hosts) {
    for (const peer of ['198.19.0.2', '2001:db8:ffff::2']) {
      it(`Host ${JSON.stringify(host)}, peer ${peer}: the client named by the trailing field`, () => {
        expect(who(`${host} ${peer} - - ${REST} "198.18.0.5"`)).toBe('198.18.0.5');
        expect(who(`${host} ${peer} - - ${REST} "198.18.0.66, 198.18.0.5, 198.19.0.3"`)).toBe('198.18.0.5');
        expect(who(docker(`${host} ${peer} - - ${REST} "198.18.0.5"`))).toBe('198.18.0.5');
        // No forwarded header (`-`): the proxy itself, which is never banned; never the Host's address.
        expect(who(`${host} ${peer} - - ${REST} "-"`)).toBe(peer);
      });
    }
  }

  it('unchanged: an untrusted peer is the client whatever the Host and the trailing field say', () => {
    for (const host of hosts.filter((h) => h !== ',')) expect(who(`${host} 198.18.0.7 - - ${REST} "198.18.0.5"`), host).toMatch(/^(198\.18\.0\.7|bad-forwarded)$/);
    expect(who(`198.18.0.9, 198.18.0.7 - - ${REST} "198.18.0.5"`)).toBe('198.18.0.7');
  });

  it('unchanged: a real $proxy_add_x_forwarded_for list with the same header trailing names the same client', () => {
    expect(who(`198.18.0.66, 198.18.0.5, 198.19.0.2 - - ${REST} "198.18.0.66, 198.18.0.5"`)).toBe('198.18.0.5');
    expect(who(`198.18.0.5, 198.19.0.2 - - ${REST}`)).toBe('198.18.0.5');
    expect(who(`junk, 198.18.0.5, 198.19.0.2 - - ${REST}`)).toBe('198.18.0.5');
    expect(who(`198.18.0.5, unknown, 198.19.0.2 - - ${REST}`)).toBe('bad-forwarded');
  });
});
