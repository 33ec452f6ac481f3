import { describe, expect, it } from 'vitest';
import { isBanhammerError } from '../../../src/errors.js';
import { LOG_FORMATS, MAX_HEAD_LENGTH, SKIP_REASONS, isSkip, type LogFormat } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';

const T = '10/Oct/2026:13:55:36 +0000';
const LINE = `198.18.0.7 - - [${T}] "GET /admin HTTP/1.1" 403 199 "https://example.org/" "Mozilla/5.0"`;
const VHOST = `www.example.org:443 198.18.0.8 - - [${T}] "GET / HTTP/1.1" 403 1 "-" "-"`;
const JSONL = `{"log":${JSON.stringify(`${LINE}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`;
const SYSLOG = `<30>Nov 23 09:35:48 web[1]: ${LINE}`;

describe('createLineParser', () => {
  it('rejects an unknown format with a BanhammerError naming it', () => {
    try {
      createLineParser('apache' as LogFormat);
      expect.unreachable();
    } catch (e) {
      expect(isBanhammerError(e) && e.code).toBe('BH_ERR_CONFIG');
      expect((e as Error).message).toContain('"apache"');
      expect(isBanhammerError(e) && e.hint).toContain('apache-combined');
    }
  });

  it('auto detects every shape per line, in any order', () => {
    const p = createLineParser('auto', { origin: 'c1' });
    for (let i = 0; i < 2; i++) {
      expect(p(LINE)).toMatchObject({ ip: '198.18.0.7', status: 403, origin: 'c1', vhost: undefined });
      expect(p(VHOST)).toMatchObject({ ip: '198.18.0.8', vhost: 'www.example.org' });
      expect(p(JSONL)).toMatchObject({ ip: '198.18.0.7', status: 403, origin: 'c1' });
      expect(p(SYSLOG)).toMatchObject({ ip: '198.18.0.7', status: 403, origin: 'web' });
    }
  });

  it('a fixed format reads its own shape and calls other shapes unknown-format', () => {
    const table: [LogFormat, string, string][] = [
      ['apache-combined', VHOST, 'unknown-format'],
      ['apache-combined', JSONL, 'unknown-format'],
      ['apache-combined', SYSLOG, 'unknown-format'],
      ['apache-common', JSONL, 'unknown-format'],
      ['nginx-combined', SYSLOG, 'unknown-format'],
      ['apache-vhost-combined', LINE, 'unknown-format'],
      ['docker-json', LINE, 'unknown-format'],
      ['docker-json', SYSLOG, 'unknown-format'],
      ['syslog', LINE, 'unknown-format'],
      ['syslog', JSONL, 'unknown-format'],
      ['docker-json', '{"log":', 'bad-wrapper'],
      ['syslog', '<300>Nov 23 09:35:48 web[1]: x', 'bad-wrapper'],
    ];
    for (const [format, line, want] of table) expect(createLineParser(format)(line), `${format}: ${line}`).toBe(want);
    expect(createLineParser('apache-vhost-combined')(VHOST)).toMatchObject({ vhost: 'www.example.org', ip: '198.18.0.8' });
    expect(createLineParser('docker-json')(JSONL)).toMatchObject({ ip: '198.18.0.7' });
    expect(createLineParser('syslog')(SYSLOG)).toMatchObject({ origin: 'web' });
  });

  it('\" inside the request never ends it, in Apache and nginx (escape=json) modes alike', () => {
    const line = `198.18.0.9 - - [${T}] "GET /a\\" 200 1 \\"x HTTP/1.1" 404 1 "-" "-"`;
    for (const f of ['auto', 'apache-combined', 'nginx-combined'] as const) {
      expect(createLineParser(f)(line), f).toMatchObject({ status: 404, path: '/a\\" 200 1 \\"x' });
    }
    const nginxDefault = `198.18.0.9 - - [${T}] "GET /a\\x22 200 1 \\x22x HTTP/1.1" 404 1 "-" "-"`;
    expect(createLineParser('nginx-combined')(nginxDefault)).toMatchObject({ status: 404, path: '/a\\x22 200 1 \\x22x' });
  });

  it('length never decides: a huge referer or User-Agent changes nothing, in every format and wrapper', () => {
    const head = `198.18.0.1 - - [${T}] "GET /wp-login.php HTTP/1.1" 403 199 "https://example.org/" "`;
    // 8,190 quotes, as Apache logs them (\"): 16.5 kB, which the old 16 KiB limit skipped.
    for (const ua of ['\\"'.repeat(8190), '\\"'.repeat(200_000), 'A'.repeat(MAX_HEAD_LENGTH), '\\x41'.repeat(70_000)]) {
      const line = `${head}${ua}"`;
      for (const f of ['auto', 'apache-combined', 'nginx-combined'] as const) {
        expect(createLineParser(f)(line), `${f} ${line.length}`).toMatchObject({ ip: '198.18.0.1', status: 403, path: '/wp-login.php' });
        expect(createLineParser(f).range(`x\n${line}\n`, 2, 2 + line.length), `${f} range`).toMatchObject({ status: 403 });
      }
      expect(createLineParser('apache-vhost-combined')(`h:80 ${line}`)).toMatchObject({ ip: '198.18.0.1', status: 403 });
      const json = `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`;
      expect(createLineParser('auto')(json)).toMatchObject({ ip: '198.18.0.1', status: 403 });
      expect(createLineParser('docker-json')(json)).toMatchObject({ ip: '198.18.0.1', status: 403 });
      const sys = `<30>Nov 23 09:35:48 web[1]: ${line}`;
      expect(createLineParser('auto')(sys)).toMatchObject({ ip: '198.18.0.1', status: 403, origin: 'web' });
      expect(createLineParser('syslog')(sys)).toMatchObject({ ip: '198.18.0.1', status: 403 });
    }
  });

  it('a Docker record cut anywhere after the status still counts; cut before it, it is skipped and counted', () => {
    const line = `198.18.0.2 - - [${T}] "GET /a HTTP/1.1" 403 1 "-" "${'\\"'.repeat(1000)}"`;
    const json = `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout","time":"2026-10-10T13:55:36Z"}`;
    const statusEnd = JSON.stringify(line).indexOf('403') + 3;
    for (const f of ['auto', 'docker-json'] as const) {
      const p = createLineParser(f);
      for (let n = 1; n < json.length; n++) {
        const o = p(json.slice(0, n));
        // `{"log":` is 7 characters before the JSON string literal starts.
        if (n > 7 + statusEnd) expect(o, `${f} cut at ${n}`).toMatchObject({ ip: '198.18.0.2', status: 403 });
        else expect(SKIP_REASONS, `${f} cut at ${n}`).toContain(o);
      }
    }
  });

  it('a head that ends before the status is too-long (counted), and one ending on the status digits is not read as one', () => {
    const p = createLineParser('auto');
    // A request line longer than the head: nothing to read, but counted with its reason.
    const long = `198.18.0.3 - - [${T}] "GET /${'a'.repeat(MAX_HEAD_LENGTH)} HTTP/1.1" 403 1 "-" "-"`;
    expect(p(long)).toBe('too-long');
    expect(createLineParser('apache-combined')(long)).toBe('too-long');
    expect(p(`{"log":${JSON.stringify(`${long}\n`)}}`)).toBe('too-long');
    expect(p(`{"log":${JSON.stringify(long).slice(0, -10)}`)).toBe('too-long');
    expect(p(`<30>Nov 23 09:35:48 web[1]: ${long}`)).toBe('too-long');
    // The status right at the edge of the head: `403` then the cut; the real line might say 4031.
    const edge = (pad: number, tail: string) => `198.18.0.3 - - [${T}] "GET /${'a'.repeat(pad)} HTTP/1.1" 403${tail}`;
    const fit = MAX_HEAD_LENGTH - edge(0, '').length;
    expect(p(edge(fit, ''))).toMatchObject({ status: 403 }); // the whole line: it ends there
    expect(p(edge(fit, '1 2 "-" "-"'))).toBe('too-long');
    expect(p(edge(fit - 1, ' 2 "-" "-"'))).toMatchObject({ status: 403 });
    expect(p(edge(fit, ' 2 "-" "-"'))).toBe('too-long');
    // A short cut line is truncated, as before.
    expect(p(edge(10, '').slice(0, -6))).toBe('truncated');
  });

  it('a forged line in the User-Agent never counts, whole or cut, plain or wrapped', () => {
    const forged = `198.18.0.99 - - [${T}] \\"GET / HTTP/1.1\\" 403 1 \\"-\\" \\"-\\"`;
    const line = `198.18.0.4 - - [${T}] "GET / HTTP/1.1" 200 1 "-" "${'\\"'.repeat(70_000)} ${forged}"`;
    const p = createLineParser('auto');
    const wrapped = `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout"}`;
    for (let cut = line.length; cut > line.length - forged.length - 10; cut -= 7) {
      for (const o of [p(line.slice(0, cut)), p(wrapped.slice(0, cut)), p(`<30>Nov 23 09:35:48 web[1]: ${line.slice(0, cut)}`)]) {
        expect(isSkip(o) ? o : { ip: o.ip, status: o.status }).toEqual({ ip: '198.18.0.4', status: 200 });
      }
    }
  });

  it('a line Docker split into 16 KiB records counts once, for its own client, and a forged line at a split never counts', () => {
    /** Docker's json-file driver: records of 16 KiB of the line, the newline only in the last one. */
    const records = (line: string): string[] => {
      const bytes = Buffer.from(`${line}\n`, 'utf8');
      const out: string[] = [];
      for (let i = 0; i < bytes.length; i += 16 * 1024) {
        const piece = bytes.subarray(i, i + 16 * 1024).toString('utf8');
        out.push(`{"log":${JSON.stringify(piece)},"stream":"stdout","time":"2026-10-10T13:55:36.000000001Z"}`);
      }
      return out;
    };
    // The attacker pads the request so that Docker's split falls right before a forged line in their
    // referer; its quotes are the real field delimiters (referer close, User-Agent open).
    const forged = `198.18.0.99 - - [${T}] `;
    const start = `198.18.0.40 - - [${T}] "GET /`;
    const rest = ` HTTP/1.1" 200 1 "`;
    const pad = 16 * 1024 - start.length - rest.length;
    const attack = `${start}${'a'.repeat(pad)}${rest}${forged}" " 403 x"`;
    const recs = records(attack);
    expect(recs.length).toBe(2);
    // Read on its own, the second record is the forged line: what the old parser counted.
    expect(createLineParser('auto')(recs[1]!)).toMatchObject({ ip: '198.18.0.99', status: 403 });
    for (const f of ['auto', 'docker-json'] as const) {
      const p = createLineParser(f);
      const outs = recs.map((r) => p(r, '/var/lib/docker/containers/a/a-json.log'));
      expect(outs[0], f).toMatchObject({ ip: '198.18.0.40', status: 200 });
      expect(outs[1], f).toBe('partial');
      // The next line of the stream is a line of its own again.
      expect(p(JSONL, '/var/lib/docker/containers/a/a-json.log')).toMatchObject({ ip: '198.18.0.7', status: 403 });
    }
  });

  it('a status that Docker pushed into a later record still counts, once, and streams never mix', () => {
    const records = (line: string): string[] => {
      const out: string[] = [];
      const all = `${line}\n`;
      for (let i = 0; i < all.length; i += 16 * 1024) out.push(`{"log":${JSON.stringify(all.slice(i, i + 16 * 1024))},"stream":"stdout"}`);
      return out;
    };
    // 6,000 bytes ≥ 0x80 in the path, each logged as \xhh: the status lands at ~24 kB, in record 2.
    const long = `198.18.0.41 - - [${T}] "GET /${'\\xff'.repeat(6000)} HTTP/1.1" 403 1 "-" "${'A'.repeat(40_000)}"`;
    const a = records(long);
    const b = records(`198.18.0.42 - - [${T}] "GET /b HTTP/1.1" 404 1 "-" "${'B'.repeat(20_000)}"`);
    expect(a.length).toBe(4);
    expect(b.length).toBe(2);
    const p = createLineParser('auto');
    // Interleaved as two files' lines would be; each stream is put back together on its own.
    const outs = [p(a[0]!, 'a'), p(b[0]!, 'b'), p(a[1]!, 'a'), p(a[2]!, 'a'), p(b[1]!, 'b'), p(a[3]!, 'a'), p(LINE, 'a')];
    const events = outs.filter((o) => !isSkip(o)).map((o) => (isSkip(o) ? o : `${o.ip} ${o.status}`));
    expect(events).toEqual(['198.18.0.42 404', '198.18.0.41 403', '198.18.0.7 403']);
    expect(outs.filter((o) => o === 'partial').length).toBe(4);
    // A line of 1 MB: 65 records, one outcome, the rest partial; the head kept stays bounded.
    const huge = records(`198.18.0.43 - - [${T}] "GET /${'a'.repeat(MAX_HEAD_LENGTH + 10)} HTTP/1.1" 403 1 "-" "${'x'.repeat(900_000)}"`);
    const hugeOuts = huge.map((r) => p(r, 'c'));
    expect(hugeOuts.filter((o) => !isSkip(o))).toEqual([]);
    expect(hugeOuts.filter((o) => o === 'too-long').length).toBe(1);
    expect(hugeOuts.filter((o) => o === 'partial').length).toBe(huge.length - 1);
    expect(p(LINE, 'c')).toMatchObject({ ip: '198.18.0.7' });
  });

  it('records without a newline that are not 16 KiB pieces are lines of their own (other producers, a last line)', () => {
    const p = createLineParser('auto');
    const rec = (ip: string) => `{"log":${JSON.stringify(`${ip} - - [${T}] "GET / HTTP/1.1" 403 1 "-" "${'u'.repeat(3000)}"`)}}`;
    const outs = ['198.18.0.51', '198.18.0.52', '198.18.0.53'].map((ip) => p(rec(ip), 'f'));
    expect(outs.map((o) => (isSkip(o) ? o : o.ip))).toEqual(['198.18.0.51', '198.18.0.52', '198.18.0.53']);
  });

  it('skips a UTF-8 BOM and a trailing CR/LF', () => {
    const p = createLineParser('auto');
    expect(p(`\uFEFF${LINE}\r\n`)).toMatchObject({ ip: '198.18.0.7', status: 403 });
    expect(createLineParser('apache-combined')(`\uFEFF${LINE}\n`)).toMatchObject({ ip: '198.18.0.7' });
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

describe('fuzz: never throws, never invents', () => {
  const valid = [LINE, VHOST, JSONL, SYSLOG, `2001:db8::7 - - [${T}] "-" 400 0 "-" "-"`];

  it('random bytes and random printable junk give a SkipReason or a well-formed event', () => {
    const r = rng(1);
    for (const format of LOG_FORMATS) {
      const p = createLineParser(format);
      for (let i = 0; i < 1500; i++) {
        const n = Math.floor(r() * 300);
        let s = '';
        const printable = i % 2 === 0;
        for (let k = 0; k < n; k++) s += String.fromCharCode(printable ? 32 + Math.floor(r() * 95) : Math.floor(r() * 65536));
        const o = p(s);
        if (isSkip(o)) expect(SKIP_REASONS).toContain(o);
        else expect(o.status >= 100 && o.status <= 599 && Number.isFinite(o.time)).toBe(true);
      }
    }
  });

  it('every truncation of a valid line is a skip, or the very same event', () => {
    for (const format of ['auto', 'apache-combined', 'docker-json', 'syslog'] as const) {
      const p = createLineParser(format);
      for (const line of valid) {
        const full = p(line);
        for (let n = 0; n <= line.length; n++) {
          const o = p(line.slice(0, n));
          if (!isSkip(o) && !isSkip(full)) {
            expect({ ip: o.ip, status: o.status, time: o.time }).toEqual({ ip: full.ip, status: full.status, time: full.time });
          }
        }
      }
    }
  });

  it('random single-character mutations of a valid line never throw', () => {
    const r = rng(2);
    const p = createLineParser('auto');
    const junk = ['"', '\\', ' ', '[', ']', '\0', '{', '<', ':', '4', '\n', '\uFFFD'];
    for (let i = 0; i < 5000; i++) {
      const base = valid[i % valid.length]!;
      const at = Math.floor(r() * base.length);
      const m = base.slice(0, at) + junk[Math.floor(r() * junk.length)]! + base.slice(at + 1);
      const o = p(m);
      expect(isSkip(o) || (o.status >= 100 && o.status <= 599)).toBe(true);
    }
  });
});
