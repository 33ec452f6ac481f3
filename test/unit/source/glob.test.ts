import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandGlob, hasMagic, matchesGlob, segmentRegExp } from '../../../src/source/glob.js';

describe('segmentRegExp', () => {
  it.each([
    ['*access.log', 'access.log', true],
    ['*access.log', 'other_vhosts_access.log', true],
    ['*access.log', 'access.log.1', false],
    ['*.log', '.hidden.log', false],
    ['.*.log', '.hidden.log', true],
    ['access.log.?', 'access.log.1', true],
    ['access.log.?', 'access.log.12', false],
    ['[ab]*.log', 'b.log', true],
    ['[!ab]*.log', 'b.log', false],
    ['[!ab]*.log', 'c.log', true],
    ['a+b(c).log', 'a+b(c).log', true],
    ['a.log', 'aXlog', false],
  ])('%s vs %s → %s', (pattern, name, want) => {
    expect(segmentRegExp(pattern).test(name)).toBe(want);
  });

  it('hasMagic', () => {
    expect(hasMagic('/var/log/apache2/access.log')).toBe(false);
    expect(hasMagic('/var/lib/docker/containers/*/*-json.log')).toBe(true);
  });
});

describe('expandGlob', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bh-glob-'));
    for (const c of ['c1', 'c2', 'c3']) await mkdir(join(root, 'containers', c), { recursive: true });
    await writeFile(join(root, 'containers', 'c1', 'c1-json.log'), '');
    await writeFile(join(root, 'containers', 'c2', 'c2-json.log'), '');
    await writeFile(join(root, 'containers', 'c2', 'config.v2.json'), '');
    await mkdir(join(root, 'containers', 'c3', 'dir-json.log'));
    await writeFile(join(root, 'access.log'), '');
    await symlink(join(root, 'access.log'), join(root, 'link-access.log'));
    await symlink(join(root, 'nowhere'), join(root, 'dangling-access.log'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('matches files across wildcard directories and reports the directories read', async () => {
    const r = await expandGlob(join(root, 'containers', '*', '*-json.log'));
    expect(r.files).toEqual([join(root, 'containers/c1/c1-json.log'), join(root, 'containers/c2/c2-json.log')]);
    expect(r.dirs).toEqual([join(root, 'containers'), join(root, 'containers/c1'), join(root, 'containers/c2'), join(root, 'containers/c3')]);
    // The directory named like a log is not a match to follow, but it is reported with its type.
    expect(r.refused).toEqual([{ path: join(root, 'containers/c3/dir-json.log'), type: 'directory' }]);
  });

  it('follows symlinks to files and skips dangling ones', async () => {
    const r = await expandGlob(join(root, '*access.log'));
    expect(r.files).toEqual([join(root, 'access.log'), join(root, 'link-access.log')]);
  });

  it('returns nothing (and no error) for a missing directory', async () => {
    expect(await expandGlob(join(root, 'missing', '*.log'))).toEqual({ files: [], dirs: [], refused: [] });
  });

  it('lists a FIFO and a socket that match apart, with their type, never as files (and does not block on them)', async () => {
    const d = join(root, 'special');
    await mkdir(d);
    await writeFile(join(d, 'a.log'), '');
    execFileSync('mkfifo', [join(d, 'fifo.log')]);
    const server = createServer();
    await new Promise<void>((ok) => server.listen(join(d, 'sock.log'), ok));
    try {
      const r = await expandGlob(join(d, '*.log'));
      expect(r.files).toEqual([join(d, 'a.log')]);
      expect(r.refused).toEqual([
        { path: join(d, 'fifo.log'), type: 'FIFO (named pipe)' },
        { path: join(d, 'sock.log'), type: 'socket' },
      ]);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('matchesGlob compares segment by segment', () => {
    expect(matchesGlob('/var/log/*/access.log', '/var/log/apache2/access.log')).toBe(true);
    expect(matchesGlob('/var/log/*/access.log', '/var/log/a/b/access.log')).toBe(false);
    expect(matchesGlob('/var/log/*.log', '/var/log/x.txt')).toBe(false);
  });
});
