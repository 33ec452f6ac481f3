/**
 * Review H53: in the host layout (`$host $remote_addr - $remote_user [$time_local] "$request" …`)
 * the first field is the client's own Host header, which nginx (1.22, checked by hand) writes
 * lower-cased, with `"` as \x22 and anything but spaces, `/`, `\` and NUL let through: `Host: <1>`
 * makes the line start `<1> 198.18.0.7 - - [`, and `Host: {x}` makes it start like a Docker record.
 * `auto` decides wrapper or access line by the first characters, so such a line was read as a
 * broken wrapper (skipped: every failure of that client escaped), and `Host: <134>1` with a
 * Basic-auth user name `a b c - 198.18.0.9 - -` made it a well-formed RFC 5424 message
 * (timestamp `198.18.0.7`, host `-`, app `a`, …) whose message blamed 198.18.0.9.
 *
 * The invariant: whatever Host a client sends, the line counts as it does with an ordinary Host
 * (same address, same status), plain, in Docker json-file and in syslog; a line that an ordinary
 * Host has skipped (a user name holding `198.18.0.9 - `: 'bad-forwarded', the documented price)
 * is skipped, never counted for anyone.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { parseSyslogFrame } from '../../../src/parse/syslog.js';
import type { ParseOutcome } from '../../../src/parse/access-event.js';
import { intRng } from '../../support/random.js';

const PEER = '198.18.0.7';
const TIME = '07/Dec/2026:11:04:51 +0000';

/** nginx's escape=default for a variable's bytes: `"`, `\`, controls and non-ASCII as \xHH. */
function nginxEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f ? `\\x${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

/** What nginx (>= 1.21.1) writes for `Host: h`: lower-cased; its validation refuses the rest. */
function nginxHost(h: string): string | null {
  if (/[\x00-\x20\x7f/\\:]/.test(h)) return null; // refused (a port, after `:`, is cut: not generated)
  return nginxEscape(h.toLowerCase());
}

function hostLine(host: string, user: string): string {
  return `${host} ${PEER} - ${user === '' ? '-' : nginxEscape(user)} [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "curl/8.5"`;
}

/** An outcome in words: the address and status of an event, or the skip reason. */
function said(out: ParseOutcome): string {
  return typeof out === 'string' ? out : `${out.ip} ${out.status}`;
}

const dockerRecord = (line: string): string => JSON.stringify({ log: `${line}\n`, stream: 'stdout', time: '2026-12-07T11:04:51.000000000Z' });
const syslog3164 = (line: string): string => `<30>Dec  7 11:04:51 web[812]: ${line}`;
const syslog5424 = (line: string): string => `<30>1 2026-12-07T11:04:51.000Z host web 812 web - ${line}`;

/** Host headers that start like a wrapper, as a client sends them. */
function lookalikeHosts(seed: number, n: number): string[] {
  const pick = intRng(seed);
  const tails = ['', 'x', '1', '12', 'dec', 'nov', 'www.example.org', '{}', '"log":"x', '[x]', '2026-12-07t10', '<1>', '-', '198.18.0.9', '{"log":"198.18.0.9'];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const pri = String(pick(192));
    const version = ['', '1', '2', '12', '0'][pick(5)]!;
    const head = pick(3) === 0 ? '{' : pick(4) === 0 ? `<${pri}>` : `<${pri}>${version}`;
    out.push(head + tails[pick(tails.length)]! + (pick(3) === 0 ? tails[pick(tails.length)]! : ''));
  }
  return out;
}

/** Basic-auth user names (the text before the first `:`), some forging a wrapper's rest. */
function userNames(seed: number, n: number): string[] {
  const pick = intRng(seed);
  const words = ['a', 'b', 'c', '-', '198.18.0.9', '2001:db8::9'.replace(/:/g, ''), '[07/Dec/2026:11:04:51', '+0000]', '2026-12-07T11:04:51Z', 'web[1]', 'x', '[x]', '-,'];
  const forged = ['a b c - 198.18.0.9 - -', '- h a p m - 198.18.0.9 - -', 'a b c [x] 198.18.0.9 - -', 'h web: 198.18.0.9 - -'];
  const out: string[] = ['', ...forged];
  while (out.length < n) {
    const k = 1 + pick(9);
    const w: string[] = [];
    for (let j = 0; j < k; j++) w.push(words[pick(words.length)]!);
    out.push(w.join(' ').replace(/:/g, ''));
  }
  return out;
}

describe('a Host header that looks like a wrapper (host layout, auto)', () => {
  it('never changes whom a line counts for, nor whether it counts: plain, Docker json-file, syslog', () => {
    const hosts = lookalikeHosts(53, 120);
    const users = userNames(530, 40);
    let checked = 0;
    for (const wrap of [(l: string) => l, dockerRecord, syslog3164, syslog5424]) {
      const parse = createLineParser('auto');
      const control = createLineParser('auto');
      for (const raw of hosts) {
        const host = nginxHost(raw);
        if (host === null) continue;
        for (const user of users) {
          const line = wrap(hostLine(host, user));
          const want = control(wrap(hostLine('www.example.org', user)), '/c');
          const got = parse(line, '/l');
          const same = typeof want === 'string' ? typeof got === 'string' : said(got) === said(want);
          if (!same) expect.fail(`${line}\n  read as ${said(got)}, with an ordinary Host as ${said(want)}`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(4 * 80 * 40);
  });

  it('the lines nginx 1.22 wrote for such requests count for the peer', () => {
    // Written by nginx 1.22.1 (log_format `$host $remote_addr - $remote_user [$time_local] "$request" …`).
    const parse = createLineParser('auto');
    const written = [
      `<1> ${PEER} - - [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
      `{x} ${PEER} - - [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
      `{\\x22log\\x22 ${PEER} - - [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
      `<134>1 ${PEER} - - [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
    ];
    for (const line of written) expect(said(parse(line, '/l')), line).toBe(`${PEER} 404`);
    // `Host: <134>1` and the user name `a b c - 198.18.0.9 - -`: once an RFC 5424 message blaming
    // 198.18.0.9; now the host layout, whose user field names an address followed by ` - `: refused.
    const framing = `<134>1 ${PEER} - a b c - 198.18.0.9 - - [${TIME}] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`;
    expect(typeof parse(framing, '/l')).toBe('string');
  });

  it('an RFC 5424 header whose timestamp is not one (an address) is no header; `-` and RFC 3339 dates are', () => {
    const line = (ts: string): string => `<30>1 ${ts} host web 812 web - ${PEER} - - [${TIME}] "GET / HTTP/1.1" 404 1`;
    expect(parseSyslogFrame(line('198.18.0.9'), 0, line('198.18.0.9').length)).toBeNull();
    expect(parseSyslogFrame(line('2001:db8::9'), 0, line('2001:db8::9').length)).toBeNull();
    expect(parseSyslogFrame(line('-'), 0, line('-').length)?.tag).toBe('web');
    expect(parseSyslogFrame(line('2026-12-07T11:04:51.123456+00:00'), 0, line('2026-12-07T11:04:51.123456+00:00').length)?.tag).toBe('web');
  });

  it('control: genuine wrappers are still read as wrappers, and broken ones that are no access line stay bad-wrapper', () => {
    const parse = createLineParser('auto');
    const plain = `${PEER} - - [${TIME}] "GET /x HTTP/1.1" 404 1 "-" "-"`;
    for (const l of [dockerRecord(plain), syslog3164(plain), syslog5424(plain), `<30>1 - host web 812 web - ${plain}`]) {
      const out = parse(l, '/w');
      expect(said(out), l).toBe(`${PEER} 404`);
      expect(typeof out !== 'string' && out.origin, l).toBe(l.startsWith('{') ? undefined : 'web');
    }
    for (const l of ['{"log":', '<300>Nov 23 09:35:48 web[1]: x', `<30>Nov 23 09:35:48 web[1] ${plain}`]) {
      expect(parse(l, '/w'), l).toBe('bad-wrapper');
    }
  });
});
