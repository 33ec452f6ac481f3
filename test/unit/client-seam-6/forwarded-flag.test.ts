/**
 * Issues 5 and 10, round 6: the agent and the server must agree on who the client is. With trusted
 * proxies the parser may take a line's client from an X-Forwarded-For field; on such a line the
 * server's own peer ($remote_addr, REMOTE_ADDR, the packets' source) is the proxy, and a layer-7 map
 * looked up by that peer never matches the ban. The parser now marks such an event
 * (AccessEvent.forwarded), and only such an event: a line whose first field the server resolved
 * itself (realip, mod_remoteip) or an untrusted peer's line is not marked.
 */
import { describe, expect, it } from 'vitest';
import { isSkip, type AccessEvent } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';

const REST = `[10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 403 199 "-" "M"`;
const TRUSTED = { trustedProxies: ['10.0.0.0/8', '2001:db8:ffff::/48'] };
const parse = (l: string, o: { trustedProxies?: string[] } = TRUSTED, format: 'auto' | 'nginx-main' | 'nginx-combined' = 'auto'): AccessEvent => {
  const r = createLineParser(format, o)(l);
  if (isSkip(r)) throw new Error(`skipped: ${r}`);
  return r;
};
/** The client and whether it was read from a forwarded field. */
const who = (l: string, o?: { trustedProxies?: string[] }, format?: 'auto' | 'nginx-main' | 'nginx-combined'): [string, boolean] => {
  const e = parse(l, o, format);
  return [e.ip, e.forwarded === true];
};
const docker = (l: string): string => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-10-10T13:55:36.000000000Z' });

describe('AccessEvent.forwarded: the client came from X-Forwarded-For past a trusted proxy', () => {
  it('nginx main behind a trusted peer: the trailing field names the client, marked forwarded', () => {
    expect(who(`10.0.0.1 - - ${REST} "198.18.0.7"`)).toEqual(['198.18.0.7', true]);
    expect(who(`10.0.0.1 - - ${REST} "198.18.0.66, 198.18.0.7, 10.0.0.9"`)).toEqual(['198.18.0.7', true]);
    expect(who(`2001:db8:ffff::1 - - ${REST} "2001:db8::7"`)).toEqual(['2001:db8::7', true]);
    expect(who(`10.0.0.1 - - ${REST} "198.18.0.7"`, TRUSTED, 'nginx-main')).toEqual(['198.18.0.7', true]);
    expect(who(docker(`10.0.0.1 - - ${REST} "198.18.0.7"`))).toEqual(['198.18.0.7', true]);
    expect(who(`<30>Oct 10 13:55:36 web[1]: 10.0.0.1 - - ${REST} "198.18.0.7"`)).toEqual(['198.18.0.7', true]);
  });

  it('a trusted peer without a forwarded header is the client itself (the proxy, never banned): not forwarded', () => {
    expect(who(`10.0.0.1 - - ${REST} "-"`)).toEqual(['10.0.0.1', false]);
    expect(who(`10.0.0.1 - - ${REST}`)).toEqual(['10.0.0.1', false]);
  });

  it('an untrusted peer, or no trusted proxies at all: the peer, not forwarded', () => {
    expect(who(`198.18.0.9 - - ${REST} "198.18.0.7"`)).toEqual(['198.18.0.9', false]);
    expect(who(`10.0.0.1 - - ${REST} "198.18.0.7"`, {})).toEqual(['10.0.0.1', false]);
    // A format that does not declare the trailing field never reads it.
    expect(who(`10.0.0.1 - - ${REST} "198.18.0.7"`, TRUSTED, 'nginx-combined')).toEqual(['10.0.0.1', false]);
    // What a server that resolves the client itself (realip, mod_remoteip) logs: the client first.
    expect(who(`198.18.0.7 - - ${REST} "198.18.0.7"`)).toEqual(['198.18.0.7', false]);
    expect(who(`198.18.0.7 - - ${REST}`)).toEqual(['198.18.0.7', false]);
    expect(who(`2001:db8::7 - - ${REST}`)).toEqual(['2001:db8::7', false]);
  });

  it('a first-field list: forwarded only when the walk passed a trusted proxy\'s entry', () => {
    // $proxy_add_x_forwarded_for without realip: the header, then the peer (the proxy).
    expect(who(`198.18.0.7, 10.0.0.1 - - ${REST}`)).toEqual(['198.18.0.7', true]);
    expect(who(`198.18.0.66, 198.18.0.7, 10.0.0.2, 10.0.0.1 - - ${REST}`)).toEqual(['198.18.0.7', true]);
    // The right-most entry is not trusted: it is the peer nginx saw (with realip: the client twice).
    expect(who(`198.18.0.66, 198.18.0.7 - - ${REST}`)).toEqual(['198.18.0.7', false]);
    expect(who(`198.18.0.7, 198.18.0.7 - - ${REST}`)).toEqual(['198.18.0.7', false]);
    expect(who(`198.18.0.7, 10.0.0.1 - - ${REST}`, {})).toEqual(['10.0.0.1', false]);
    // Every entry trusted: the left-most proxy (never banned).
    expect(who(`10.0.0.2, 10.0.0.1 - - ${REST}`)[0]).toBe('10.0.0.2');
  });

  it('a Host with a comma in front of a trusted peer: the trailing field decides, and so does its mark', () => {
    expect(who(`198.18.0.9, 10.0.0.1 - - ${REST} "198.18.0.5"`)).toEqual(['198.18.0.5', true]);
    // No forwarded header: the proxy itself, whatever the list walk had passed.
    expect(who(`198.18.0.9, 10.0.0.1 - - ${REST} "-"`)).toEqual(['10.0.0.1', false]);
  });

  it('the mark is per line: a forwarded line does not mark the next one (the scanner reuses its state)', () => {
    const p = createLineParser('auto', TRUSTED);
    const seq = [`10.0.0.1 - - ${REST} "198.18.0.7"`, `198.18.0.8 - - ${REST}`, `198.18.0.7, 10.0.0.1 - - ${REST}`, `2001:db8::8 - - ${REST}`, `198.18.0.6, 198.18.0.8 - - ${REST}`];
    const got = seq.map((l) => {
      const e = p(l);
      return isSkip(e) ? e : `${e.ip} ${e.forwarded === true}`;
    });
    expect(got).toEqual(['198.18.0.7 true', '198.18.0.8 false', '198.18.0.7 true', '2001:db8::8 false', '198.18.0.8 false']);
  });
});

describe('the pipeline counts forwarded events and calls its hook once', () => {
  it('stats.forwarded and onForwarded', () => {
    const config = loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: '10.0.0.0/8' }, hostname: 'unit' });
    const seen: string[] = [];
    const p = new Pipeline({ config, mode: 'live', onForwarded: (e) => seen.push(e.ip) });
    p.parse(`198.18.0.8 - - ${REST}`);
    expect(p.stats.forwarded).toBe(0);
    p.parse(`10.0.0.1 - - ${REST} "198.18.0.7"`);
    p.parse(`10.0.0.1 - - ${REST} "198.18.0.6"`);
    p.parse(`198.18.0.8 - - ${REST}`);
    expect(p.stats.forwarded).toBe(2);
    expect(seen).toEqual(['198.18.0.7']);
  });
});
