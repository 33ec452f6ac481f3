/**
 * Layouts of issue 13: the host layout (`%v %h`, `$host $remote_addr`), nginx main's trailing
 * X-Forwarded-For, and X-Forwarded-For lists in the first field; every hostile variant must end as
 * the right client or a skip, never as an address someone else wrote.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_LENGTH, SKIP_REASONS, isSkip, type LogFormat, type ParseOutcome } from '../../../src/parse/access-event.js';
import { MAX_HOPS } from '../../../src/parse/apache.js';
import { canonicalIp } from '../../../src/parse/ip.js';
import { createLineParser, type LineParserOptions } from '../../../src/parse/line-parser.js';

const T = '10/Oct/2026:13:55:36 +0000';
const REST = `[${T}] "GET /wp-login.php HTTP/1.1" 403 199 "-" "Mozilla/5.0"`;
const TRUSTED = ['10.0.0.0/8', '2001:db8:ffff::/48'];

/** The client address, or the skip reason. */
function who(o: ParseOutcome): string {
  return isSkip(o) ? o : o.ip;
}

const parse = (line: string, format: LogFormat = 'auto', opts: LineParserOptions = {}) => createLineParser(format, opts)(line);
const docker = (line: string) => `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`;
const syslog = (line: string) => `<30>Nov 23 09:35:48 web[812]: ${line}`;
/** The same line plain, in Docker's json-file and in syslog framing, with `auto`. */
const wrapped = (line: string, opts: LineParserOptions = {}) => [line, docker(line), syslog(line)].map((l) => who(parse(l, 'auto', opts)));

describe('host layout: `host client - - […]` (Apache %v %h, nginx $host $remote_addr)', () => {
  it('reads the client from the second field and the host as vhost, in auto and the host formats', () => {
    const line = `www.example.org 198.18.0.7 - - ${REST}`;
    for (const f of ['auto', 'apache-host-combined', 'nginx-host-combined'] as const) {
      expect(parse(line, f), f).toMatchObject({ ip: '198.18.0.7', vhost: 'www.example.org', status: 403, path: '/wp-login.php', userAgent: 'Mozilla/5.0' });
    }
    expect(parse(`_ 2001:DB8::7 - - ${REST}`)).toMatchObject({ ip: '2001:db8::7', family: 6, vhost: '_' });
    expect(parse(`shop-1.example.org 198.18.0.7 - alice ${REST}`)).toMatchObject({ ip: '198.18.0.7', vhost: 'shop-1.example.org' });
    expect(wrapped(line)).toEqual(['198.18.0.7', '198.18.0.7', '198.18.0.7']);
  });

  it('a host field that is an address never chooses who is blamed: the second field is the client', () => {
    // nginx's $host is the client's own Host header: `Host: 198.18.0.9` from 198.18.0.7.
    const line = `198.18.0.9 198.18.0.7 - - ${REST}`;
    for (const f of ['auto', 'apache-host-combined', 'nginx-host-combined'] as const) expect(who(parse(line, f)), f).toBe('198.18.0.7');
    expect(wrapped(line)).toEqual(['198.18.0.7', '198.18.0.7', '198.18.0.7']);
    expect(parse(`2001:db8::9 198.18.0.7 - - ${REST}`)).toMatchObject({ ip: '198.18.0.7', vhost: '2001:db8::9' });
    expect(parse(`198.18.0.9 2001:db8::7 - - ${REST}`)).toMatchObject({ ip: '2001:db8::7', vhost: '198.18.0.9' });
    // nginx lets a comma into $host: still the second field, never a list.
    expect(who(parse(`198.18.0.9,198.18.0.10 198.18.0.7 - - ${REST}`))).toBe('198.18.0.7');
    // A fixed ordinary format says the first field is %h: with IdentityCheck On, %l may be anything
    // the client's identd answers, an address too, and the first field is still the client.
    expect(who(parse(`198.18.0.9 198.18.0.7 - ${REST}`, 'apache-combined'))).toBe('198.18.0.9');
    // A host-layout line read as combined is read as declared: the operator said the first field is %h.
    expect(who(parse(line, 'apache-combined'))).toBe('198.18.0.9');
  });

  it('is told apart from vhost_combined (host:port) and from ordinary lines', () => {
    expect(parse(`www.example.org:443 198.18.0.7 - - ${REST}`)).toMatchObject({ ip: '198.18.0.7', vhost: 'www.example.org' });
    expect(parse(`[2001:db8::9]:443 198.18.0.7 - - ${REST}`)).toMatchObject({ ip: '198.18.0.7', vhost: '[2001:db8::9]' });
    expect(parse(`198.18.0.7 - - ${REST}`)).toMatchObject({ ip: '198.18.0.7', vhost: undefined });
    expect(parse(`2001:db8::7 - - ${REST}`)).toMatchObject({ ip: '2001:db8::7', vhost: undefined });
    // HostnameLookups On: a host name and no address at all is still a skip.
    expect(parse(`crawl-1.example.org - - ${REST}`)).toBe('bad-address');
    expect(parse(`www.example.org not-an-address - - ${REST}`)).toBe('bad-address');
    expect(parse(`www.example.org 198.18.0.700 - - ${REST}`)).toBe('bad-address');
  });

  it('a fixed format reads only its own layout', () => {
    expect(parse(`198.18.0.7 - - ${REST}`, 'apache-host-combined')).toBe('unknown-format');
    expect(parse(`www.example.org 198.18.0.7 - - ${REST}`, 'apache-combined')).toBe('unknown-format');
    expect(parse(`www.example.org 198.18.0.7 - - ${REST}`, 'apache-vhost-combined')).toBe('unknown-format');
    expect(parse(`www.example.org - - ${REST}`, 'nginx-host-combined')).toBe('bad-address');
    expect(parse(`www.example.org:443 198.18.0.7 - - ${REST}`, 'apache-vhost-combined')).toMatchObject({ ip: '198.18.0.7' });
    expect(parse(`www.example.org 198.18.0.7`, 'apache-host-combined')).toBe('truncated');
  });
});

describe("nginx main's trailing \"$http_x_forwarded_for\"", () => {
  const main = (peer: string, xff: string) => `${peer} - - ${REST} "${xff}"`;

  it('is ignored from an untrusted peer: a spoofed header changes nothing', () => {
    expect(who(parse(main('198.18.0.7', '198.18.0.9')))).toBe('198.18.0.7');
    expect(who(parse(main('198.18.0.7', '198.18.0.9'), 'auto', { trustedProxies: TRUSTED }))).toBe('198.18.0.7');
    expect(who(parse(main('10.0.0.2', '198.18.0.9')))).toBe('10.0.0.2'); // no trusted proxies configured
    expect(who(parse(main('198.18.0.7', 'garbage, , unknown'), 'nginx-main', { trustedProxies: TRUSTED }))).toBe('198.18.0.7');
  });

  it('from a trusted peer: the right-most entry that is not a trusted proxy', () => {
    const o = { trustedProxies: TRUSTED };
    expect(who(parse(main('10.0.0.2', '198.18.0.5'), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', '198.18.0.5, 10.0.0.3'), 'auto', o))).toBe('198.18.0.5');
    // What the client wrote itself (left of the first trusted proxy's entry) is never blamed or read.
    expect(who(parse(main('10.0.0.2', '198.18.0.66, 198.18.0.5, 10.0.0.3'), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', 'not an address at all,,, 198.18.0.5'), 'auto', o))).toBe('198.18.0.5');
    // `-` or an empty field: the peer itself (a trusted proxy, which is never banned).
    expect(who(parse(main('10.0.0.2', '-'), 'auto', o))).toBe('10.0.0.2');
    expect(who(parse(main('10.0.0.2', ''), 'auto', o))).toBe('10.0.0.2');
    // No trailing field (plain combined from the proxy): the peer.
    expect(who(parse(`10.0.0.2 - - ${REST}`, 'auto', o))).toBe('10.0.0.2');
    expect(who(parse(main('10.0.0.2', '198.18.0.5, 10.0.0.3'), 'nginx-main', o))).toBe('198.18.0.5');
    // A fixed format that does not declare the field never reads it: a third quoted field there may be
    // anything a custom format logs, such as a header the client writes ("$http_host", "$http_cookie").
    for (const f of ['nginx-combined', 'apache-combined', 'apache-common'] as const) {
      expect(who(parse(main('10.0.0.2', '198.18.0.5, 10.0.0.3'), f, o)), f).toBe('10.0.0.2');
      expect(who(parse(main('10.0.0.2', '198.18.0.77'), f, o)), f).toBe('10.0.0.2');
    }
  });

  it('an all-trusted chain gives its left-most entry (a trusted proxy: counts for no one)', () => {
    expect(who(parse(main('10.0.0.2', '10.0.0.5, 10.0.0.4, 10.0.0.3'), 'auto', { trustedProxies: TRUSTED }))).toBe('10.0.0.5');
  });

  it('IPv6 and ports in entries, canonicalised like any address', () => {
    const o = { trustedProxies: TRUSTED };
    expect(who(parse(main('10.0.0.2', '2001:DB8:0:0::5'), 'auto', o))).toBe('2001:db8::5');
    expect(who(parse(main('10.0.0.2', '[2001:db8::5]:4711, 10.0.0.3:443'), 'auto', o))).toBe('2001:db8::5');
    expect(who(parse(main('10.0.0.2', '[2001:db8::5]'), 'auto', o))).toBe('2001:db8::5');
    expect(who(parse(main('10.0.0.2', '198.18.0.5:65535'), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', '::ffff:198.18.0.5'), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', '[::ffff:198.18.0.5]:80'), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', '2001:db8::5:443'), 'auto', o))).toBe('2001:db8::5:443');
    // A trusted IPv6 peer, and an IPv6 proxy in the chain.
    expect(who(parse(main('2001:db8:ffff::1', '198.18.0.5, 2001:db8:ffff::2'), 'auto', o))).toBe('198.18.0.5');
    // Not ports: an IPv4 address with a bad port, brackets around IPv4, zone ids.
    for (const bad of ['198.18.0.5:0', '198.18.0.5:65536', '198.18.0.5:', '[198.18.0.5]', '[2001:db8::5]:x', 'fe80::1%eth0', '198.18.0.5/24']) {
      expect(who(parse(main('10.0.0.2', bad), 'auto', o)), bad).toBe('bad-forwarded');
    }
  });

  it('garbage the walk reaches, too many trusted hops, or an address that is never a client: a skip', () => {
    const o = { trustedProxies: TRUSTED };
    for (const bad of ['unknown', '198.18.0.5, unknown', '198.18.0.5,', '198.18.0.5, _hidden', 'x'.repeat(60), `198.18.0.5 ${'9'.repeat(50)}`]) {
      expect(who(parse(main('10.0.0.2', bad), 'auto', o)), bad).toBe('bad-forwarded');
    }
    const hops = (n: number) => ['198.18.0.5', ...Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${(i & 255) + 1}`)].join(', ');
    expect(who(parse(main('10.0.0.2', hops(MAX_HOPS - 1)), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(main('10.0.0.2', hops(MAX_HOPS + 5)), 'auto', o))).toBe('bad-forwarded');
    expect(who(parse(main('10.0.0.2', '0.0.0.0'), 'auto', o))).toBe('not-client');
    expect(who(parse(main('10.0.0.2', '224.0.0.1, 10.0.0.3'), 'auto', o))).toBe('not-client');
  });

  it('a huge client-written part is never read: the client is still found', () => {
    const pad = Array.from({ length: 5000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`).join(', ');
    expect(who(parse(main('10.0.0.2', `${pad}, 198.18.0.5`), 'auto', { trustedProxies: TRUSTED }))).toBe('198.18.0.5');
  });

  it('a tail cut before the field is known is a skip, never the peer; beyond the head the field is still read', () => {
    const o = { trustedProxies: TRUSTED };
    const line = main('10.0.0.2', '198.18.0.5, 10.0.0.3');
    const outs = new Set<string>();
    for (let n = line.indexOf('403') + 3; n <= line.length; n++) outs.add(who(parse(line.slice(0, n), 'auto', o)));
    // Cut inside the referer, the User-Agent or the XFF field: truncated; cut after the User-Agent
    // (before ` "`), the line has no XFF field as far as anyone can tell: the peer, which is trusted.
    expect([...outs].sort()).toEqual(['10.0.0.2', '198.18.0.5', 'truncated']);
    expect(who(parse(line.slice(0, line.indexOf('"198.18.0.5') + 4), 'auto', o))).toBe('truncated');
    // The client pads its User-Agent past the head: the field that names it is read all the same
    // (test/integration/server-hostile/padded-forwarded.test.ts, with real nginx); cut, it is too-long.
    const long = `10.0.0.2 - - ${REST.replace('"Mozilla/5.0"', `"${'A'.repeat(MAX_HEAD_LENGTH)}"`)} "198.18.0.5"`;
    expect(who(parse(long, 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(long.slice(0, -2), 'auto', o))).toBe('too-long');
    // The same padding from an untrusted peer changes nothing (length never decides).
    expect(who(parse(long.replace('10.0.0.2', '198.18.0.7'), 'auto', o))).toBe('198.18.0.7');
  });

  it('read the same inside Docker json-file and syslog framing, and in the host layout', () => {
    const o = { trustedProxies: TRUSTED };
    expect(wrapped(main('10.0.0.2', '198.18.0.5, 10.0.0.3'), o)).toEqual(['198.18.0.5', '198.18.0.5', '198.18.0.5']);
    expect(wrapped(main('198.18.0.7', '198.18.0.5'), o)).toEqual(['198.18.0.7', '198.18.0.7', '198.18.0.7']);
    expect(wrapped(`www.example.org ${main('10.0.0.2', '198.18.0.5')}`, o)).toEqual(['198.18.0.5', '198.18.0.5', '198.18.0.5']);
    // A Docker record whose XFF lies past the first decoded KiB is decoded further, not misread.
    const far = main('10.0.0.2', '198.18.0.5').replace('"Mozilla/5.0"', `"${'M'.repeat(6000)}"`);
    expect(who(parse(docker(far), 'auto', o))).toBe('198.18.0.5');
    expect(who(parse(docker(far), 'docker-json', o))).toBe('198.18.0.5');
  });
});

describe('X-Forwarded-For list as the first field (%{X-Forwarded-For}i, $proxy_add_x_forwarded_for)', () => {
  it('without trusted proxies the right-most entry (nginx: the peer) is the client', () => {
    expect(who(parse(`198.18.0.7, 198.18.0.1 - - ${REST}`))).toBe('198.18.0.1');
    expect(who(parse(`198.18.0.7,198.18.0.1 - - ${REST}`))).toBe('198.18.0.1');
  });

  it('past trusted proxies, the right-most untrusted entry; a client-written entry is never it', () => {
    const o = { trustedProxies: TRUSTED };
    expect(who(parse(`198.18.0.7, 10.0.0.1 - - ${REST}`, 'auto', o))).toBe('198.18.0.7');
    expect(who(parse(`198.18.0.7, 10.0.0.2, 10.0.0.1 - - ${REST}`, 'auto', o))).toBe('198.18.0.7');
    expect(who(parse(`198.18.0.66, 198.18.0.7, 10.0.0.1 - - ${REST}`, 'auto', o))).toBe('198.18.0.7');
    expect(who(parse(`junk,198.18.0.7,10.0.0.1 - - ${REST}`, 'auto', o))).toBe('198.18.0.7');
    expect(who(parse(`[2001:db8::7]:1234, 2001:db8:ffff::1 - - ${REST}`, 'auto', o))).toBe('2001:db8::7');
    expect(who(parse(`10.0.0.3, 10.0.0.1 - - ${REST}`, 'auto', o))).toBe('10.0.0.3');
    // A fixed ordinary format declares its first field to be the peer (%h, $remote_addr): no list there.
    for (const f of ['apache-combined', 'nginx-combined', 'nginx-main'] as const) expect(who(parse(`198.18.0.7, 10.0.0.1 - - ${REST}`, f, o)), f).toBe('unknown-format');
    expect(wrapped(`198.18.0.7, 10.0.0.1 - - ${REST}`, o)).toEqual(['198.18.0.7', '198.18.0.7', '198.18.0.7']);
  });

  it('spaces in the client-written part of a list that came through a trusted proxy never make the line blame its first address', () => {
    const o = { trustedProxies: TRUSTED };
    // The client sent `X-Forwarded-For: <prefix>`; the trusted proxy 10.0.0.1 appended the client's address.
    for (const prefix of ['198.18.0.9 - x', '198.18.0.9 198.18.0.10', '198.18.0.9 198.18.0.10 x', '198.18.0.9,198.18.0.8 x', 'a b c d', '198.18.0.9 -', `198.18.0.9 ${'a '.repeat(40)}x`]) {
      for (const tail of ['198.18.0.7, 10.0.0.1', '198.18.0.7, [2001:db8:ffff::1]:443', '10.0.0.1']) {
        const out = who(parse(`${prefix}, ${tail} - - ${REST}`, 'auto', o));
        expect(['bad-forwarded', 'bad-address', '198.18.0.7', '10.0.0.1'], `${prefix}, ${tail}`).toContain(out);
      }
    }
  });

  it('a user name can never have a client\'s own lines skipped (auto, with or without trusted proxies)', () => {
    const o = { trustedProxies: TRUSTED };
    // nginx fills $remote_user from any `Authorization: Basic` header, Apache %u from the attempted user:
    // whatever the client puts there, a line that starts with its address and `-` counts for that address.
    for (const user of ['John Doe', 'Doe,John', 'Doe, John', 'John 198.18.0.9', 'x, 198.18.0.5 - -', `${'a '.repeat(20_000)}x`, `${'a '.repeat(10)}x`, 'x, 2001:db8::5']) {
      for (const opts of [{}, o]) expect(who(parse(`198.18.0.7 - ${user} ${REST}`, 'auto', opts)), `${user} ${JSON.stringify(opts)}`).toBe('198.18.0.7');
      for (const f of ['apache-combined', 'nginx-combined', 'nginx-main'] as const) expect(who(parse(`198.18.0.7 - ${user} ${REST}`, f)), f).toBe('198.18.0.7');
    }
    // Only a trusted proxy's own address among the words marks a forged first-field list (refused).
    expect(who(parse(`198.18.0.7 - x, 10.0.0.1 ${REST}`, 'auto', o))).toBe('bad-forwarded');
  });

  it('a Host header with spaces (host layout) cannot make the line blame the address it names', () => {
    // nginx (since 1.21.1) and Apache (HttpProtocolOptions Strict) refuse a Host header with spaces, so
    // this is defence in depth. `auto` reads a line that starts with an address and `-` as an ordinary
    // one (a user name must never have a client's own lines skipped), so only host-led lines are judged there.
    for (const host of ['198.18.0.9 -', '198.18.0.9 x', '198.18.0.9 - -', 'www.example.org 198.18.0.9']) {
      for (const f of (host.startsWith('198.18.0.9 -') ? ['nginx-host-combined'] : ['auto', 'nginx-host-combined']) as ('auto' | 'nginx-host-combined')[]) {
        const out = who(parse(`${host} 198.18.0.7 - - ${REST}`, f));
        expect(['bad-forwarded', 'bad-address', 'unknown-format', '198.18.0.7'], `${host} ${f}`).toContain(out);
      }
    }
  });

  it('`list peer` ($http_x_forwarded_for $remote_addr): the peer, the list never read', () => {
    expect(who(parse(`198.18.0.66, 198.18.0.5 198.18.0.7 - - ${REST}`))).toBe('198.18.0.7');
    expect(who(parse(`"198.18.0.66, 198.18.0.5" 198.18.0.7 - - ${REST}`))).toBe('198.18.0.7');
    expect(who(parse(`- 198.18.0.7 - - ${REST}`))).toBe('198.18.0.7');
  });

  it('malformed lists are skips with a reason', () => {
    const o = { trustedProxies: TRUSTED };
    expect(who(parse(`198.18.0.7, unknown - - ${REST}`))).toBe('bad-forwarded');
    expect(who(parse(`198.18.0.7, unknown, 10.0.0.1 - - ${REST}`, 'auto', o))).toBe('bad-forwarded');
    expect(who(parse(`198.18.0.7,, - - ${REST}`))).toBe('bad-forwarded');
    expect(who(parse(`198.18.0.7, 198.18.0.1`))).toBe('truncated');
    const chain = ['198.18.0.7', ...Array.from({ length: MAX_HOPS + 1 }, (_, i) => `10.1.0.${i + 1}`)].join(',');
    expect(who(parse(`${chain} - - ${REST}`, 'auto', o))).toBe('bad-forwarded');
  });
});

describe('truncation: a cut line is a skip, the same event, or (trusted peer) the proxy itself', () => {
  it('holds for every layout, plain and wrapped, with and without trusted proxies', () => {
    const lines = [
      `www.example.org 198.18.0.7 - - ${REST}`,
      `198.18.0.9 2001:db8::7 - - ${REST}`,
      `198.18.0.66, 198.18.0.7, 10.0.0.1 - - ${REST}`,
      `[2001:db8::66]:4711,10.0.0.1 - - ${REST}`,
      `10.0.0.2 - - ${REST} "198.18.0.66, 198.18.0.5, 10.0.0.3"`,
      `www.example.org 10.0.0.2 - - ${REST} "198.18.0.5"`,
      `198.18.0.7 - - ${REST} "198.18.0.5"`,
    ];
    for (const opts of [{}, { trustedProxies: TRUSTED }]) {
      for (const format of ['auto', 'docker-json', 'syslog'] as const) {
        const p = createLineParser(format, opts);
        const wrap = format === 'docker-json' ? docker : format === 'syslog' ? syslog : (l: string) => l;
        for (const line of lines) {
          const full = who(p(wrap(line)));
          expect(SKIP_REASONS.includes(full as never), `${line} ${format}`).toBe(false);
          const peer = /^(?:\S+ )?(10\.0\.0\.2) - /.exec(line)?.[1];
          for (let n = 0; n < line.length; n++) {
            const o = who(p(wrap(line.slice(0, n))));
            if (SKIP_REASONS.includes(o as never) || o === full) continue;
            expect(o, `${format} ${JSON.stringify(opts)} cut at ${n}: ${line.slice(0, n)}`).toBe(peer);
          }
        }
      }
    }
  });
});

/** Deterministic PRNG so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The rule, written out plainly: walk from the right past trusted entries; garbage reached is a skip. */
function reference(entries: readonly string[], trusted: (ip: string) => boolean): string {
  let last = '';
  for (let k = entries.length - 1, hops = 0; k >= 0; k--, hops++) {
    if (hops > MAX_HOPS) return 'bad-forwarded';
    let e = entries[k]!.trim();
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(e) ?? /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(e);
    if (m !== null) {
      if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return 'bad-forwarded';
      if (e.startsWith('[') && !m[1]!.includes(':')) return 'bad-forwarded';
      e = m[1]!;
    }
    const c = canonicalIp(e);
    if (c === null) return 'bad-forwarded';
    if (!trusted(c.ip)) return c.ip;
    last = c.ip;
  }
  return last;
}

describe('fuzz: the trailing X-Forwarded-For walk agrees with the rule written plainly', () => {
  it('random lists of trusted, untrusted, ported, bracketed and garbage entries', () => {
    const r = rng(13);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const trustedIp = (ip: string) => ip.startsWith('10.') || ip.startsWith('2001:db8:ffff:');
    const entry = (): string =>
      pick([
        () => `198.18.${Math.floor(r() * 4)}.${1 + Math.floor(r() * 250)}`,
        () => `10.0.0.${1 + Math.floor(r() * 250)}`,
        () => `[2001:db8::${Math.floor(r() * 0xffff).toString(16)}]:${Math.floor(r() * 70000)}`,
        () => `2001:db8:ffff::${1 + Math.floor(r() * 99)}`,
        () => `198.18.0.${Math.floor(r() * 300)}:${Math.floor(r() * 70000)}`,
        () => pick(['unknown', '', ' ', '_x', '-', '::', 'ff02::1', '0.0.0.0', '1.2.3', '[1.2.3.4]', '2001:DB8::A']),
      ])();
    const p = createLineParser('auto', { trustedProxies: TRUSTED });
    for (let i = 0; i < 4000; i++) {
      const n = 1 + Math.floor(r() * 6);
      const entries = Array.from({ length: n }, entry);
      const xff = entries.join(pick([',', ', ', ' ,', ',\t']));
      const out = who(p(`10.0.0.2 - - ${REST} "${xff}"`));
      const split = xff.split(',');
      let want = reference(split, trustedIp);
      // An empty field or `-` means no header: the peer.
      if (want === '' || xff === '' || xff === '-') want = '10.0.0.2';
      if (want !== 'bad-forwarded' && want !== '10.0.0.2' && ['0.0.0.0', 'ff02::1', '::'].includes(want)) want = 'not-client';
      expect(SKIP_REASONS.includes(out as never) || canonicalIp(out) !== null, xff).toBe(true);
      expect(out, xff).toBe(want);
    }
  });
});
