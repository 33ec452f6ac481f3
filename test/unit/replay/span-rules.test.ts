/**
 * A replay thread keeps the rules it compiled for the last span (scan-span.ts) and reuses them for
 * the next span with the same rules: a span sent other rules (another replay in the same process)
 * must be matched with those, and two spans scanned at once share the matcher without mixing answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig } from '../../../src/config/load.js';
import { scanSpan, type SpanJob } from '../../../src/replay/scan-span.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const line = (ip: string, path: string, status: number, i: number) =>
  `${ip} - - [02/Dec/2026:12:00:${String(i % 60).padStart(2, '0')} +0000] "GET ${path} HTTP/1.1" ${status} 10 "-" "curl/8.5.0"`;

function logFile(lines: readonly string[]): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-span-'));
  dirs.push(d);
  const p = join(d, 'access.log');
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

const config = loadConfig({ env: {}, hostname: 'unit' });
const job = (path: string, rules: string[]): SpanJob => ({
  path, from: 0, to: statSync(path).size, format: config.log.format, trustedProxies: config.trustedProxies,
  rules: rules.map((r) => [r, { ...config.rules[r]!, enabled: true }] as const),
});

/** The matched rule names of each event of a span result, in order. */
async function matched(j: SpanJob): Promise<string[]> {
  const r = await scanSpan(j);
  const out: string[] = [];
  for (let e = 0; e < r.count; e++) {
    const names: string[] = [];
    for (let i = 0; i < j.rules.length; i++) if ((r.masks[e * r.words + (i >>> 5)]! & (1 << (i & 31))) !== 0) names.push(j.rules[i]![0]);
    out.push(`${r.ips[r.ipIds[e]!]} ${names.join(',')}`);
  }
  return out;
}

describe('scanSpan across spans of other rules', () => {
  const lines = [
    line('198.18.0.1', '/admin', 403, 1),
    line('198.18.0.2', '/missing', 404, 2),
    line('198.18.0.3', '/.env', 404, 3),
    line('198.18.0.4', '/index.html', 200, 4),
    line('198.18.0.5', '/wp-login.php', 401, 5),
  ];

  it('matches each span with the rules it was sent, whatever the span before it had', async () => {
    const path = logFile(lines);
    const a = ['forbidden'];
    const b = ['not-found', 'sensitive-paths', 'unauthorized'];
    const expectA = ['198.18.0.1 forbidden'];
    const expectB = ['198.18.0.2 not-found', '198.18.0.3 not-found,sensitive-paths', '198.18.0.5 unauthorized'];
    expect(await matched(job(path, a))).toEqual(expectA);
    expect(await matched(job(path, b))).toEqual(expectB);
    expect(await matched(job(path, a))).toEqual(expectA);
    // The same names in another order are other rule indices.
    expect(await matched(job(path, [...b].reverse()))).toEqual(['198.18.0.2 not-found', '198.18.0.3 sensitive-paths,not-found', '198.18.0.5 unauthorized']);
    // Two spans at once, each with its own rules, then the same rules at once.
    const [x, y] = await Promise.all([matched(job(path, a)), matched(job(path, b))]);
    expect(x).toEqual(expectA);
    expect(y).toEqual(expectB);
    const [u, v] = await Promise.all([matched(job(path, b)), matched(job(path, b))]);
    expect(u).toEqual(expectB);
    expect(v).toEqual(expectB);
  });

  it('matches a rule whose settings changed under the same name with its new settings', async () => {
    const path = logFile(lines);
    const forbidden = { ...config.rules.forbidden!, enabled: true };
    const j = (status: number[]): SpanJob => ({ ...job(path, []), rules: [['forbidden', { ...forbidden, match: { ...forbidden.match, status } }]] });
    expect(await matched(j([403]))).toEqual(['198.18.0.1 forbidden']);
    expect(await matched(j([404]))).toEqual(['198.18.0.2 forbidden', '198.18.0.3 forbidden']);
  });
});
