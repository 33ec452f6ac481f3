/**
 * X-Forwarded-For for real (issue 13): the built CLI replays a 17 MB nginx `main` log, which it reads
 * on several worker threads; each worker gets trusted_proxies from the environment, so the client a
 * trusted proxy names is banned, a spoofed header from an untrusted peer bans that peer, and no
 * trusted proxy is ever banned, whichever worker read the line.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../bin/banhammer.js');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
function clf(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const main = (peer: string, xff: string, t: number, status = 403) =>
  `${peer} - - [${clf(t)}] "GET /private HTTP/1.1" ${status} 10 "-" "Mozilla/5.0 (X11; Linux x86_64)" "${xff}"`;

const dir = mkdtempSync(join(tmpdir(), 'bh-xff-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay of an nginx main log behind a trusted proxy (built CLI, parallel workers)', () => {
  it('bans the forwarded client and the spoofing peer, never the proxy', async () => {
    const lines: string[] = [];
    const burst = (t: number) => {
      for (let i = 0; i < 5; i++) {
        lines.push(main('198.19.255.10', '198.18.6.66, 198.18.6.1', t + i * 1000)); // forwarded by the trusted proxy
        lines.push(main('198.18.6.2', '198.18.6.3', t + i * 1000)); // spoofed header from an untrusted peer
        lines.push(main('198.19.255.11', '198.19.255.12', t + i * 1000)); // the proxies' own failures
      }
    };
    burst(T0);
    // 150,000 lines of ordinary traffic (about 17 MB, more than replay's 16 MiB threshold for threads).
    for (let i = 0; i < 150_000; i++) lines.push(main('198.19.255.10', `198.18.${10 + (i % 200)}.${1 + (i % 250)}`, T0 + 10_000 + i, 200));
    burst(T0 + 2 * 3_600_000); // after the first bans expired (1 h), read by another worker
    lines.push(main('198.19.255.10', '198.18.6.1, unknown', T0 + 3 * 3_600_000)); // a garbled chain: counted as a skip
    const path = join(dir, 'access.log');
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(statSync(path).size).toBeGreaterThan(16 << 20); // replay's threshold for worker threads

    const { stdout } = await run(process.execPath, [BIN, 'replay', path, '--json'], {
      env: { ...process.env, BANHAMMER_TRUSTED_PROXIES: '198.19.255.0/24', BANHAMMER_LOG_FORMAT: 'auto' },
      timeout: 120_000,
      maxBuffer: 16 << 20,
    });
    const r = JSON.parse(stdout) as { lines: number; parsed: number; skipped: number; bans: { ip: string; rule: string }[] };
    expect(r.lines).toBe(lines.length);
    expect(r.skipped).toBe(1);
    expect(r.bans.map((b) => b.ip).sort()).toEqual(['198.18.6.1', '198.18.6.1', '198.18.6.2', '198.18.6.2']);
  }, 150_000);
});
