/**
 * percentDecode's byte-by-byte fallback (where decodeURIComponent refuses the text) is one scan of
 * the string; it was a regex replace with a replacer function, which cost about 0.2 µs an escape (an
 * 8 KB target of `%2e/%zz` cost ~1.5 ms a line with the default rules). The regex is kept here as the
 * reference: the scan must decode exactly as it did, on random text built from the characters the
 * escapes are made of.
 */
import { describe, expect, it } from 'vitest';
import { percentDecode } from '../../../src/detect/rule.js';
import { prng } from '../seams-variants-2/gen.js';
import { referencePercentDecode as reference } from '../../support/percent-decode-reference.js';

describe('percentDecode', () => {
  it('decodes the known spellings', () => {
    expect(percentDecode('/%c0%ae%c0%ae/%C0%AF/etc/passwd')).toBe('/..///etc/passwd');
    expect(percentDecode('/%e0%80%ae%E0%80%AE/x')).toBe('/../x');
    expect(percentDecode('/%u002e%U002E/%uff0e%zz')).toBe('/../.%zz');
    expect(percentDecode('/%c1%9c%c1%1c%2')).toBe('/\\\u00c1\x1c%2');
    expect(percentDecode('/a%20b%zz+c', true)).toBe('/a b%zz c');
    expect(percentDecode('/caf%C3%A9')).toBe('/café');
    expect(percentDecode('/caf%E9')).toBe('/caf\u00e9');
  });

  it('agrees with the regex it replaced on 200,000 random strings of escape characters', () => {
    const rand = prng(20261205);
    const alphabet = ['%', '%', '%', 'c', 'C', '0', '1', 'e', 'E', '8', '9', 'a', 'A', 'b', 'B', 'f', 'F', 'u', 'U', 'z', '/', '.', '+', '\x10', '\x19', 'ÿ', 'é'];
    for (let k = 0; k < 200_000; k++) {
      const n = 1 + Math.floor(rand() * 24);
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)]!;
      const query = k % 3 === 0;
      const want = reference(s, query);
      const got = percentDecode(s, query);
      if (got !== want) expect({ s, query, got }).toEqual({ s, query, got: want });
    }
  });

  it('decodes a client\'s 8 KB of escapes that decodeURIComponent refuses as the regex did', () => {
    const s = '/' + '%2e/%zz'.repeat(1100) + '%c0%ae%u002e%e0%80%ae%4';
    expect(percentDecode(s)).toBe(reference(s));
  });
});
