/**
 * X-Forwarded-For through the pipeline (issue 13): the trusted_proxies setting reaches the parser, so
 * a failure forwarded by a trusted proxy bans the client it names, while the same header from any
 * other peer is ignored and the peer itself is banned. Live, replay and replay's workers agree.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { replayFile } from '../../../src/replay/replay.js';
import { scanSpan } from '../../../src/replay/scan-span.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
/** nginx main: combined plus "$http_x_forwarded_for". */
const main = (peer: string, xff: string, t: number) => `${peer} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8.5.0" "${xff}"`;
/** $proxy_add_x_forwarded_for as the first field. */
const first = (list: string, t: number) => `${list} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8.5.0"`;

const config = () => loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: '198.19.255.0/24' }, hostname: 'unit' });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Feeds lines to a live pipeline; returns the banned addresses in order. */
function liveBans(lines: readonly string[]): string[] {
  const bans: string[] = [];
  const p = new Pipeline({ config: config(), mode: 'live', hostAddresses: [], onBan: (b) => bans.push(b.ip) });
  for (let i = 0; i < lines.length; i++) {
    const ev = p.parse(lines[i]!, '/log');
    if (ev !== null) p.observe(ev, T0 + i * 1000);
  }
  return bans;
}

const five = (f: (t: number) => string) => Array.from({ length: 5 }, (_, i) => f(T0 + i * 1000));

describe('X-Forwarded-For in the pipeline', () => {
  it('a trusted proxy forwarding five failures bans the client it names, never the proxy', () => {
    expect(liveBans(five((t) => main('198.19.255.10', '198.18.5.66, 198.18.5.7', t)))).toEqual(['198.18.5.7']);
    expect(liveBans(five((t) => first('198.18.5.66, 198.18.5.7, 198.19.255.10', t)))).toEqual(['198.18.5.7']);
  });

  it('the same header from an untrusted peer is ignored: the peer is banned, not whom it names', () => {
    expect(liveBans(five((t) => main('198.18.5.9', '198.18.5.7', t)))).toEqual(['198.18.5.9']);
  });

  it('a trusted proxy sending its own failures (no header, or an all-trusted chain) bans no one', () => {
    expect(liveBans(five((t) => main('198.19.255.10', '-', t)))).toEqual([]);
    expect(liveBans(five((t) => main('198.19.255.10', '198.19.255.11', t)))).toEqual([]);
  });

  it('the parser stats count a malformed forwarded list as bad-forwarded', () => {
    const p = new Pipeline({ config: config(), mode: 'live', hostAddresses: [] });
    expect(p.parse(main('198.19.255.10', '198.18.5.7, unknown', T0), '/log')).toBeNull();
    expect(p.stats.skipped['bad-forwarded']).toBe(1);
  });

  it('replay bans the same clients, and a parallel replay worker reads the same addresses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-xff-'));
    dirs.push(dir);
    const lines: string[] = [];
    for (let i = 0; i < 5; i++) lines.push(main('198.19.255.10', '198.18.6.1', T0 + i * 1000), main('198.18.6.2', '198.18.6.3', T0 + i * 1000));
    const path = join(dir, 'access.log');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const r = await replayFile(path, config(), {});
    expect(r.bans.map((b) => b.ip).sort()).toEqual(['198.18.6.1', '198.18.6.2']);
    // What a worker of a parallel replay runs (workers only exist in the built bundle).
    const c = config();
    const span = await scanSpan({
      path, from: 0, to: statSync(path).size, format: c.log.format, trustedProxies: c.trustedProxies, rules: [['forbidden', c.rules.forbidden!]],
    });
    expect(span.count).toBe(10);
    expect(new Set(Array.from(span.ipIds.subarray(0, span.count), (id) => span.ips[id]))).toEqual(new Set(['198.18.6.1', '198.18.6.2']));
  });
});
