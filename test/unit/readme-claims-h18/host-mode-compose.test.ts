/**
 * README (Host mode): the compose file shown for one agent per Docker host is what a user saves as
 * compose.yaml and starts. `docker-compose config` (parsing and validation only, no engine) must
 * accept it as written: it once named a volume `banhammer-state` without declaring it, which
 * Compose refuses ("Named volume … is used in service … but no declaration was found").
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const COMPOSE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'bh-readme-host-mode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README: the host-mode compose file', () => {
  const section = README.slice(README.indexOf('## Host mode'), README.indexOf('## Replicas'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];

  it('is a whole compose file with the settings the section describes', () => {
    expect(block).toBeDefined();
    for (const s of ['network_mode: host', 'cap_add: [NET_ADMIN]', 'IMAGE_MODE: host', 'BANHAMMER_ENFORCER: docker-user', '/var/lib/docker/containers:/var/lib/docker/containers:ro']) {
      expect(block).toContain(s);
    }
  });

  it.skipIf(COMPOSE === undefined)(`passes docker-compose config${COMPOSE ? '' : ' (skipped: docker-compose is not installed)'}`, () => {
    writeFileSync(join(dir, 'compose.yaml'), block!);
    const r = spawnSync(COMPOSE!, ['-f', join(dir, 'compose.yaml'), 'config', '-q'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
