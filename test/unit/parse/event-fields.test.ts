/**
 * AccessEvent's request, referer and userAgent fields (issue 13): read as written, `-` is undefined,
 * undefined when the layout has no such field or the line (or the head the scanner reads) ends first;
 * never able to change which address a line counts for or its status.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEAD_LENGTH, isSkip, type AccessEvent, type ParseOutcome } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const T = '10/Oct/2026:13:55:36 +0000';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

function ev(o: ParseOutcome): AccessEvent {
  if (isSkip(o)) throw new Error(`skipped: ${o}`);
  return o;
}

const fields = (o: ParseOutcome) => {
  const e = ev(o);
  return { ip: e.ip, status: e.status, request: e.request, referer: e.referer, userAgent: e.userAgent };
};

const docker = (line: string) => `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`;

describe('request, referer and User-Agent', () => {
  it('combined: all three as written; `-` is undefined', () => {
    const p = createLineParser('auto');
    expect(fields(p(`198.18.0.7 - - [${T}] "GET /a?b=1 HTTP/1.1" 403 199 "https://example.org/x" "${UA}"`))).toEqual({
      ip: '198.18.0.7',
      status: 403,
      request: 'GET /a?b=1 HTTP/1.1',
      referer: 'https://example.org/x',
      userAgent: UA,
    });
    expect(fields(p(`198.18.0.7 - - [${T}] "GET / HTTP/1.1" 200 - "-" "-"`))).toEqual({
      ip: '198.18.0.7', status: 200, request: 'GET / HTTP/1.1', referer: undefined, userAgent: undefined,
    });
    // Empty quoted fields are empty strings (the client sent an empty header), not absent.
    expect(fields(p(`198.18.0.7 - - [${T}] "GET / HTTP/1.1" 200 5 "" ""`))).toMatchObject({ referer: '', userAgent: '' });
  });

  it('common: the request line only', () => {
    for (const f of ['auto', 'apache-common'] as const) {
      expect(fields(createLineParser(f)(`198.18.0.7 - - [${T}] "POST /login HTTP/1.0" 401 12`))).toEqual({
        ip: '198.18.0.7', status: 401, request: 'POST /login HTTP/1.0', referer: undefined, userAgent: undefined,
      });
    }
  });

  it('junk request lines are kept raw for rules: TLS handshakes, CONNECT, absolute URIs, `-`, empty', () => {
    const p = createLineParser('auto');
    const cases: [string, string, string][] = [
      ['\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03', '', ''],
      ['CONNECT www.example.org:443 HTTP/1.1', 'CONNECT', 'www.example.org:443'],
      ['GET http://www.example.org/ HTTP/1.1', 'GET', 'http://www.example.org/'],
      ['-', '', ''],
      ['', '', ''],
    ];
    for (const [req, method, path] of cases) {
      const e = ev(p(`198.18.0.9 - - [${T}] "${req}" 400 0 "-" "-"`));
      expect({ request: e.request, method: e.method, path: e.path }, req).toEqual({ request: req, method, path });
    }
  });

  it('escapes are kept as the server wrote them (Apache \\" and \\\\, nginx \\x22)', () => {
    const apache = ev(createLineParser('apache-combined')(`198.18.0.7 - - [${T}] "GET /q\\"x HTTP/1.1" 404 1 "a\\"b" "sqlmap/1.8 \\"\\\\\\""`));
    expect(apache.request).toBe('GET /q\\"x HTTP/1.1');
    expect(apache.referer).toBe('a\\"b');
    expect(apache.userAgent).toBe('sqlmap/1.8 \\"\\\\\\"');
    const nginx = ev(createLineParser('nginx-combined')(`198.18.0.7 - - [${T}] "GET /q\\x22x HTTP/1.1" 404 1 "a\\x22b" "x\\x22y"`));
    expect(nginx.userAgent).toBe('x\\x22y');
  });

  it('a forged log line in the User-Agent is only text: the address and status come from the head', () => {
    const forged = `198.18.0.99 - - [${T}] \\"GET /wp-login.php HTTP/1.1\\" 403 1 \\"-\\" \\"-\\"`;
    const e = ev(createLineParser('auto')(`198.18.0.4 - - [${T}] "GET / HTTP/1.1" 200 1 "-" "${forged}"`));
    expect({ ip: e.ip, status: e.status, userAgent: e.userAgent }).toEqual({ ip: '198.18.0.4', status: 200, userAgent: forged });
  });

  it('a tail cut before a field ends leaves that field undefined; the line still counts', () => {
    const p = createLineParser('auto');
    const line = `198.18.0.5 - - [${T}] "GET / HTTP/1.1" 403 1 "https://r.example/" "${UA}"`;
    const refEnd = line.indexOf('" "') + 1;
    for (let n = line.indexOf('403') + 3; n < line.length; n++) {
      const e = fields(p(line.slice(0, n)));
      expect({ ip: e.ip, status: e.status }).toEqual({ ip: '198.18.0.5', status: 403 });
      expect(e.referer, `cut at ${n}`).toBe(n >= refEnd ? 'https://r.example/' : undefined);
      expect(e.userAgent, `cut at ${n}`).toBeUndefined();
    }
    expect(fields(p(line)).userAgent).toBe(UA);
  });

  it('a referer or User-Agent ending beyond the head is undefined (length never decides the count)', () => {
    const p = createLineParser('auto');
    const hugeUa = `198.18.0.6 - - [${T}] "GET / HTTP/1.1" 403 1 "r" "${'A'.repeat(MAX_HEAD_LENGTH)}"`;
    expect(fields(p(hugeUa))).toEqual({ ip: '198.18.0.6', status: 403, request: 'GET / HTTP/1.1', referer: 'r', userAgent: undefined });
    const hugeRef = `198.18.0.6 - - [${T}] "GET / HTTP/1.1" 403 1 "${'R'.repeat(MAX_HEAD_LENGTH)}" "curl/8.5.0"`;
    expect(fields(p(hugeRef))).toMatchObject({ status: 403, referer: undefined, userAgent: undefined });
    // Just inside the head, it is read.
    const fits = `198.18.0.6 - - [${T}] "GET / HTTP/1.1" 403 1 "r" "${'A'.repeat(MAX_HEAD_LENGTH - 200)}"`;
    expect(ev(p(fits)).userAgent).toHaveLength(MAX_HEAD_LENGTH - 200);
  });

  it('every layout and wrapper gives the same fields: IPv6, vhost_combined, Docker json-file, syslog', () => {
    const line = `2001:db8::7 - - [${T}] "GET /x HTTP/1.1" 404 9 "-" "${UA}"`;
    const want = { ip: '2001:db8::7', status: 404, request: 'GET /x HTTP/1.1', referer: undefined, userAgent: UA };
    const p = createLineParser('auto');
    expect(fields(p(line))).toEqual(want);
    expect(fields(p(`www.example.org:443 ${line}`))).toEqual(want);
    expect(fields(createLineParser('apache-vhost-combined')(`www.example.org:443 ${line}`))).toEqual(want);
    expect(fields(p(docker(line)))).toEqual(want);
    expect(fields(createLineParser('docker-json')(docker(line)))).toEqual(want);
    expect(fields(p(`<30>Nov 23 09:35:48 web[812]: ${line}`))).toEqual(want);
    expect(fields(createLineParser('syslog')(`2026-11-23T09:35:48.123456+00:00 host web[812]: ${line}`))).toEqual(want);
  });

  it('Docker: a User-Agent past the first decoded KiB is still read; a record cut inside it is not', () => {
    const longUa = `curl/8.5.0 ${'x'.repeat(6000)}`;
    const line = `198.18.0.8 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "${longUa}"`;
    const p = createLineParser('auto');
    expect(ev(p(docker(line))).userAgent).toBe(longUa);
    const rec = docker(line);
    const cut = rec.slice(0, rec.indexOf('curl') + 100);
    expect(fields(p(cut))).toMatchObject({ ip: '198.18.0.8', status: 403, referer: undefined, userAgent: undefined });
  });

  it("nginx's trailing X-Forwarded-For field leaves the User-Agent as it is", () => {
    const e = ev(createLineParser('auto')(`198.18.0.7 - - [${T}] "GET / HTTP/1.1" 200 612 "-" "${UA}" "198.18.1.1, 198.18.1.2"`));
    expect(e.userAgent).toBe(UA);
  });

  it('an event serialises with its fields (replay --json, test comparisons)', () => {
    const e = createLineParser('auto')(`198.18.0.7 - - [${T}] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0"`);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      ip: '198.18.0.7', family: 4, time: Date.UTC(2026, 9, 10, 13, 55, 36), method: 'GET', path: '/', status: 200,
      request: 'GET / HTTP/1.1', userAgent: 'curl/8.5.0',
    });
  });
});
