import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { MapFile, type MapEntry } from '../../../src/enforce/map-file.js';
import { ManualClock } from '../../fakes/manual-clock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-map-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const errorOf = async (p: Promise<unknown>): Promise<BanhammerError> => {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(BanhammerError);
  return e as BanhammerError;
};
const keys = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(' ')[0]!);

describe('MapFile', () => {
  it('writes mode 0644 whatever the umask, and leaves no temp files', async () => {
    const path = join(dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    const old = process.umask(0o077);
    try {
      await enf.init();
      await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    } finally {
      process.umask(old);
    }
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).sort()).toEqual(['banned.map', 'banned.map.sdbm']); // and the SDBM map Apache reads (apache-map.ts)
  });

  it('is never seen half-written by a concurrent reader', async () => {
    const path = join(dir, 'big.map');
    // A body large enough to need many write() calls; first and last line must agree.
    const render = (entries: readonly MapEntry[]): string => {
      const n = entries.length;
      return `begin ${n}\n${entries.map((e) => `${e.ip} x`).join('\n')}\n${'#'.repeat(200_000)}\nend ${n}\n`;
    };
    const clock = new ManualClock();
    const map = new MapFile({ path, render, clock, owner: 'test' });
    await map.init();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const reader = new Worker(
      `const { readFileSync } = require('node:fs');
       const { workerData, parentPort } = require('node:worker_threads');
       const stop = new Int32Array(workerData.stop);
       let reads = 0, bad = [];
       while (Atomics.load(stop, 0) === 0) {
         let t;
         try { t = readFileSync(workerData.path, 'utf8'); } catch (e) { bad.push(String(e.code)); continue; }
         reads++;
         const m = /^begin (\\d+)\\n/.exec(t);
         if (!m || !t.endsWith('\\nend ' + m[1] + '\\n')) bad.push(t.length);
       }
       parentPort.postMessage({ reads, bad: bad.slice(0, 5), badCount: bad.length });`,
      { eval: true, workerData: { path, stop: stop.buffer } },
    );
    const done = new Promise<{ reads: number; bad: unknown[]; badCount: number }>((resolve, reject) => {
      reader.once('message', resolve);
      reader.once('error', reject);
    });
    try {
      for (let i = 0; i < 150; i++) {
        await map.update({ ban: [{ ip: `198.18.${i >> 8}.${i & 255}`, family: 4, until: null }], unban: [] });
        await map.write();
      }
    } finally {
      Atomics.store(stop, 0, 1);
    }
    const r = await done;
    await reader.terminate();
    expect(r.badCount, JSON.stringify(r.bad)).toBe(0);
    expect(r.reads).toBeGreaterThan(0);
    expect((await readFile(path, 'utf8')).startsWith('begin 150\n')).toBe(true);
  });

  it('a missing directory is a clear error; the bans are kept and written once it exists', async () => {
    const sub = join(dir, 'run');
    const path = join(sub, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    const initErr = await errorOf(enf.init());
    expect(initErr.code).toBe('BH_ERR_FILE');
    expect(initErr.message).toContain(`directory ${sub} does not exist`);

    const e = await errorOf(enf.apply({ ban: [{ ip: '198.18.0.7', family: 4, until: null }], unban: [] }));
    expect(e.code).toBe('BH_ERR_FILE');
    expect(e.message).toContain(path);
    expect(e.hint).toContain(`create ${sub}`);
    expect(e.hint).toContain('1 ban(s) are kept');
    // check() keeps failing loudly while the directory is missing.
    const expected = () => [{ ip: '198.18.0.7', family: 4 as const, until: null }];
    expect((await errorOf(enf.check(expected))).code).toBe('BH_ERR_FILE');

    await mkdir(sub);
    expect(await enf.check(expected)).toEqual([`map file ${path} was rewritten (the last write had failed or was pending)`]);
    expect(keys(await readFile(path, 'utf8'))).toEqual(['198.18.0.7']);
    expect(await enf.check(expected)).toEqual([]);
  });

  it('a path whose directory is a file is reported the same way', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const enf = new ApacheMapEnforcer({ path: join(dir, 'plain', 'banned.map'), clock: new ManualClock() });
    const e = await errorOf(enf.apply({ ban: [{ ip: '198.18.0.7', family: 4, until: null }], unban: [] }));
    expect(e.code).toBe('BH_ERR_FILE');
    expect(e.message).toContain(join(dir, 'plain'));
  });

  it('rejects an invalid address by name and applies the rest', async () => {
    const path = join(dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    const r = await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: null },
        { ip: '198.18.0.1 999', family: 4, until: null },
        { ip: '198.18.0.0/24', family: 4, until: null },
        { ip: '2001:db8::1', family: 6, until: null },
        { ip: '0.0.0.0', family: 4, until: null },
        { ip: '::', family: 6, until: null },
        { ip: '224.0.0.1', family: 4, until: null },
        { ip: '255.255.255.255', family: 4, until: null },
      ],
      unban: [{ ip: 'evil\nline', family: 4 }],
    });
    expect(r.refused.map((x) => `${x.ip}: ${x.reason}`)).toEqual([
      'evil\nline: not a valid IP address',
      '198.18.0.1 999: not a valid IP address',
      '198.18.0.0/24: a network (CIDR) ban is not supported by this enforcer',
      '0.0.0.0: an unspecified address cannot be a client',
      ':: an unspecified address cannot be a client'.replace(' an', ': an'),
      '224.0.0.1: a multicast address cannot be a client',
      '255.255.255.255: the broadcast address cannot be a client',
    ]);
    expect(keys(await readFile(path, 'utf8'))).toEqual(['198.18.0.1', '2001:db8::1']);
  });

  it('stores IPv6 in canonical form, whatever the spelling of ban and unban', async () => {
    const path = join(dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    await enf.apply({
      ban: [
        { ip: '2001:DB8:0:0:0:0:0:9', family: 6, until: null },
        { ip: '::ffff:198.18.0.5', family: 6, until: null },
        { ip: '2001:db8:0:0:1:0:0:1', family: 6, until: null },
        { ip: '::c612:3', family: 6, until: null },
      ],
      unban: [],
    });
    expect(keys(await readFile(path, 'utf8'))).toEqual([
      '198.18.0.5',
      '2001:db8::1:0:0:1',
      '2001:db8::9',
      '::c612:3',
      '::198.18.0.3',
    ]);
    await enf.apply({ ban: [], unban: [{ ip: '2001:0db8::0009', family: 6 }, { ip: '198.18.0.5', family: 4 }] });
    expect(keys(await readFile(path, 'utf8'))).toEqual(['2001:db8::1:0:0:1', '::c612:3', '::198.18.0.3']);
  });

  it('check() re-creates a deleted file and rewrites one replaced from outside', async () => {
    const path = join(dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    const good = await readFile(path, 'utf8');
    const expected = () => [{ ip: '198.18.0.1', family: 4 as const, until: null }];
    expect(await enf.check(expected)).toEqual([]);
    await rm(path);
    expect(await enf.check(expected)).toEqual([`map file ${path} was missing and was re-created`]);
    expect(await readFile(path, 'utf8')).toBe(good);
    await writeFile(path, '198.18.0.99 99991231235959\n');
    expect(await enf.check(expected)).toEqual([`map file ${path} was changed from outside and was rewritten`]);
    expect(await readFile(path, 'utf8')).toBe(good);
  });

  it('check(expected) makes the map hold what the ban book expects: missing bans added, strays dropped, expiries corrected', async () => {
    const path = join(dir, 'banned.map');
    const clock = new ManualClock();
    const enf = new ApacheMapEnforcer({ path, clock });
    await enf.init();
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }, { ip: '198.18.0.9', family: 4, until: null }, { ip: '198.18.0.5', family: 4, until: clock.now() + 5000 }], unban: [] });
    const expected = () => [
      { ip: '198.18.0.1', family: 4 as const, until: null },
      { ip: '198.18.0.2', family: 4 as const, until: clock.now() + 60_000 },
      { ip: '198.18.0.5', family: 4 as const, until: null },
      { ip: '198.18.0.3', family: 4 as const, until: clock.now() - 1 },
      { ip: '0.0.0.0', family: 4 as const, until: null },
    ];
    expect(await enf.check(expected)).toEqual([`map file ${path}: 1 missing ban(s) re-added, 1 entry nobody banned removed, 1 expiry corrected`]);
    const text = await readFile(path, 'utf8');
    expect(keys(text).filter((k) => !k.startsWith('::'))).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.5']);
    expect(text).toContain('198.18.0.5 99991231235959');
    expect(await enf.check(expected)).toEqual([]);
  });

  it('init() keeps a crashed agent\'s file until the list is written; shutdown() empties it and keeps it', async () => {
    const path = join(dir, 'banned.map');
    await writeFile(path, '198.18.0.50 99991231235959\n');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    expect(keys(await readFile(path, 'utf8'))).toEqual(['198.18.0.50']);
    expect((await enf.check(() => [])).length).toBe(1);
    expect(keys(await readFile(path, 'utf8'))).toEqual([]);
    await enf.apply({ ban: [{ ip: '198.18.0.1', family: 4, until: null }], unban: [] });
    await enf.shutdown();
    expect(keys(await readFile(path, 'utf8'))).toEqual([]);
  });

  it('leaves expired bans out of every write', async () => {
    const path = join(dir, 'banned.map');
    const clock = new ManualClock();
    const enf = new ApacheMapEnforcer({ path, clock });
    await enf.init();
    await enf.apply({
      ban: [
        { ip: '198.18.0.1', family: 4, until: clock.now() + 10_000 },
        { ip: '198.18.0.2', family: 4, until: clock.now() + 20_000 },
      ],
      unban: [],
    });
    clock.advance(10_000);
    await enf.apply({ ban: [{ ip: '198.18.0.3', family: 4, until: null }], unban: [] });
    expect(keys(await readFile(path, 'utf8')).filter((k) => !k.startsWith('::'))).toEqual(['198.18.0.2', '198.18.0.3']);
  });
});

describe('MapFile mtime', () => {
  it('every write moves the mtime forward, even within one tick of the file clock (Apache re-reads a txt map only when it changes)', async () => {
    const path = join(dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    let last = (await stat(path, { bigint: true })).mtimeNs;
    for (let i = 1; i <= 20; i++) {
      await enf.apply({ ban: [{ ip: `198.18.0.${i}`, family: 4, until: null }], unban: [] });
      const now = (await stat(path, { bigint: true })).mtimeNs;
      expect(now > last).toBe(true);
      last = now;
    }
    // Also past a file someone else wrote just before.
    await writeFile(path, '# edited\n');
    const edited = (await stat(path, { bigint: true })).mtimeNs;
    expect(await enf.check(() => [])).toHaveLength(2);
    expect((await stat(path, { bigint: true })).mtimeNs > edited).toBe(true);
    expect(await enf.check(() => [])).toEqual([]);
  });

  it('even when the old mtime is a hair under a whole millisecond (utimes takes seconds as a double and lands there half the time)', async () => {
    const path = join(dir, 'rounded.map');
    const enf = new ApacheMapEnforcer({ path, clock: new ManualClock() });
    await enf.init();
    // An old mtime ahead of the clock (so the next write must be moved past it) that a whole
    // millisecond set through utimes turned into one just under that millisecond, as the previous
    // bump of a quick write can leave it: a bump by "its millisecond + 1" lands on it again.
    let before = -1n;
    for (let k = 0; k < 200 && before < 0n; k++) {
      const ms = Date.now() + 60_000 + k;
      await utimes(path, ms / 1000, ms / 1000);
      const got = (await stat(path, { bigint: true })).mtimeNs;
      if (got < BigInt(ms) * 1_000_000n) before = got;
    }
    expect(before).toBeGreaterThan(0n);
    await enf.apply({ ban: [{ ip: '198.18.0.99', family: 4, until: null }], unban: [] });
    expect((await stat(path, { bigint: true })).mtimeNs > before).toBe(true);
  });
});
