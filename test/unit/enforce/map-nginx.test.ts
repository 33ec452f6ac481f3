import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BanhammerError } from '../../../src/errors.js';
import { missingBinaryError } from '../../../src/exec/runner.js';
import { NginxMapEnforcer, renderNginxGeo } from '../../../src/enforce/nginx-map.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-nginx-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Lets pending I/O and promise callbacks run until `cond` holds. Bounded by real time (10 s), not by
 * a number of turns: a write's fsyncs can take many turns on a loaded machine.
 */
async function settle(cond: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond() && Date.now() < end) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

const ban = (ip: string, family: 4 | 6 = 4) => ({ ban: [{ ip, family, until: null }], unban: [] });

describe('NginxMapEnforcer', () => {
  it('writes a geo block and reloads nginx with the configured argv, no shell', async () => {
    const runner = new RecordingRunner();
    const path = join(dir, 'banned.conf');
    const enf = new NginxMapEnforcer({ path, runner, clock: new ManualClock(), reloadCommand: ['/usr/sbin/nginx', '-c', '/etc/my nginx.conf', '-s', 'reload'] });
    await enf.init();
    expect(runner.calls).toEqual([]);
    await enf.apply({ ban: [{ ip: '198.18.0.9', family: 4, until: null }, { ip: '2001:DB8::9', family: 6, until: null }], unban: [] });
    expect(await readFile(path, 'utf8')).toBe(renderNginxGeo([{ ip: '198.18.0.9', family: 4, until: null }, { ip: '2001:db8::9', family: 6, until: null }]));
    expect(await readFile(path, 'utf8')).toContain('geo $banhammer_banned {\n    default 0;\n    198.18.0.9/32 1;\n    2001:db8::9/128 1;\n}\n');
    expect(runner.calls.map((c) => [c.cmd, ...c.args])).toEqual([['/usr/sbin/nginx', '-c', '/etc/my nginx.conf', '-s', 'reload']]);
  });

  it('coalesces reloads to at most one per second; waiting applies share one', async () => {
    const runner = new RecordingRunner();
    const clock = new ManualClock();
    const enf = new NginxMapEnforcer({ path: join(dir, 'banned.conf'), runner, clock });
    await enf.init();
    await enf.apply(ban('198.18.0.1'));
    expect(runner.calls.length).toBe(1);

    clock.advance(100);
    let done2 = false;
    let done3 = false;
    const p2 = enf.apply(ban('198.18.0.2')).then(() => (done2 = true));
    await settle(() => clock.pending() === 1);
    const p3 = enf.apply(ban('198.18.0.3')).then(() => (done3 = true));
    await settle(() => enf.reloadWaiters === 2);
    expect(runner.calls.length).toBe(1);
    clock.advance(899);
    await settle(() => true);
    expect(runner.calls.length).toBe(1);
    expect(done2 || done3).toBe(false);
    clock.advance(1);
    await Promise.all([p2, p3]);
    expect(runner.calls.length).toBe(2);
    // The shared reload started after both writes: the file it loads holds all three.
    expect(await readFile(join(dir, 'banned.conf'), 'utf8')).toContain('198.18.0.3/32 1;');
    expect(enf.reloads).toBe(2);
  });

  it('a failed reload rejects apply() with a hint and is retried by check()', async () => {
    const runner = new RecordingRunner().on('nginx -s reload', { code: 1, stderr: 'nginx: [error] invalid PID number "" in "/run/nginx.pid"' }, 1);
    const clock = new ManualClock();
    const enf = new NginxMapEnforcer({ path: join(dir, 'banned.conf'), runner, clock });
    await enf.init();
    const e = await enf.apply(ban('198.18.0.1')).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BanhammerError);
    expect((e as BanhammerError).code).toBe('BH_ERR_EXEC');
    expect((e as BanhammerError).message).toContain('invalid PID number');
    expect((e as BanhammerError).hint).toContain('nginx -t');
    const expected = () => [{ ip: '198.18.0.1', family: 4 as const, until: null }];
    clock.advance(1000);
    expect(await enf.check(expected)).toEqual([]);
    expect(runner.calls.length).toBe(2);
    clock.advance(1000);
    expect(await enf.check(expected)).toEqual([]);
    expect(runner.calls.length).toBe(2);
  });

  it('names the package when the reload program is missing', async () => {
    const runner = new RecordingRunner().on('nginx', missingBinaryError('nginx'));
    const enf = new NginxMapEnforcer({ path: join(dir, 'banned.conf'), runner, clock: new ManualClock() });
    const e = (await enf.apply(ban('198.18.0.1')).catch((x: unknown) => x)) as BanhammerError;
    expect(e.code).toBe('BH_ERR_MISSING_BINARY');
    expect(e.hint).toContain('BANHAMMER_NGINX_RELOAD');
  });

  it('check() re-creates a deleted file and reloads; shutdown() empties it and reloads at once', async () => {
    const runner = new RecordingRunner();
    const clock = new ManualClock();
    const path = join(dir, 'banned.conf');
    const enf = new NginxMapEnforcer({ path, runner, clock });
    await enf.init();
    await enf.apply(ban('2001:db8::1', 6));
    await rm(path);
    clock.advance(1000);
    expect(await enf.check(() => [{ ip: '2001:db8::1', family: 6, until: null }])).toEqual([`map file ${path} was missing and was re-created`]);
    expect(await readFile(path, 'utf8')).toContain('2001:db8::1/128 1;');
    expect(runner.calls.length).toBe(2);
    // A ban the map lost (or never got) comes back with check(), and nginx is reloaded for it.
    clock.advance(1000);
    expect(await enf.check(() => [{ ip: '2001:db8::1', family: 6, until: null }, { ip: '198.18.0.4', family: 4, until: null }])).toEqual([
      `map file ${path}: 1 missing ban(s) re-added`,
    ]);
    expect(await readFile(path, 'utf8')).toContain('198.18.0.4/32 1;');
    expect(runner.calls.length).toBe(3);
    await enf.shutdown(); // within the second: must not wait for the clock
    expect(runner.calls.length).toBe(4);
    expect(await readFile(path, 'utf8')).toBe(renderNginxGeo([]));
  });

  it('refuses an empty reload command', () => {
    expect(() => new NginxMapEnforcer({ path: join(dir, 'x'), runner: new RecordingRunner(), reloadCommand: [] })).toThrow(/invalid reload command/);
  });
});
