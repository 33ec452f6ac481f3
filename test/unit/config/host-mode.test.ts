import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { configToYamlObject } from '../../../src/config/describe.js';

const load = (env: Record<string, string>) => loadConfig({ env, hostname: 'unit' });
const fail = (env: Record<string, string>): { code: string; message: string } => {
  try {
    load(env);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected the configuration to be rejected');
};

describe('host-mode settings', () => {
  it('defaults: container scope, containers directory derived from the log paths', () => {
    const c = load({});
    expect(c.banScope).toBe('container');
    expect(c.dockerContainersDir).toBeNull();
  });

  it('reads BANHAMMER_BAN_SCOPE and BANHAMMER_DOCKER_CONTAINERS_DIR', () => {
    const c = load({
      BANHAMMER_ENFORCER: 'docker-user',
      BANHAMMER_BAN_SCOPE: 'Host',
      BANHAMMER_DOCKER_CONTAINERS_DIR: '/host/docker/containers',
      BANHAMMER_LOG_PATH: '/host/docker/containers/*/*-json.log',
    });
    expect(c).toMatchObject({ enforcer: 'docker-user', banScope: 'host', dockerContainersDir: '/host/docker/containers' });
    expect(c.log.paths).toEqual(['/host/docker/containers/*/*-json.log']);
    expect(configToYamlObject(c)).toMatchObject({ ban_scope: 'host', docker_containers_dir: '/host/docker/containers' });
  });

  it('rejects an unknown scope and a relative directory, naming the variable', () => {
    const a = fail({ BANHAMMER_BAN_SCOPE: 'everywhere' });
    expect(a.code).toBe('BH_ERR_CONFIG');
    expect(a.message).toContain('BANHAMMER_BAN_SCOPE');
    expect(a.message).toContain('container, host');
    const b = fail({ BANHAMMER_DOCKER_CONTAINERS_DIR: 'var/lib/docker/containers' });
    expect(b.message).toContain('BANHAMMER_DOCKER_CONTAINERS_DIR');
    expect(b.message).toMatch(/absolute path/);
  });
});
