/**
 * Host mode, hostile tenants (review H22): what one tenant controls about its own container (its
 * name, its log driver and tag, how often it is created and removed, the lines it writes) must not
 * move another tenant's lines, bans or `--container` look-ups, nor stall the shared agent.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory, resolveContainerRef } from '../../../src/docker/containers.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { cpuNow } from '../../support/cpu-time.js';

const A = 'a1'.repeat(32); // the attacker's container
const B = '3f'.repeat(32); // the victim's container

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'bh-h22-'));
  dirs.push(root);
  return {
    root,
    put(id: string, text: string): void {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, 'config.v2.json.tmp'), text);
      renameSync(join(root, id, 'config.v2.json.tmp'), join(root, id, 'config.v2.json'));
    },
    logs(id: string, driver: string, tag?: string): void {
      writeFileSync(join(root, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: driver, Config: tag === undefined ? {} : { tag } } }));
    },
    remove(id: string): void {
      rmSync(join(root, id), { recursive: true, force: true });
    },
  };
}

const idOf = (n: number): string => n.toString(16).padStart(8, '0').repeat(8);

describe('`--container REF` when a tenant names its container after another container', () => {
  it("another container's short id, taken as a tenant's container name, names both: refused, not the tenant's", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, B.slice(0, 12), { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    // The operator copies B's short id from `docker ps`: the ban (or unban) must not land on A.
    const ref = resolveContainerRef(d, B.slice(0, 12), () => []);
    expect(ref.kind).toBe('ambiguous');
    expect(ref.kind === 'ambiguous' && [...ref.ids].sort()).toEqual([A, B].sort());
    // Also with the longer prefix and Docker's leading slash.
    expect(resolveContainerRef(d, `/${B.slice(0, 12)}`, () => []).kind).toBe('ambiguous');
    // The full id still names B alone, and A's real name A alone.
    expect(resolveContainerRef(d, B, () => [])).toMatchObject({ kind: 'container', info: { id: B } });
    expect(d.find(B)?.id).toBe(B);
  });

  it("a removed container's short id (its bans still held), taken as a live container's name, is refused", () => {
    const f = fixture();
    f.put(A, containerConfig(A, B.slice(0, 12), { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    // `unban ADDR --container <B short id>` must not lift A's ban while B's stays held.
    const ref = resolveContainerRef(d, B.slice(0, 12), () => [{ id: B, name: 'shop' }]);
    expect(ref.kind).toBe('ambiguous');
  });
});

describe('container churn', () => {
  it('containers removed since are no longer known (knownIds), whether seen in log paths or listed', () => {
    const f = fixture();
    const clock = new ManualClock();
    const d = new ContainerDirectory({ dir: f.root, clock });
    const ids = Array.from({ length: 300 }, (_, i) => idOf(i + 1));
    for (const id of ids) {
      f.put(id, containerConfig(id, `c${id.slice(0, 6)}`, { bridge: { v4: '198.18.1.1' } }));
      writeFileSync(join(f.root, id, `${id}-json.log`), '');
      expect(d.idOfLogFile(join(f.root, id, `${id}-json.log`))).toBe(id);
      expect(d.info(id)?.id).toBe(id);
    }
    expect(d.knownIds().length).toBe(300);
    for (const id of ids.slice(1)) f.remove(id);
    clock.advance(10_000);
    expect(d.knownIds()).toEqual([ids[0]]);
    // A removed container's id prefix no longer names it (nor makes a look-up ambiguous).
    expect(d.find(ids[5]!.slice(0, 12))).toBeNull();
  });
});

describe('syslog tags a tenant can forge (a syslog daemon reachable from containers)', () => {
  it('thousands of distinct unknown tags cost a bounded number of warnings and little time', () => {
    const f = fixture();
    const warnings: string[] = [];
    const clock = new ManualClock();
    for (let i = 1; i <= 200; i++) {
      const id = idOf(i);
      f.put(id, containerConfig(id, `t${i}`, { bridge: { v4: '198.18.2.1' } }));
      f.logs(id, 'syslog', '{{.Name}}');
    }
    const d = new ContainerDirectory({ dir: f.root, clock, onWarning: (m) => warnings.push(m) });
    expect(d.scopeOf('/var/log/syslog', 't7')).toBe(idOf(7));
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const started = cpuNow();
    for (let i = 0; i < 5000; i++) d.scopeOf('/var/log/syslog', `forged-${i}`);
    const ms = cpuNow() - started;
    expect(warnings.length).toBeLessThanOrEqual(20);
    expect(ms).toBeLessThan(1500);
    // Known tags still answer.
    expect(d.scopeOf('/var/log/syslog', 't9')).toBe(idOf(9));
  });
});

describe('syslog tags a tenant sets itself: never host-wide when a container may have written them', () => {
  it("a tenant's tag template that cannot be rendered ({{.ImageName}}) does not make its lines host-wide", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    f.logs(B, 'json-file');
    // A's lines are tagged with its image's name, say "nginx": a tag no template here names.
    f.logs(A, 'syslog', '{{.ImageName}}');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    // Host-wide would let A's (forged) lines ban a client at B too.
    expect(d.scopeOf('/var/log/syslog', 'nginx')).toBe(A);
    expect(d.scopesOf('/var/log/syslog', 'nginx')).toEqual([A]);
  });

  it("a tag such a tenant may write that another container writes counts at both, never host-wide nor the other's alone", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    f.logs(B, 'syslog', '{{.Name}}');
    // A's image is called "shop": its lines read as B's.
    f.logs(A, 'syslog', '{{.ImageName}}');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect([...d.scopesOf('/var/log/syslog', 'shop')].sort()).toEqual([A, B].sort());
    expect(d.scopesOf('/var/log/syslog', 'shop')).not.toContain(undefined);
  });

  it("a tenant that copies another's tag gets its lines counted at both containers, never host-wide", () => {
    const f = fixture();
    const warnings: string[] = [];
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    f.logs(B, 'syslog', '{{.Name}}');
    f.logs(A, 'syslog', 'shop');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock(), onWarning: (m) => warnings.push(m) });
    expect([...d.scopesOf('/var/log/syslog', 'shop')].sort()).toEqual([A, B].sort());
    expect(warnings.some((w) => /"shop" may be written by 2 containers/.test(w))).toBe(true);
    // A tag nobody writes is still host-wide (a program of the host itself).
    expect(d.scopesOf('/var/log/syslog', 'sshd')).toEqual([undefined]);
  });
});

describe('json-file paths', () => {
  it("a log path that names another container's id does not give it a config.v2.json the tenant wrote", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    f.put(A, containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2' } }));
    // A's /dev/shm is <containers>/<A>/mounts/shm on the host: A writes a directory named after B.
    const fake = join(f.root, A, 'mounts', 'shm', B);
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, 'config.v2.json'), containerConfig(B, 'shop', { bridge: { v4: '198.18.200.99' } }));
    writeFileSync(join(fake, `${B}-json.log`), '');
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    d.idOfLogFile(join(fake, `${B}-json.log`));
    expect(d.info(B)?.v4).toEqual(['198.18.200.3']);
  });

  it("only `<id>-json.log` in the directory `<id>` is that container's log", () => {
    const f = fixture();
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.3' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.idOfLogFile(join(f.root, B, `${B}-json.log`))).toBe(B);
    expect(d.idOfLogFile(join(f.root, B, `${A}-json.log`))).toBeUndefined();
    expect(d.idOfLogFile(join(f.root, B, 'hosts-json.log'))).toBeUndefined();
  });
});

describe('addresses of a container that is not running', () => {
  it('a stopped container whose config.v2.json still lists an address (Docker killed before it saved the stop) has none: its bans never follow that address to the container Docker gives it next', () => {
    const f = fixture();
    const stale = JSON.parse(containerConfig(A, 'evil', { bridge: { v4: '198.18.200.2', v6: '2001:db8:200::2' } })) as Record<string, unknown>;
    stale.State = { Running: false, Paused: false, Restarting: false, ExitCode: 137 };
    f.put(A, JSON.stringify(stale));
    // B now has the address A had.
    f.put(B, containerConfig(B, 'shop', { bridge: { v4: '198.18.200.2' } }));
    const d = new ContainerDirectory({ dir: f.root, clock: new ManualClock() });
    expect(d.info(A)).toMatchObject({ id: A, name: 'evil', v4: [], v6: [] });
    expect(d.info(B)?.v4).toEqual(['198.18.200.2']);
    // Running (or with no State at all, as older fixtures): its addresses.
    stale.State = { Running: true, Paused: true };
    f.put(A, JSON.stringify(stale));
    expect(new ContainerDirectory({ dir: f.root, clock: new ManualClock() }).info(A)?.v4).toEqual(['198.18.200.2']);
  });
});

describe('a restart storm of containers with large configurations', () => {
  it('re-reads changed config.v2.json files within a byte budget per second, keeping the last reading of the rest', () => {
    const f = fixture();
    const clock = new ManualClock();
    // 8 containers, each config.v2.json about 3 MB (an environment a tenant filled), each restarting.
    const big = (id: string, addr: string): string => {
      const c = JSON.parse(containerConfig(id, `big-${id.slice(0, 4)}`, { bridge: { v4: addr } })) as Record<string, unknown>;
      (c.Config as Record<string, unknown>).Env = [`PAD=${'x'.repeat(3 * 1024 * 1024)}`];
      return JSON.stringify(c);
    };
    const ids = Array.from({ length: 8 }, (_, i) => idOf(i + 1));
    ids.forEach((id, i) => f.put(id, big(id, `198.18.3.${i + 1}`)));
    const d = new ContainerDirectory({ dir: f.root, clock });
    // The first readings are spread over seconds too; after 10 s every one is known.
    for (let s = 0; s < 10; s++, clock.advance(1000)) for (const id of ids) d.info(id);
    expect(ids.map((id) => d.info(id)?.v4[0])).toEqual(ids.map((_, i) => `198.18.3.${i + 1}`));
    // All restart with new addresses; within one second no more than the budget is parsed.
    ids.forEach((id, i) => f.put(id, big(id, `198.18.4.${i + 1}`)));
    clock.advance(1000);
    // CPU time (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const started = cpuNow();
    const seen = ids.map((id) => d.info(id)?.v4[0]);
    const ms = cpuNow() - started;
    const fresh = seen.filter((a) => a?.startsWith('198.18.4.')).length;
    expect(fresh).toBeGreaterThan(0);
    expect(fresh).toBeLessThan(8);
    // The rest keep their last reading (never null: their bans stay tied), and follow within seconds.
    expect(seen.every((a) => a !== undefined)).toBe(true);
    for (let s = 0; s < 5; s++) {
      clock.advance(1000);
      for (const id of ids) d.info(id);
    }
    expect(ids.map((id) => d.info(id)?.v4[0])).toEqual(ids.map((_, i) => `198.18.4.${i + 1}`));
    expect(ms).toBeLessThan(5000);
  });
});

describe('container churn on a host that reads json-file logs only', () => {
  it('removed containers are forgotten without any syslog tag or `--container` look-up (info and new log paths relist)', () => {
    const f = fixture();
    const clock = new ManualClock();
    const d = new ContainerDirectory({ dir: f.root, clock });
    const ids = Array.from({ length: 50 }, (_, i) => idOf(i + 1));
    for (const id of ids) {
      f.put(id, containerConfig(id, `c${id.slice(0, 6)}`, { bridge: { v4: '198.18.1.1' } }));
      d.idOfLogFile(join(f.root, id, `${id}-json.log`));
      d.info(id);
    }
    for (const id of ids.slice(1)) f.remove(id);
    clock.advance(10_000);
    // The agent goes on: a new container's log, the enforcer's look at a banned one.
    const fresh = idOf(999);
    f.put(fresh, containerConfig(fresh, 'fresh', { bridge: { v4: '198.18.1.2' } }));
    d.idOfLogFile(join(f.root, fresh, `${fresh}-json.log`));
    d.info(ids[0]!);
    // What it holds about containers (read without listing again): only those still there.
    const held = (d as unknown as { dirs: Map<string, string>; cache: Map<string, unknown> });
    expect([...held.dirs.keys()].sort()).toEqual([ids[0], fresh].sort());
    expect([...held.cache.keys()].every((id) => id === ids[0] || id === fresh)).toBe(true);
  });
});
