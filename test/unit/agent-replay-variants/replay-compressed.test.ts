/**
 * Audit of issue 2 (`banhammer replay FILE`: exact bans; an unreadable file is one error line, exit 2).
 * Found by the audit, fixed: a gzip-compressed log (logrotate's default `compress`: access.log.2.gz)
 * replayed as 2 lines of binary junk, exit 0, "Bans: none", no warning, while the same log
 * uncompressed bans 198.18.3.3. Compressed logs are now refused (exit 2, naming the compression and
 * how to pipe them in).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const l = (ip: string, s: number) => `${ip} - - [${clf(T0 + s * 1000)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function replay(file: string) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {}, hostname: 'test', stderrIsTTY: false };
  const code = await main(['replay', file, '--json'], cli);
  return { code, out: out.join(''), err: err.join('') };
}

describe('replay input variants (issue 2)', () => {
  it('a gzip-compressed log is read, or refused with exit 2 naming the compression; never a silent "no bans"', async () => {
    const d = mkdtempSync(join(tmpdir(), 'bh-arv-'));
    dirs.push(d);
    const file = join(d, 'access.log.2.gz');
    writeFileSync(file, gzipSync(Array.from({ length: 6 }, (_, i) => l('198.18.3.3', i)).join('\n') + '\n'));
    const r = await replay(file);
    if (r.code === 0) {
      expect((JSON.parse(r.out) as { bans: { ip: string }[] }).bans.map((b) => b.ip)).toEqual(['198.18.3.3']);
    } else {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/gzip|compress/i);
    }
  });

  it('bzip2, xz and zstd logs are refused the same way, and a log whose host name starts with BZh is read', async () => {
    const d = mkdtempSync(join(tmpdir(), 'bh-arv-'));
    dirs.push(d);
    for (const [name, head] of [['bzip2', Buffer.from('BZh91AY&SY')], ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4])], ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])]] as const) {
      const file = join(d, `access.log.${name}`);
      writeFileSync(file, Buffer.concat([head, Buffer.alloc(64)]));
      const r = await replay(file);
      expect(r.code, name).toBe(2);
      expect(r.err).toContain(`compressed (${name})`);
    }
    const file = join(d, 'vhost.log');
    writeFileSync(file, Array.from({ length: 5 }, (_, i) => `BZhost.example ${l('198.18.3.4', i)}`).join('\n') + '\n');
    const r = await replay(file);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { bans: { ip: string }[] }).bans.map((b) => b.ip)).toEqual(['198.18.3.4']);
  });
});
