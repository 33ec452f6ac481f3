/**
 * Issue 13's `host client - - […]` layout: nginx's `$host` is whatever the client sent in its Host
 * header, and nginx accepts a comma there (`Host: a,`). With the format named
 * (BANHAMMER_LOG_FORMAT=nginx-host-combined, what the README recommends with trusted proxies), such a
 * line must still count for the peer in the second field, never be skipped: otherwise a scanner that
 * sends `Host: x,` with every request has all its lines skipped and is never banned.
 */
import { describe, expect, it } from 'vitest';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { replayAll, stamp, T0 } from './harness.js';

const TAIL = (t: number, path: string): string => `[${stamp(t)}] "GET ${path} HTTP/1.1" 404 162 "-" "Mozilla/5.0"`;
const HOSTS = ['a,', 'example.test,', ',,', 'unknown,', '198.18.0.50,', '198.18.0.50,198.18.0.51,', 'example.test,x'];

describe('host layout: a Host header with a comma', () => {
  for (const format of ['nginx-host-combined', 'apache-host-combined', 'auto'] as const) {
    for (const trusted of [[], ['198.18.7.0/24']]) {
      it(`${format}${trusted.length ? ' with trusted proxies' : ''}: each line counts for the peer`, () => {
        const parse = createLineParser(format, { trustedProxies: trusted });
        const got = HOSTS.map((h) => {
          const ev = parse(`${h} 198.18.0.66 - - ${TAIL(T0, '/.env')}`);
          return `${h} → ${isSkip(ev) ? `skipped (${ev})` : ev.ip}`;
        });
        expect(got).toEqual(HOSTS.map((h) => `${h} → 198.18.0.66`));
      });
    }
  }

  it('a scanner sending Host: x, is banned by its own address (nginx-host-combined, replay --all-rules)', async () => {
    const lines = ['/.env', '/.git/config', '/.aws/credentials'].map((p, i) => `x, 198.19.13.1 - - ${TAIL(T0 + i, p)}`);
    const report = await replayAll(lines, { BANHAMMER_LOG_FORMAT: 'nginx-host-combined' });
    expect(report.skipped).toBe(0);
    expect(report.bans.map((b) => `${b.ip} ${b.rule}`)).toContain('198.19.13.1 sensitive-paths');
  });

  it('the host names a trusted proxy peer, not the address the Host header holds (nginx-host-combined)', () => {
    const parse = createLineParser('nginx-host-combined', { trustedProxies: ['198.18.7.0/24'] });
    const ev = parse(`198.18.0.50, 198.18.7.1 - - ${TAIL(T0, '/.env')}`);
    expect(isSkip(ev) ? ev : ev.ip).toBe('198.18.7.1');
  });
});
