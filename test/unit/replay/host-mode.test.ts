/**
 * Replay in host mode counts each line for the container it came from, as the agent does (review:
 * helper): three 403s of one client at container web-x and two at web-y ban nobody in the agent
 * (maxretry 5 per container), but replay added them up host-wide and reported a ban. On the Docker
 * host replay resolves tags with the agent's own resolver; off the host (the containers directory the
 * configuration names is not there) by the syslog tag itself. Bans carry their container, in the JSON
 * and the text, with control characters of a tag escaped.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { main, type CliIo } from '../../../src/cli.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { clf } from '../../support/clf.js';

const root = mkdtempSync(join(tmpdir(), 'bh-replay-host-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const X = 'c1'.repeat(32);
const Y = 'c2'.repeat(32);
const A = '198.19.150.66';
const B = '198.19.150.67';
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const containers = join(root, 'containers');
for (const [id, name, v4] of [[X, 'web-x', '198.19.151.2'], [Y, 'web-y', '198.19.151.3']] as const) {
  mkdirSync(join(containers, id), { recursive: true });
  writeFileSync(join(containers, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4 } }));
}
const access = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const syslog = (tag: string, ip: string, t: number) => `<30>Nov 23 10:00:00 ${tag}[1]: ${access(ip, t)}`;
const file = join(root, 'syslog.log');
writeFileSync(
  file,
  `${[
    // A: 3 at web-x, 2 at web-y (no ban anywhere); B: 5 at web-y (a ban for web-y only).
    ...[0, 1, 2].map((i) => syslog('web-x', A, T0 + i * 1000)),
    ...[3, 4].map((i) => syslog('web-y', A, T0 + i * 1000)),
    ...[5, 6, 7, 8, 9].map((i) => syslog('web-y', B, T0 + i * 1000)),
  ].join('\n')}\n`,
);
const env = (dir: string) => ({ BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: file, BANHAMMER_DOCKER_CONTAINERS_DIR: dir, BANHAMMER_INSTANCE: 'host' });

describe('replay in host mode', () => {
  it('on the Docker host: per container, with the container of each ban', async () => {
    const r = await replayFile(file, loadConfig({ env: env(containers), hostname: 't' }), { threads: 1 });
    expect(r.bans.map((b) => [b.rule, b.ip, b.container])).toEqual([['forbidden', B, 'web-y']]);
  });

  it.skipIf(!existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url)))('the same on several threads (built code)', async () => {
    const built = (await import(new URL('../../../dist/replay/replay.js', import.meta.url).href)) as typeof import('../../../src/replay/replay.js');
    for (const dir of [containers, join(root, 'not-here')]) {
      const r = await built.replayFile(file, loadConfig({ env: env(dir), hostname: 't' }), { threads: 3 });
      expect(r.bans.map((b) => [b.rule, b.ip, b.container])).toEqual([['forbidden', B, 'web-y']]);
    }
  });

  it('off the host: per syslog tag', async () => {
    const r = await replayFile(file, loadConfig({ env: env(join(root, 'not-here')), hostname: 't' }), { threads: 1 });
    expect(r.bans.map((b) => [b.rule, b.ip, b.container])).toEqual([['forbidden', B, 'web-y']]);
  });

  it('the CLI shows the container (JSON and text), a tag escaped for the terminal', async () => {
    const evil = join(root, 'evil.log');
    writeFileSync(evil, `${[0, 1, 2, 3, 4].map((i) => syslog('web\x1b[31m', B, T0 + i * 1000)).join('\n')}\n`);
    const out: string[] = [];
    const io: CliIo = { stdout: (s) => void out.push(s), stderr: () => {}, env: env(join(root, 'not-here')), hostname: 't' };
    expect(await main(['replay', evil, '--json'], io)).toBe(0);
    expect(JSON.parse(out.join('')).bans).toEqual([expect.objectContaining({ ip: B, container: 'web\x1b[31m' })]);
    out.length = 0;
    expect(await main(['replay', evil], io)).toBe(0);
    expect(out.join('')).toContain('container web\\x1b[31m');
    expect(out.join('')).not.toContain('\x1b');
  });

  it('out of host mode: one host-wide window, as the agent', async () => {
    const r = await replayFile(file, loadConfig({ env: { BANHAMMER_LOG_PATH: file }, hostname: 't' }), { threads: 1 });
    expect(r.bans.map((b) => [b.ip, b.container])).toEqual([[A, undefined], [B, undefined]]);
  });
});
