/**
 * Issue 5, round 5: apache-map gives an unchanged map a new mtime every CACHE_REFRESH_MS (so that
 * mod_rewrite's per-child lookup cache starts afresh; with a real Apache: apache-proxy.test.ts).
 * Here, on real files: what the touch does and does not do.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer, CACHE_REFRESH_MS } from '../../../src/enforce/apache-map.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { NginxMapEnforcer } from '../../../src/enforce/nginx-map.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const book: EnforcerBan[] = [{ ip: '198.18.0.7', family: 4, until: null }];
const mtime = async (p: string) => (await stat(p, { bigint: true })).mtimeNs;

describe('apache-map: a new map version at least every CACHE_REFRESH_MS', () => {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let enf: ApacheMapEnforcer;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-p5-refresh-'));
    path = join(dir, 'banned.map');
    clock = new ManualClock(Date.now());
    enf = new ApacheMapEnforcer({ path, clock });
    await enf.init();
    await enf.apply({ ban: book, unban: [] });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('touches only an unchanged map that old, keeps its content, and moves its mtime by at least a microsecond each time', async () => {
    const text = await readFile(path, 'utf8');
    const m0 = await mtime(path);
    clock.advance(CACHE_REFRESH_MS - 1);
    expect(await enf.check(() => book)).toEqual([]);
    expect(await mtime(path)).toBe(m0);
    const seen = [m0];
    for (let i = 0; i < 5; i++) {
      clock.advance(CACHE_REFRESH_MS);
      expect(await enf.check(() => book)).toEqual([]);
      seen.push(await mtime(path));
      expect(await enf.check(() => book)).toEqual([]); // nothing "changed from outside": the touch is ours
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]! / 1000n).toBeGreaterThan(seen[i - 1]! / 1000n);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('a write is a new version too: no touch within CACHE_REFRESH_MS of the last write', async () => {
    clock.advance(CACHE_REFRESH_MS - 10);
    await enf.apply({ ban: [{ ip: '198.18.0.8', family: 4, until: null }], unban: [] });
    const m = await mtime(path);
    clock.advance(20);
    expect(await enf.check(() => [...book, { ip: '198.18.0.8', family: 4, until: null }])).toEqual([]);
    expect(await mtime(path)).toBe(m);
  });

  it('a map replaced from outside is not touched but rewritten, and reported as before', async () => {
    clock.advance(CACHE_REFRESH_MS);
    await writeFile(path, '# emptied\n');
    expect(await enf.check(() => book)).toEqual([`map file ${path} was changed from outside and was rewritten`]);
    expect(await readFile(path, 'utf8')).toMatch(/^198\.18\.0\.7 \d{14}$/m);
  });

  it('nginx-map is not touched: nginx reads its include only on a reload', async () => {
    const geo = join(dir, 'banned.geo');
    const runner = new RecordingRunner().on('nginx -s reload', { code: 0, stdout: '', stderr: '' });
    const n = new NginxMapEnforcer({ path: geo, runner, clock });
    await n.init();
    await n.apply({ ban: book, unban: [] });
    const m = await mtime(geo);
    clock.advance(10 * CACHE_REFRESH_MS);
    expect(await n.check(() => book)).toEqual([]);
    expect(await mtime(geo)).toBe(m);
    expect(runner.calls).toHaveLength(1);
  });
});
