/**
 * Host mode, hostile tenants (review H22), in replay: a syslog tag two containers write (a tenant
 * copied another's) counts at each of them, as the live agent counts it, never host-wide.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { clf } from '../../support/clf.js';

const root = mkdtempSync(join(tmpdir(), 'bh-h22-replay-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const EVIL = 'a1'.repeat(32);
const SHOP = '3f'.repeat(32);
const CLIENT = '198.19.150.66';
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const containers = join(root, 'containers');
for (const [id, name, v4, tag] of [[EVIL, 'evil', '198.19.151.2', 'shop'], [SHOP, 'shop', '198.19.151.3', '{{.Name}}']] as const) {
  mkdirSync(join(containers, id), { recursive: true });
  writeFileSync(join(containers, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4 } }));
  writeFileSync(join(containers, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: 'syslog', Config: { tag } } }));
}
const file = join(root, 'syslog.log');
writeFileSync(file, `${[0, 1, 2, 3, 4].map((i) => `<30>Nov 23 10:00:00 shop[1]: ${CLIENT} - - [${clf(T0 + i * 1000)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`).join('\n')}\n`);

describe('replay in host mode, a tag two containers write', () => {
  it('bans at each of them, never host-wide', async () => {
    const config = loadConfig({ env: { BANHAMMER_ENFORCER: 'docker-user', BANHAMMER_LOG_PATH: file, BANHAMMER_DOCKER_CONTAINERS_DIR: containers, BANHAMMER_INSTANCE: 'host' }, hostname: 't' });
    const r = await replayFile(file, config, { threads: 1 });
    expect(r.bans.map((b) => [b.ip, b.container]).sort()).toEqual([[CLIENT, 'evil'], [CLIENT, 'shop']]);
  });
});
