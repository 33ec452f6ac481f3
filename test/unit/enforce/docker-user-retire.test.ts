/**
 * Host mode, docker-user: the sets of a container let go (no ban in force) are destroyed after its
 * rules are gone. A destroy can fail while the kernel still holds a reference to the set (iptables-nft
 * lets go of it late: "Set cannot be destroyed: it is in use by a kernel component"); the check then
 * goes on, and the next checks try again until the sets are gone, never leaving them until a restart.
 */
import { expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import { containerSetName, dockerUserNames } from '../../../src/enforce/docker-user-args.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const X = 'ab'.repeat(32);
const names = dockerUserNames('host');
const SX4 = containerSetName(names, X, 4);

it('a failed destroy of a let-go container set is tried again at the next checks', async () => {
  const runner = new RecordingRunner();
  const clock = new ManualClock(1_000_000);
  const info = new Map<string, ContainerInfo>([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]);
  const enf = new DockerUserEnforcer({ runner, clock, instance: 'host', families: [4], backend: backendBinaries('legacy', 'test'), containers: { info: (id) => info.get(id) ?? null } });
  await enf.apply({ ban: [{ ip: '198.19.150.7', family: 4, until: clock.now() + 60_000, scope: X }], unban: [] });
  clock.advance(120_000);
  runner.on(`ipset destroy ${SX4}`, { code: 1, stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component\n' });
  runner.on('ipset list -t', { stdout: `Name: bh-host-v4\nType: hash:ip\nNumber of entries: 0\n\nName: ${SX4}\nType: hash:ip\nNumber of entries: 1\n` });
  // The check goes on (no throw), and the set stays to be destroyed.
  await enf.check(() => []);
  runner.clear();
  await enf.check(() => []);
  expect(runner.lines().filter((l) => l.startsWith(`ipset destroy ${SX4}`))).toHaveLength(1);
  // Once the kernel lets go, the next check destroys it, and no later one tries again.
  runner.on(`ipset destroy ${SX4}`, { code: 0 });
  runner.clear();
  await enf.check(() => []);
  await enf.check(() => []);
  expect(runner.lines().filter((l) => l.startsWith(`ipset destroy ${SX4}`))).toHaveLength(1);
});

it('a container banned again before its sets are destroyed keeps them', async () => {
  const runner = new RecordingRunner();
  const clock = new ManualClock(1_000_000);
  const info = new Map<string, ContainerInfo>([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]);
  const enf = new DockerUserEnforcer({ runner, clock, instance: 'host', families: [4], backend: backendBinaries('legacy', 'test'), containers: { info: (id) => info.get(id) ?? null } });
  await enf.apply({ ban: [{ ip: '198.19.150.7', family: 4, until: clock.now() + 60_000, scope: X }], unban: [] });
  clock.advance(120_000);
  runner.on(`ipset destroy ${SX4}`, { code: 1, stderr: 'ipset v7.17: Set cannot be destroyed: it is in use by a kernel component\n' });
  await enf.check(() => []);
  const again = { ip: '198.19.150.8', family: 4 as const, until: clock.now() + 60_000, scope: X };
  await enf.apply({ ban: [again], unban: [] });
  runner.on(`ipset destroy ${SX4}`, { code: 0 });
  runner.clear();
  await enf.check(() => [again]);
  expect(runner.lines().filter((l) => l.startsWith(`ipset destroy ${SX4}`))).toEqual([]);
});
