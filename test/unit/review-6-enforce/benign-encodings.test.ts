/**
 * Review round 6 (H14): the decoding added in round 5 (overlong UTF-8 `%c0%ae`, IIS `%uXXXX`, the
 * served spelling of whole targets) must not make ordinary non-ASCII requests match any preset:
 * UTF-8 paths in other languages, Latin-1 bytes that are not UTF-8 (which take the byte-by-byte
 * decoding where the new escapes are read), JavaScript escape() output (`%uXXXX`), a fragment
 * or a `./` segment (the served spelling). Each request is checked against every preset about a request's
 * spelling (presetMatches), beside a control that the same decoding still catches the attack
 * spellings it was added for.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/detect/presets.js';
import { line, presetMatches, T0 } from '../presets-variants/harness.js';

const BENIGN: { request: string; status: number }[] = [
  { request: 'GET /%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82 HTTP/1.1', status: 200 },
  { request: 'GET /%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82/%D0%BC%D0%B8%D1%80?q=%D1%82%D0%B5%D1%81%D1%82 HTTP/1.1', status: 404 },
  { request: 'GET /caf%C3%A9 HTTP/1.1', status: 200 },
  { request: 'GET /caf%E9 HTTP/1.1', status: 404 },
  { request: 'GET /docs/r%E9sum%E9%20%C0%20jour.pdf HTTP/1.1', status: 404 },
  { request: 'GET /%C0%20propos/ HTTP/1.1', status: 404 },
  { request: 'GET /wiki/%E0%A4%A8%E0%A4%AE%E0%A4%B8%E0%A5%8D%E0%A4%A4%E0%A5%87 HTTP/1.1', status: 200 },
  { request: 'GET /%E0%B8%AA%E0%B8%A7%E0%B8%B1%E0%B8%AA%E0%B8%94%E0%B8%B5 HTTP/1.1', status: 404 },
  { request: 'GET /%E6%97%A5%E6%9C%AC%E8%AA%9E/%EF%BC%8E%EF%BC%8E/ HTTP/1.1', status: 404 },
  { request: 'GET /search?q=%u00e9t%u00e9+%u00e0+Paris HTTP/1.1', status: 200 },
  { request: 'GET /search?q=%u65E5%u672C%u8A9E%uFF01 HTTP/1.1', status: 200 },
  { request: 'GET /search?q=50%25+off&x=%E9 HTTP/1.1', status: 200 },
  { request: 'GET /shop/%E9t%E9/hiver/index.html HTTP/1.1', status: 404 },
  { request: 'GET /shop/%E9t%E9/./hiver/index.html HTTP/1.1', status: 404 },
  { request: 'GET /images/logo%20(1).png#top HTTP/1.1', status: 404 },
];

/** Presets that count every request of a kind (any 404, any request, any page): not about its spelling. */
const COUNTING = new Set(['request-flood', 'not-found', 'crawl-non-static', 'forbidden']);

describe('benign non-ASCII requests match no preset about attack spellings', () => {
  it.each(BENIGN)('$request ($status)', ({ request, status }) => {
    const l = line('198.18.160.1', T0, request, status);
    expect(Object.keys(PRESETS).filter((name) => !COUNTING.has(name) && presetMatches(name, l))).toEqual([]);
  });

  it('control: the overlong and %u spellings of a traversal still match exploit-probes', () => {
    for (const r of ['GET /%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd HTTP/1.1', 'GET /%u002e%u002e/%u002e%u002e/etc/passwd HTTP/1.1', 'GET /%uff0e%uff0e/%uff0e%uff0e/windows/win.ini HTTP/1.1']) {
      expect(presetMatches('exploit-probes', line('198.19.160.1', T0, r, 404))).toBe(true);
    }
  });
});
