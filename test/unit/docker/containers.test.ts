import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory, containersDirFor, parseContainerConfig, resolveContainerRef } from '../../../src/docker/containers.js';
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

describe('resolveContainerRef (--container among containers, then the scopes the ban book holds)', () => {
  // Three ids sharing their first 12 hex digits: P1 and P2 removed (held only), P3 a container.
  const P1 = 'abcdef012345' + '1'.repeat(52);
  const P2 = 'abcdef012345' + '2'.repeat(52);
  const P3 = 'abcdef0123ff' + '3'.repeat(52);
  const held = (ids: [string, string?][]) => () => ids.map(([id, name]) => ({ id, ...(name !== undefined ? { name } : {}) }));

  it('answers a container of the directory first, then a held scope by full id, recorded name or unique id prefix', () => {
    const f = fixture();
    f.put(P3, containerConfig(P3, 'live', {}));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    const h = held([[P1, 'shop'], [P3, 'old-name']]);
    expect(resolveContainerRef(d, 'live', h)).toMatchObject({ kind: 'container', info: { id: P3 } });
    expect(resolveContainerRef(d, P1, h)).toEqual({ kind: 'held', id: P1, name: 'shop' });
    expect(resolveContainerRef(d, 'shop', h)).toEqual({ kind: 'held', id: P1, name: 'shop' });
    expect(resolveContainerRef(d, '/shop', h)).toEqual({ kind: 'held', id: P1, name: 'shop' });
    expect(resolveContainerRef(d, P1.slice(0, 13), h)).toEqual({ kind: 'held', id: P1, name: 'shop' });
    // A held scope whose container is there (renamed since) is that container.
    expect(resolveContainerRef(d, 'old-name', h)).toMatchObject({ kind: 'container', info: { id: P3, name: 'live' } });
    // Without a name recorded, the short id stands for it.
    expect(resolveContainerRef(d, P2, held([[P2]]))).toEqual({ kind: 'held', id: P2, name: P2.slice(0, 12) });
  });

  it('refuses an id prefix several ids share (held or a container), a name two held scopes bear, and what matches nothing', () => {
    const f = fixture();
    f.put(P3, containerConfig(P3, 'live', {}));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(resolveContainerRef(d, P1.slice(0, 12), held([[P1], [P2]]))).toEqual({ kind: 'ambiguous', ids: [P1, P2] });
    // A held id and a container share the prefix: ambiguous, neither is picked.
    const shared = P3.slice(0, 12) + '6'.repeat(52);
    expect(resolveContainerRef(d, P3.slice(0, 12), held([[shared]]))).toEqual({ kind: 'ambiguous', ids: [P3, shared] });
    // Fewer than 12 hex digits are never a prefix; a longer one that tells them apart is.
    expect(resolveContainerRef(d, P1.slice(0, 11), held([[P1]]))).toEqual({ kind: 'none' });
    expect(resolveContainerRef(d, shared.slice(0, 13), held([[shared]]))).toEqual({ kind: 'held', id: shared, name: shared.slice(0, 12) });
    expect(resolveContainerRef(d, 'twin', held([[P1, 'twin'], [P2, 'twin']]))).toEqual({ kind: 'ambiguous', ids: [P1, P2] });
    // Nothing held, nothing there: no scope is made up.
    expect(resolveContainerRef(d, 'f'.repeat(64), held([[P1]]))).toEqual({ kind: 'none' });
    expect(resolveContainerRef(d, 'f'.repeat(12), held([[P1]]))).toEqual({ kind: 'none' });
    expect(resolveContainerRef(d, 'nobody', held([[P1, 'shop']]))).toEqual({ kind: 'none' });
    expect(resolveContainerRef(d, '/', held([[P1, '']]))).toEqual({ kind: 'none' });
  });
});
