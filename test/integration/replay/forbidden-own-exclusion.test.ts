/**
 * The README's advice for sites whose hotlink protection answers 403 to images embedded elsewhere:
 * `forbidden` counts every 403 (the seed's rule), and a configuration file may give it a `none_of`
 * of its own. The built CLI replays a reader's burst of image 403s and a walk of protected pages,
 * with and without that configuration.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../bin/banhammer.js');
const dir = mkdtempSync(join(tmpdir(), 'bh-hotlink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (ip: string, s: number, path: string, referer: string) =>
  `${ip} - - [02/Dec/2026:10:00:${String(s).padStart(2, '0')} +0000] "GET ${path} HTTP/1.1" 403 199 "${referer}" "Mozilla/5.0 (X11; Linux x86_64)"`;

describe('forbidden with an exclusion of the site\'s own (README, "On by default")', () => {
  it('counts every 403 by default; with none_of image paths the reader is not banned and the walk still is', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 8; i++) lines.push(line('198.18.9.1', i, `/wp-content/uploads/${i}.${['png', 'jpg', 'gif', 'webp'][i % 4]}`, 'https://forum.example.test/t/1'));
    for (let i = 0; i < 6; i++) lines.push(line('198.18.9.2', i, `/admin/${i}`, '-'));
    const log = join(dir, 'access.log');
    writeFileSync(log, `${lines.join('\n')}\n`);
    const config = join(dir, 'banhammer.yaml');
    writeFileSync(config, "rules:\n  forbidden:\n    match:\n      status: [403]\n      none_of: [{ paths: ['\\.(?:png|jpe?g|gif|webp)$'] }]\n");
    const banned = async (env: Record<string, string>) => {
      const { stdout } = await run(process.execPath, [BIN, 'replay', '--json', log], { env: { PATH: process.env.PATH ?? '', ...env } });
      return (JSON.parse(stdout) as { bans: { ip: string; rule: string }[] }).bans.map((b) => `${b.ip} ${b.rule}`).sort();
    };
    expect(await banned({})).toEqual(['198.18.9.1 forbidden', '198.18.9.2 forbidden']);
    expect(await banned({ BANHAMMER_CONFIG: config })).toEqual(['198.18.9.2 forbidden']);
  });
});
