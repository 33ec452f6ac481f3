/**
 * Host mode, across tenants: a syslog tag is tied to a container by name or by id prefix
 * (containers.ts find / scopeOf). A tenant names its own container and may set its own tag; these
 * show a tenant's choice moving *another* tenant's lines, or its own into another's scope.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../../src/docker/containers.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { containerConfig } from '../docker/container-fixtures.js';

const A = 'a1'.repeat(32); // the attacker's container
const B = '3f'.repeat(32); // the victim's container

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture(): { root: string; put: (id: string, text: string) => void; remove: (id: string) => void } {
  const root = mkdtempSync(join(tmpdir(), 'bh-tags-tags-'));
  dirs.push(root);
  return {
    root,
    put(id, text) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, 'config.v2.json.tmp'), text);
      renameSync(join(root, id, 'config.v2.json.tmp'), join(root, id, 'config.v2.json'));
    },
    remove(id) {
      rmSync(join(root, id), { recursive: true, force: true });
    },
  };
}

describe('syslog tags across tenants', () => {
  it("a container named after another's short id does not take the lines of that container's default tag ({{.ID}})", () => {
    const f = fixture();
    // B logs through Docker's syslog driver with the default tag: its short id. A names itself so.
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, B.slice(0, 12), { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.scopeOf('/var/log/syslog', B.slice(0, 12))).not.toBe(A);
  });

  it("a container named with another's full id takes neither its tag nor `--container ID`", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, B, { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.find(B)?.id).toBe(B);
    expect(d.scopeOf('/var/log/syslog', B)).toBe(B);
  });

  it("a tag tied to a container stays tied after that container is renamed and another takes the name", () => {
    const f = fixture();
    const clock = new ManualClock();
    f.put(A, containerConfig(A, 'web', { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock });
    expect(d.scopeOf('/var/log/syslog', 'web')).toBe(A);
    // A is renamed (docker rename web old); B is created as "web" and logs with tag={{.Name}}.
    f.put(A, containerConfig(A, 'old', { bridge: { v4: '198.18.200.2' } }));
    f.put(B, containerConfig(B, 'web', { bridge: { v4: '198.18.200.3' } }));
    clock.advance(60 * 60 * 1000);
    expect(d.scopeOf('/var/log/syslog', 'web')).toBe(B);
  });

  it('a tag tied to a container that was removed is not kept for the next container of that name', () => {
    const f = fixture();
    const clock = new ManualClock();
    f.put(A, containerConfig(A, 'web', { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock });
    expect(d.scopeOf('/var/log/syslog', 'web')).toBe(A);
    f.remove(A);
    f.put(B, containerConfig(B, 'web', { bridge: { v4: '198.18.200.3' } }));
    clock.advance(60 * 60 * 1000);
    expect(d.scopeOf('/var/log/syslog', 'web')).toBe(B);
  });
});

describe('syslog tags a tenant sets itself (hostconfig.json says which container writes which tag)', () => {
  it("a container whose own tag is another container's name does not get its lines counted for that container", () => {
    const f = fixture();
    // B ("shop") logs to json-file; A logs through the syslog driver with --log-opt tag=shop, and so
    // can write access lines (forged ones included) that would ban B's clients at B.
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    writeFileSync(join(f.root, B, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: 'json-file', Config: {} } }));
    writeFileSync(join(f.root, A, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: 'syslog', Config: { tag: 'shop' } } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.scopeOf('/var/log/syslog', 'shop')).not.toBe(B);
  });

  const hostconfig = (root: string, id: string, driver: string, tag?: string): void =>
    writeFileSync(join(root, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: driver, Config: tag === undefined ? {} : { tag } } }));

  it('a tag is tied to the one container whose syslog driver writes it: the short id by default, or its rendered template', () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'blog', { bridge: { v4: '198.18.200.2' } }));
    hostconfig(f.root, B, 'syslog');
    hostconfig(f.root, A, 'syslog', 'web-{{.Name}}');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.scopeOf('/var/log/syslog', B.slice(0, 12))).toBe(B);
    expect(d.scopeOf('/var/log/syslog', 'web-blog')).toBe(A);
    // Not by name: neither writes its bare name.
    expect(d.scopeOf('/var/log/syslog', 'shop')).toBeUndefined();
    expect(d.scopeOf('/var/log/syslog', 'blog')).toBeUndefined();
  });

  it('a tag two containers write counts at both (one chose the tag the other writes), never host-wide, with a warning', () => {
    const f = fixture();
    const warnings: string[] = [];
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    hostconfig(f.root, B, 'syslog', '{{.Name}}');
    hostconfig(f.root, A, 'syslog', 'shop');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock(), onWarning: (m) => warnings.push(m) });
    // No single scope (scopeOf); each writer's (scopesOf): host-wide would let A ban a client everywhere.
    expect(d.scopeOf('/var/log/syslog', 'shop')).toBeUndefined();
    expect([...d.scopesOf('/var/log/syslog', 'shop')].sort()).toEqual([A, B].sort());
    expect(warnings.some((w) => /"shop" may be written by 2 containers/.test(w))).toBe(true);
  });

  it('a container that logs to json-file is never named by a tag, not even by its short id', () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    hostconfig(f.root, B, 'json-file');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.scopeOf('/var/log/syslog', B.slice(0, 12))).toBeUndefined();
    expect(d.scopeOf('/var/log/syslog', 'shop')).toBeUndefined();
  });

  it('a container whose tag template has a field that cannot be told may have written any tag: its lines count at it, not host-wide', () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    hostconfig(f.root, B, 'syslog', '{{.ImageName}}');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.scopeOf('/var/log/syslog', 'shop')).toBe(B);
    expect(d.scopeOf('/var/log/syslog', B.slice(0, 12))).toBe(B);
    expect(d.scopeOf('/var/log/syslog', 'nginx')).toBe(B);
  });
});
