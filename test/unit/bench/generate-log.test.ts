import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { GENERATOR_VERSION, benchLogPath, clfTime, generateLogString, v4For, v6For } from '../../../bench/generate-log.js';
import { canonicalAddress, parseLogTime, referenceFromText } from '../../../bench/reference.js';

const N = 30_000;
const log = generateLogString({ lines: N, seed: 7 });
const lines = log.split('\n').slice(0, -1);

describe('generateLogString', () => {
  it('is deterministic: same seed → same bytes; another seed → other bytes', () => {
    expect(generateLogString({ lines: N, seed: 7 })).toBe(log);
    expect(generateLogString({ lines: 2_000, seed: 8 })).not.toBe(generateLogString({ lines: 2_000, seed: 7 }));
  });

  it('writes exactly the requested number of newline-terminated lines', () => {
    expect(log.endsWith('\n')).toBe(true);
    expect(lines).toHaveLength(N);
    expect(generateLogString({ lines: 1, seed: 7 }).split('\n')).toHaveLength(2);
    expect(generateLogString({ lines: 0, seed: 7 })).toBe('');
  });

  it('advances log time monotonically', () => {
    let last = -Infinity;
    let timed = 0;
    for (const l of lines) {
      const m = /^\S+ \S+ \S+ \[([^\]]+)\]/.exec(l);
      const t = m ? parseLogTime(m[1]!) : null;
      if (t === null) continue;
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
      timed++;
    }
    expect(timed).toBeGreaterThan(N * 0.98);
  });

  it('uses only documentation/benchmark addresses, loopback, and deliberately invalid hosts', () => {
    const allowed = (ip: string): boolean =>
      /^198\.1[89]\./.test(ip) || /^2001:db8:/.test(ip) || ip === '127.0.0.1' || ip === '::1';
    const invalid = new Set(['scanner-7.bad.example', 'crawl-198-18-4-2.example.net', '999.18.1.1', '198.18.1', '2001:db8::g1', '198.18.0.1:8080']);
    for (const l of lines) {
      const m = /^(\S+) \S+ \S+ \[/.exec(l);
      if (!m) continue;
      const raw = m[1]!;
      if (invalid.has(raw)) continue;
      const c = canonicalAddress(raw);
      expect(c, raw).not.toBeNull();
      expect(allowed(c!), raw).toBe(true);
    }
  });

  it('has the promised mix: IPv6, mapped IPv4, many clients, 403 floods that ban, forged lines, junk', () => {
    const first = lines.map((l) => l.split(' ', 1)[0]!);
    expect(first.filter((ip) => isIPv6(ip) && ip.startsWith('2001:db8:')).length).toBeGreaterThan(N * 0.03);
    expect(first.some((ip) => ip.startsWith('::ffff:198.1'))).toBe(true);
    expect(new Set(first.filter((ip) => isIPv4(ip))).size).toBeGreaterThan(800);
    const status = (code: number): number => lines.filter((l) => new RegExp(`^\\S+ \\S+ \\S+ \\[[^\\]]+\\] "(?:[^"\\\\]|\\\\.)*" ${code} `).test(l)).length;
    expect(status(200)).toBeGreaterThan(N * 0.4);
    expect(status(304)).toBeGreaterThan(N * 0.1);
    for (const c of [301, 401, 403, 404]) expect(status(c), String(c)).toBeGreaterThan(0);
    expect(lines.some((l) => /"Mozilla\/5\.0\\" 198\.1[89]\.\S+ - - \[[^\]]+\] \\"GET \S+ HTTP\/1\.1\\" 403 /.test(l))).toBe(true);
    expect(lines.some((l) => /"GET \/x\\" 403 /.test(l))).toBe(true);
    const ref = referenceFromText(log);
    expect(ref.bans.length).toBeGreaterThan(3);
    expect(ref.parsed).toBeLessThan(N);
  });
});

describe('addresses and names', () => {
  it('gives distinct addresses per index', () => {
    const v4 = new Set(Array.from({ length: 120_000 }, (_, i) => v4For(i)));
    expect(v4.size).toBe(120_000);
    const v6 = new Set(Array.from({ length: 5_000 }, (_, i) => v6For(i, i % 2 === 0)));
    expect(v6.size).toBe(5_000);
    for (const ip of v6) expect(canonicalAddress(ip)).toBe(ip);
  });

  it('formats CLF time and names cached logs by version, seed and size', () => {
    expect(clfTime(Date.UTC(2026, 2, 4, 6, 7, 8))).toBe('04/Mar/2026:06:07:08 +0000');
    expect(benchLogPath('/x', 1000, 3)).toBe(`/x/access-v${GENERATOR_VERSION}-s3-n1000.log`);
  });
});
