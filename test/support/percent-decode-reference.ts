/**
 * percentDecode (src/detect/rule.ts) as it was first written, with regex replaces: the reference the
 * one-scan decoder is compared with on random and hostile text (test/unit/detect/percent-decode.test.ts,
 * test/unit/hardening-variants-6/hostile-target-cost.test.ts). decodeURIComponent first; where it refuses
 * the text, each escape byte by byte: overlong UTF-8 forms of ASCII, `%uXXXX` (full-width ASCII read as
 * ASCII) and `%XX`; `+` is a space in a query.
 */
const PERCENT = /%(?:c0%([89ab][0-9a-f])|c1%([89ab][0-9a-f])|e0%80%([89ab][0-9a-f])|u([0-9a-f]{4})|([0-9a-f]{2}))/gi;

function referenceChar(m: string, c0?: string, c1?: string, e0?: string, u?: string, h?: string): string {
  if (h !== undefined) return String.fromCharCode(parseInt(h, 16));
  if (c0 !== undefined) return String.fromCharCode(parseInt(c0, 16) & 0x3f);
  if (c1 !== undefined) return String.fromCharCode(0x40 | (parseInt(c1, 16) & 0x3f));
  if (e0 !== undefined) return String.fromCharCode(parseInt(e0, 16) & 0x3f);
  if (u !== undefined) {
    const code = parseInt(u, 16);
    return String.fromCharCode(code >= 0xff01 && code <= 0xff5e ? code - 0xfee0 : code);
  }
  return m;
}

export function referencePercentDecode(s: string, query = false): string {
  const t = query ? s.replace(/\+/g, ' ') : s;
  try {
    return decodeURIComponent(t);
  } catch {
    return t.replace(PERCENT, referenceChar);
  }
}
