import { describe, expect, it } from 'vitest';
import { unwrapDockerJson, unwrapDockerJsonHead } from '../../../src/parse/docker-json.js';
import { looksLikeSyslog, parseSyslogFrame } from '../../../src/parse/syslog.js';

describe('unwrapDockerJson', () => {
  it('returns the log string without its newline, unescaped', () => {
    expect(unwrapDockerJson('{"log":"a \\"b\\" \\u003cc\\u003e \\\\d\\n","stream":"stdout","time":"t"}')).toBe('a "b" <c> \\d');
    expect(unwrapDockerJson('{"log":"x\\r\\n"}')).toBe('x');
    expect(unwrapDockerJson('{"time":"t","log":"y\\n"}')).toBe('y');
    expect(unwrapDockerJson('{"log":"partial"}')).toBe('partial');
  });

  it.each(['{', '{"log":"x', '{"log":1}', '[1]', 'null', '{"log":"x"  trailing', '{"log":"\\q"}'])('rejects %j', (s) => {
    expect(unwrapDockerJson(s)).toBeNull();
  });
});

describe('unwrapDockerJsonHead', () => {
  const rng = (seed: number) => () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);

  it('decodes exactly what JSON.parse does, and every cut of a record to a prefix of it', () => {
    const r = rng(9);
    const alphabet = ['a', ' ', '"', '\\', '/', '\n', '\r', '\t', '\u0001', '\u007f', '<', '&', 'é', '€', '😀', '\ud800', '\b', '\f'];
    for (let i = 0; i < 400; i++) {
      let text = '';
      const n = Math.floor(r() * 60);
      for (let k = 0; k < n; k++) text += alphabet[Math.floor(r() * alphabet.length)]!;
      let lit = JSON.stringify(`${text}\n`);
      if (i % 2 === 0) lit = lit.replaceAll('<', '\\u003c').replaceAll('&', '\\u0026').replaceAll('/', '\\/');
      const rec = `{"log":${lit},"stream":"stdout"}`;
      const want = (JSON.parse(lit) as string).replace(/\r?\n$/, '');
      expect(unwrapDockerJsonHead(rec, 1000), rec).toEqual({ text: want, cut: false, partial: false });
      // Without its newline, a short record is still a line; a 16 KiB one is a piece of a longer line.
      const short = `{"log":${JSON.stringify(text)},"stream":"stdout"}`;
      expect(unwrapDockerJsonHead(short, 1000), short).toEqual({ text: text.replace(/\n$/, '').replace(/\r$/, ''), cut: false, partial: false });
      const long = text.repeat(Math.ceil(16_384 / Math.max(1, text.length)));
      const piece = `{"log":${JSON.stringify(long)},"stream":"stdout"}`;
      expect(unwrapDockerJsonHead(piece, 100_000)!.partial, piece.slice(0, 100)).toBe(long.length >= 5462 && !long.endsWith('\n'));
      expect(unwrapDockerJson(rec), rec).toBe(want);
      for (let c = 8; c < 8 + lit.length - 1; c++) {
        const h = unwrapDockerJsonHead(rec.slice(0, c), 1000);
        expect(h, rec.slice(0, c)).not.toBeNull();
        expect(`${text}\n`.startsWith(h!.text), rec.slice(0, c)).toBe(true);
        expect(h!.cut).toBe(true);
      }
    }
  });

  it('reads no further than the head, and says so', () => {
    const rec = `{"log":${JSON.stringify(`${'x'.repeat(500)}\n`)}}`;
    expect(unwrapDockerJsonHead(rec, 100)).toEqual({ text: 'x'.repeat(101), cut: true, partial: false });
    expect(unwrapDockerJsonHead(rec, 499)).toEqual({ text: 'x'.repeat(500), cut: true, partial: false });
    expect(unwrapDockerJsonHead(rec, 501)).toEqual({ text: 'x'.repeat(500), cut: false, partial: false });
    // A long piece of a split line says it is one, even when only its head is decoded.
    const x = 'x'.repeat(16_384);
    const piece = `{"log":${JSON.stringify(x)}}`;
    expect(unwrapDockerJsonHead(piece, 100)).toEqual({ text: 'x'.repeat(101), cut: true, partial: true });
    expect(unwrapDockerJsonHead(`{"time":"t","log":"${x}"}`, 100)).toEqual({ text: x, cut: false, partial: true });
    expect(unwrapDockerJsonHead(`{"time":"t","log":"${x}\\n"}`, 100)).toEqual({ text: x, cut: false, partial: false });
    expect(unwrapDockerJsonHead('{"log":"abc"}', 100)).toEqual({ text: 'abc', cut: false, partial: false });
    // `\\n` is a backslash and an n, not a newline; `\\\n` ends with one.
    expect(unwrapDockerJsonHead(`{"log":"${x}\\\\n"}`, 20_000)).toEqual({ text: `${x}\\n`, cut: false, partial: true });
    expect(unwrapDockerJsonHead(`{"log":"${x}\\\\\\n"}`, 20_000)).toEqual({ text: `${x}\\`, cut: false, partial: false });
  });

  it.each([
    '{"log":"a\\q',
    '{"log":"a\\u12G4',
    '{"log":"a\u0001b',
    '{"log":"a" x',
    '{"log":"a"x}',
    '{"log":"a\\',
  ])('%j: null, or a cut head that is still a prefix', (s) => {
    const h = unwrapDockerJsonHead(s, 1000);
    if (s.endsWith('\\')) expect(h).toEqual({ text: 'a', cut: true, partial: false });
    else expect(h).toBeNull();
  });
});

describe('syslog framing', () => {
  const msg = (line: string) => {
    const f = parseSyslogFrame(line, 0, line.length);
    return f === null ? null : { msg: line.slice(f.msgStart), tag: f.tag };
  };

  it('finds the message and the tag in every supported header', () => {
    expect(msg('<30>Nov 23 09:35:48 web[1]: M')).toEqual({ msg: 'M', tag: 'web' });
    expect(msg('<30>Nov 23 09:35:48 host web[1]: M')).toEqual({ msg: 'M', tag: 'web' });
    expect(msg('Nov  3 09:35:48 host web: M')).toEqual({ msg: 'M', tag: 'web' });
    expect(msg('Nov 3 09:35:48 web: M')).toEqual({ msg: 'M', tag: 'web' });
    expect(msg('2026-11-23T09:35:48+01:00 host app/x[9]: M N')).toEqual({ msg: 'M N', tag: 'app/x' });
    expect(msg('<165>1 2026-11-23T09:35:48.003Z host app 12 ID47 - M')).toEqual({ msg: 'M', tag: 'app' });
    expect(msg('<165>1 2026-11-23T09:35:48.003Z host app 12 ID47 [a b="]\\"]"][c] \uFEFFM')).toEqual({ msg: 'M', tag: 'app' });
    expect(msg('<165>1 2026-11-23T09:35:48.003Z host - - - -')).toEqual({ msg: '', tag: undefined });
  });

  it.each([
    '<192>Nov 23 09:35:48 web[1]: M',
    '<>Nov 23 09:35:48 web[1]: M',
    '<1234>Nov 23 09:35:48 web[1]: M',
    '<30>0 2026-11-23T09:35:48Z h a p m - M',
    '<30>1 2026-11-23T09:35:48Z h a p',
    '<30>1 2026-11-23T09:35:48Z h a p m x M',
    '<30>1 2026-11-23T09:35:48Z h a p m [unterminated',
    'Nov 23 9:35:48 web: M',
    'Nov 23 09:35:48 host tag msg',
    'Foo 23 09:35:48 web: M',
  ])('rejects %j', (s) => {
    expect(parseSyslogFrame(s, 0, s.length)).toBeNull();
  });

  it('looksLikeSyslog tells syslog headers from access lines', () => {
    for (const s of ['<30>x', 'Nov 23 x', '2026-11-23T09:35:48Z x']) expect(looksLikeSyslog(s), s).toBe(true);
    for (const s of ['198.18.0.1 - -', '2001:db8::1 - -', 'www.example.org:443 1.2.3.4', '{"log"', 'Novel 1', '<x>']) {
      expect(looksLikeSyslog(s), s).toBe(false);
    }
  });
});

describe('a Docker record broken past the first decode (review: helper)', () => {
  it('is a bad-wrapper skip, never a throw, in docker-json and auto', async () => {
    const { createLineParser } = await import('../../../src/parse/line-parser.js');
    // A raw TAB (Docker never writes one) after 16 KiB of a record that ends as if split: the short
    // first decode sees a partial record, the long one a broken record.
    const record = `{"log":"${'y'.repeat(16384)}\t","stream":"stdout","time":"2026-12-02T10:00:00Z"}`;
    for (const format of ['docker-json', 'auto'] as const) {
      const parse = createLineParser(format);
      expect(() => parse(record)).not.toThrow();
      expect(parse(record)).toBe('bad-wrapper');
      // And the parser goes on reading the next record as usual.
      const next = parse('{"log":"198.18.0.1 - - [02/Dec/2026:10:00:00 +0000] \\"GET / HTTP/1.1\\" 403 1 \\"-\\" \\"x\\"\\n","stream":"stdout","time":"2026-12-02T10:00:00Z"}');
      expect(typeof next === 'object' && next !== null && next.ip).toBe('198.18.0.1');
    }
  });
});
