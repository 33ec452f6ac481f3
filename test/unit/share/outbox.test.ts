import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxOp } from '../../../src/share/outbox.js';
import { redisClientOptions } from '../../../src/share/redis-share.js';

const NOW = Date.UTC(2026, 0, 1);
const logs: string[] = [];
const log = { info: (_o: object, m?: string) => logs.push(`info ${m}`), warn: (_o: object, m?: string) => logs.push(`warn ${m}`), error: (_o: object, m?: string) => logs.push(`error ${m}`) };
const banOp = (ip: string, until: number | null = NOW + 3_600_000): OutboxOp => ({ t: 'ban', ban: { ip, family: 4, rule: 'r', at: NOW, until, origin: 'me' } });

describe('share outbox', () => {
  let dir: string;
  // Every outbox's writes are awaited before its directory goes: a save still in flight would make
  // the directory again (the outbox creates its parent) and leave it behind in /tmp.
  const made: Outbox[] = [];
  const track = (o: Outbox): Outbox => {
    made.push(o);
    return o;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-outbox-'));
    logs.length = 0;
  });
  afterEach(async () => {
    for (const o of made.splice(0)) await o.flush();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the latest operation per address, at most max, oldest dropped first', () => {
    const o = track(new Outbox(join(dir, 'o.json'), 3, log, () => NOW));
    o.put(banOp('1.1.1.1'));
    o.put(banOp('1.1.1.2'));
    o.put({ t: 'unban', unban: { ip: '1.1.1.1', family: 4, origin: 'me', at: NOW } });
    expect(o.entries().map(([f, op]) => `${f} ${op.t}`)).toEqual(['1.1.1.2 ban', '1.1.1.1 unban']);
    o.put(banOp('1.1.1.3'));
    o.put(banOp('1.1.1.4'));
    expect(o.size).toBe(3);
    expect(o.dropped).toBe(1);
    expect(o.entries().map(([f]) => f)).toEqual(['1.1.1.1', '1.1.1.3', '1.1.1.4']);
  });

  it('removes an entry only if it is still the same operation', () => {
    const o = track(new Outbox(join(dir, 'o.json'), 10, log, () => NOW));
    const first = banOp('1.1.1.1');
    o.put(first);
    o.put(banOp('1.1.1.1', null));
    o.remove('1.1.1.1', first);
    expect(o.has('1.1.1.1')).toBe(true);
    o.remove('1.1.1.1');
    expect(o.has('1.1.1.1')).toBe(false);
  });

  it('saves atomically (no temp file left) and a new outbox reads it back, dropping expired and invalid entries', async () => {
    const path = join(dir, 'sub', 'o.json');
    const o = track(new Outbox(path, 10, log, () => NOW));
    o.put(banOp('1.1.1.1'));
    o.put(banOp('1.1.1.2', NOW + 10));
    o.put({ t: 'unban', unban: { ip: '2001:db8::1', family: 6, scope: 'c0ffee', origin: 'me', at: NOW } });
    await o.flush();
    const doc = JSON.parse(await readFile(path, 'utf8')) as { v: number; ops: string[] };
    expect(doc.v).toBe(1);
    expect(doc.ops).toHaveLength(3);
    expect(await readdir(join(dir, 'sub'))).toEqual(['o.json']);

    doc.ops.push('{"v":1,"t":"ban","ip":"evil"}', 'x'.repeat(5000));
    await writeFile(path, JSON.stringify(doc));
    const again = track(new Outbox(path, 10, log, () => NOW + 100));
    await again.load();
    expect(again.entries().map(([f, op]) => `${f} ${op.t}`)).toEqual(['1.1.1.1 ban', '2001:db8::1 c0ffee unban']);
    expect(again.invalidOnLoad).toBe(2);
  });

  it('starts empty on a missing or broken file, and keeps working when the disk refuses', async () => {
    const missing = track(new Outbox(join(dir, 'none.json'), 10, log, () => NOW));
    await missing.load();
    expect(missing.size).toBe(0);
    await writeFile(join(dir, 'bad.json'), '{');
    const bad = track(new Outbox(join(dir, 'bad.json'), 10, log, () => NOW));
    await bad.load();
    expect(bad.size).toBe(0);
    await writeFile(join(dir, 'file'), '');
    const refused = track(new Outbox(join(dir, 'file', 'o.json'), 10, log, () => NOW));
    refused.put(banOp('1.1.1.1'));
    refused.put(banOp('1.1.1.2'));
    await refused.flush();
    expect(refused.size).toBe(2);
    expect(logs.filter((l) => l.startsWith('warn share: cannot save'))).toHaveLength(1);
  });
});

describe('share Redis URL', () => {
  it('parses redis:// and rediss://, with the password file winning over the URL', () => {
    expect(redisClientOptions('redis://127.0.0.1:6380', undefined)).toEqual({ socket: { host: '127.0.0.1', port: 6380, tls: false } });
    expect(redisClientOptions('redis://shop:p%40ss@redis/2', undefined)).toEqual({ socket: { host: 'redis', port: 6379, tls: false }, username: 'shop', password: 'p@ss', database: 2 });
    expect(redisClientOptions('redis://shop:url@redis', 'file')).toMatchObject({ username: 'shop', password: 'file' });
    expect(redisClientOptions('rediss://[::1]:6380', undefined)).toEqual({ socket: { host: '::1', port: 6380, tls: true, servername: '::1' } });
  });

  it('refuses what is not a Redis URL, with a code', () => {
    for (const bad of ['localhost:6379', 'http://redis', 'redis://', 'redis://h/x']) {
      expect(() => redisClientOptions(bad, undefined)).toThrow(expect.objectContaining({ code: 'BH_ERR_CONFIG' }));
    }
  });
});
