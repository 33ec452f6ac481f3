/**
 * H21: an agent killed (SIGKILL) at any point of writing the SDBM map leaves Apache a complete
 * version: `current` always resolves to a directory with all three files, and APR's own sdbm reads
 * every ban of one whole list from it (the writer alternates two lists, A and B, so a version is
 * either all of A or all of B; a half-written one would be neither). The next start (init) leaves
 * only the current version: no leftover version directory or temp link piles up over restarts.
 * The writer is a child process (node with tsx's loader) looping over writes; it is killed 8 times at random moments.
 * APR is read through a small C program (as apr-reader.test.ts); without gcc or the APR headers the
 * file is skipped, saying why.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdbmMap } from '../../../src/enforce/apache-map.js';
import { APR_SKIP, buildAprReader } from './apr-oracle.js';

/** tsx as a loader in the writer's own node process (the tsx CLI runs a second one: SIGKILL must reach the writer). */
const TSX = resolve('node_modules/tsx/dist/esm/index.mjs');
const skip = APR_SKIP ?? (!existsSync(TSX) ? 'tsx missing' : null);

const PRESENCE_READER_C = String.raw`
#include <apr_general.h>
#include <apr_dbm.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  apr_pool_t *p; apr_dbm_t *db; char line[256];
  apr_initialize(); apr_pool_create(&p, NULL);
  if (apr_dbm_open_ex(&db, "sdbm", argv[1], APR_DBM_READONLY, APR_OS_DEFAULT, p) != APR_SUCCESS) return 2;
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strlen(line); if (n && line[n-1] == '\n') line[--n] = 0;
    apr_datum_t k, v; k.dptr = line; k.dsize = n;
    if (apr_dbm_fetch(db, k, &v) != APR_SUCCESS) { puts("!"); continue; }
    puts(v.dptr == NULL ? "-" : "+");
  }
  return 0;
}
`;

/** List A: 2001:db8:a::<i>; list B: 2001:db8:b::<i>. */
const list = (tag: 'a' | 'b', n: number): string[] => Array.from({ length: n }, (_, i) => `2001:db8:${tag}::${(i + 1).toString(16)}`);
const N = 20_000;

const WRITER = (src: string, mapPath: string): string => `
import { SdbmMap } from ${JSON.stringify(src)};
const m = new SdbmMap(${JSON.stringify(mapPath)});
await m.init();
const mk = (tag) => Array.from({ length: ${N} }, (_, i) => ({ ip: \`2001:db8:\${tag}::\${(i + 1).toString(16)}\`, family: 6, until: null })).sort((x, y) => (x.ip < y.ip ? -1 : 1));
const A = mk('a'), B = mk('b');
process.stdout.write('ready\\n');
for (let i = 0; i < 100000; i++) await m.write(i % 2 ? B : A, Date.now());
`;

describe.skipIf(skip !== null)(`apache-map: a writer killed mid-write leaves a complete SDBM version${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let reader: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-killed-'));
    reader = await buildAprReader(dir, PRESENCE_READER_C);
  }, 40_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('8 kills at random moments: current is always one whole list; the next start cleans up', async () => {
    const mapPath = join(dir, 'banned.map');
    const script = join(dir, 'writer.mts');
    await writeFile(script, WRITER(resolve('src/enforce/apache-map.ts'), mapPath));
    const A = list('a', N);
    const B = list('b', N);
    const sample = (xs: string[]): string[] => xs.filter((_, i) => i % 97 === 0);
    let wholeLists = 0;
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--import', pathToFileURL(TSX).href, script], { stdio: ['ignore', 'pipe', 'pipe'] });
      const gone = new Promise((r) => child.once('exit', r));
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`writer not ready: ${err}`)), 15_000);
        child.stdout!.once('data', () => (clearTimeout(t), res()));
      });
      await new Promise((r) => setTimeout(r, 30 + Math.floor(Math.random() * 400)));
      child.kill('SIGKILL');
      await gone;

      const name = await readlink(join(`${mapPath}.sdbm`, 'current'));
      for (const f of ['map.dir', 'map.pag', 'overflow.map']) expect((await stat(join(`${mapPath}.sdbm`, name, f))).isFile()).toBe(true);
      const keys = [...sample(A), ...sample(B)];
      const got = execFileSync(reader, [join(`${mapPath}.sdbm`, 'current', 'map')], { input: keys.join('\n') + '\n', timeout: 10_000 }).toString().split('\n').slice(0, keys.length);
      const hitsA = got.slice(0, sample(A).length);
      const hitsB = got.slice(sample(A).length);
      const whole = (hs: string[], want: string): boolean => hs.every((h) => h === want);
      // Round 0 may find the empty map init wrote (no writes finished yet); otherwise A or B whole.
      const empty = whole(hitsA, '-') && whole(hitsB, '-');
      expect(empty || (whole(hitsA, '+') && whole(hitsB, '-')) || (whole(hitsA, '-') && whole(hitsB, '+'))).toBe(true);
      if (!empty) wholeLists++;
    }
    expect(wholeLists).toBeGreaterThan(0); // the kills did land among finished writes
    // The next start leaves the current version alone and removes everything else.
    const current = await readlink(join(`${mapPath}.sdbm`, 'current'));
    await new SdbmMap(mapPath).init();
    expect(await readlink(join(`${mapPath}.sdbm`, 'current'))).toBe(current);
    expect((await readdir(`${mapPath}.sdbm`)).filter((n) => n !== 'current' && n !== current && !n.startsWith(`.current.tmp-${process.pid}-`))).toEqual([]);
  }, 60_000);
});
