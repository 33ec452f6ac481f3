/**
 * H21: the SDBM map on a file system that keeps whole-second mtimes (ext4 made with 128-byte
 * inodes, as old mke2fs did for small file systems; ext3 too). mod_rewrite notices a new version
 * only by a new mtime, so each version's is set past the last one's, and checked; with a
 * millisecond's step that could never succeed within the same second: every write but the first
 * of each second failed ("could not move the files' mtime forward"), each ban waiting for a retry.
 * Here six writes in a row all succeed, each version's mtime past the one before.
 * The file system is a loop-mounted image in a private mount namespace (unshare -m) that dies with
 * the command; root, unshare, losetup-capable mount and mkfs.ext4 are needed, or the file is
 * skipped, saying why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MKFS = ['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4'].find(existsSync);
const TSX = resolve('node_modules/tsx/dist/esm/index.mjs');
const skip =
  process.getuid?.() !== 0 ? 'needs root (mount)' : MKFS === undefined ? 'mkfs.ext4 not installed' : !existsSync('/usr/bin/unshare') ? 'unshare not installed' : !existsSync('/dev/loop-control') ? 'no loop devices' : null;

const SCRIPT = (src: string, mapPath: string): string => `
import { stat } from 'node:fs/promises';
import { SdbmMap } from ${JSON.stringify(src)};
const m = new SdbmMap(${JSON.stringify(mapPath)});
await m.init();
const out = { ok: 0, errors: [], mtimes: [] };
for (let i = 0; i < 6; i++) {
  try {
    await m.write([{ ip: '2001:db8::' + (i + 1).toString(16), family: 6, until: null }], Date.now());
    out.ok++;
    const st = await stat(m.readerPath + '.pag', { bigint: true });
    out.mtimes.push(String(st.mtimeNs));
  } catch (e) {
    out.errors.push(String(e && e.message));
  }
}
process.stdout.write(JSON.stringify(out));
`;

describe.skipIf(skip !== null)(`apache-map: SDBM versions on whole-second mtimes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-sdbm-coarse-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('six writes in a row all succeed, each mtime past the one before', async () => {
    const img = join(dir, 'fs.img');
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    execFileSync('truncate', ['-s', '32M', img]);
    execFileSync(MKFS!, ['-q', '-F', '-I', '128', img], { stdio: 'pipe', timeout: 30_000 });
    const script = join(dir, 'writes.mts');
    await writeFile(script, SCRIPT(resolve('src/enforce/apache-map.ts'), join(mnt, 'banned.map')));
    const cmd = `mount -o loop "$1" "$2" || exit 97; "$3" --import "$4" "$5"; rc=$?; umount "$2"; exit $rc`;
    const out = execFileSync('unshare', ['-m', 'sh', '-c', cmd, 'sh', img, mnt, process.execPath, pathToFileURL(TSX).href, script], { timeout: 60_000 }).toString();
    const r = JSON.parse(out) as { ok: number; errors: string[]; mtimes: string[] };
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(6);
    const ns = r.mtimes.map(BigInt);
    expect(ns.every((t) => t % 1_000_000_000n === 0n)).toBe(true); // the file system keeps whole seconds
    for (let i = 1; i < ns.length; i++) expect(ns[i]! > ns[i - 1]!).toBe(true);
  }, 60_000);
});
