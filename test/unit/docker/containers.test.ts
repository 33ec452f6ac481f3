import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory, containersDirFor, parseContainerConfig } from '../../../src/docker/containers.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { containerConfig } from './container-fixtures.js';

const X = '1'.repeat(64);
const Y = 'ab'.repeat(32);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture(): { root: string; put: (id: string, text: string) => void } {
  const root = mkdtempSync(join(tmpdir(), 'bh-containers-'));
  dirs.push(root);
  return {
    root,
    put(id, text) {
      mkdirSync(join(root, id), { recursive: true });
      // Docker replaces the file atomically; so does the fixture.
      writeFileSync(join(root, id, 'config.v2.json.tmp'), text);
      renameSync(join(root, id, 'config.v2.json.tmp'), join(root, id, 'config.v2.json'));
    },
  };
}

describe('containersDirFor', () => {
  it('is the explicit directory, else two levels above a *-json.log path or glob', () => {
    expect(containersDirFor('/c', ['/var/lib/docker/containers/*/*-json.log'])).toBe('/c');
    expect(containersDirFor(null, ['/var/log/x.log', '/var/lib/docker/containers/*/*-json.log'])).toBe('/var/lib/docker/containers');
    expect(containersDirFor(null, [`/host/containers/${X}/${X}-json.log`])).toBe('/host/containers');
    expect(containersDirFor(null, ['/var/log/syslog'])).toBeNull();
  });
});

describe('parseContainerConfig', () => {
  it('reads name and every network address, canonical, without the empty ones', () => {
    const info = parseContainerConfig(containerConfig(X, 'web-x', { a: { v4: '198.19.151.2', v6: '2001:DB8:151::2' }, b: { v4: '198.19.152.2' }, host: {} }));
    expect(info).toEqual({ id: X, name: 'web-x', v4: ['198.19.151.2', '198.19.152.2'], v6: ['2001:db8:151::2'] });
  });
  it('rejects what is not a container config, or another container', () => {
    expect(parseContainerConfig('not json')).toBeNull();
    expect(parseContainerConfig('[]')).toBeNull();
    expect(parseContainerConfig(JSON.stringify({ ID: 'short' }))).toBeNull();
    expect(parseContainerConfig(containerConfig(X, 'x', {}), Y)).toBeNull();
    expect(parseContainerConfig(JSON.stringify({ ID: X, NetworkSettings: { Networks: { a: { IPAddress: 'not-an-ip; rm -rf /' } } } }))).toEqual({ id: X, name: X.slice(0, 12), v4: [], v6: [] });
  });
});

describe('ContainerDirectory', () => {
  it('ties a json-file log to its container and follows a restart to its new address', () => {
    const f = fixture();
    f.put(X, containerConfig(X, 'web-x', { bridge: { v4: '198.19.151.2' } }));
    const clock = new ManualClock();
    const warnings: string[] = [];
    const d = new ContainerDirectory({ dir: f.root, clock, onWarning: (m) => warnings.push(m) });
    const log = join(f.root, X, `${X}-json.log`);
    expect(d.idOfLogFile(log)).toBe(X);
    expect(d.idOfLogFile('/var/log/apache2/access.log')).toBeUndefined();
    expect(d.scopeOf(log, undefined)).toBe(X);
    expect(d.info(X)).toMatchObject({ name: 'web-x', v4: ['198.19.151.2'] });
    f.put(X, containerConfig(X, 'web-x', { bridge: { v4: '198.19.151.9' } }));
    expect(d.info(X)!.v4).toEqual(['198.19.151.2']); // cached within the refresh interval
    clock.advance(1000);
    expect(d.info(X)!.v4).toEqual(['198.19.151.9']);
    expect(warnings).toEqual([]);
  });

  it('maps syslog tags by name or id prefix; an unknown tag is host-wide with one warning', () => {
    const f = fixture();
    f.put(X, containerConfig(X, 'web-x', { bridge: { v4: '198.19.151.2' } }));
    f.put(Y, containerConfig(Y, 'web-y', { bridge: { v4: '198.19.151.3' } }));
    const warnings: string[] = [];
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock(), onWarning: (m) => warnings.push(m) });
    expect(d.scopeOf('/var/log/syslog', 'web-y')).toBe(Y);
    expect(d.scopeOf('/var/log/syslog', Y.slice(0, 12))).toBe(Y);
    expect(d.scopeOf('/var/log/syslog', 'abab')).toBeUndefined(); // too short to be an id prefix
    expect(d.scopeOf('/var/log/syslog', 'apache')).toBeUndefined();
    expect(d.scopeOf('/var/log/syslog', 'apache')).toBeUndefined();
    expect(warnings.filter((w) => w.includes('"apache"'))).toHaveLength(1);
    expect(d.find('/web-x')?.id).toBe(X);
    expect(d.find('nope')).toBeNull();
  });

  it('without a containers directory, tags are host-wide with a one-time warning', () => {
    const warnings: string[] = [];
    const d = new ContainerDirectory({ dir: null, clock: new ManualClock(), onWarning: (m) => warnings.push(m) });
    expect(d.scopeOf('/var/log/syslog', 'web')).toBeUndefined();
    expect(d.scopeOf('/var/log/syslog', 'other')).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/BANHAMMER_DOCKER_CONTAINERS_DIR/);
  });

  it('a missing or malformed config.v2.json gives null and one warning, never a throw', () => {
    const f = fixture();
    mkdirSync(join(f.root, X));
    const clock = new ManualClock();
    const warnings: string[] = [];
    const d = new ContainerDirectory({ dir: f.root, clock, onWarning: (m) => warnings.push(m) });
    expect(d.info(X)).toBeNull();
    clock.advance(5000);
    expect(d.info(X)).toBeNull();
    expect(warnings).toHaveLength(1);
    f.put(Y, '{"ID": "trunc');
    expect(d.info(Y)).toBeNull();
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/not a Docker container configuration/);
    const gone = new ContainerDirectory({ dir: join(f.root, 'nope'), clock, onWarning: (m) => warnings.push(m) });
    expect(gone.find('web')).toBeNull();
    expect(warnings.at(-1)).toMatch(/cannot list Docker's containers directory .*ENOENT/);
  });
});
