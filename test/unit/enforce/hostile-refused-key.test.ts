/**
 * an element the kernel refuses in one set must not make check() treat the
 * same address in another set as refused. In host mode one address can be banned host-wide
 * (bh-host-v4) and for one container (bhc-…-4) at once; FirewallCommands.applyLines remembered the
 * refusal by address only, so the host-wide element, which the kernel did hold, was left out of the
 * expected bans and check() deleted it as a stray: the host-wide ban was silently dropped.
 */
import { describe, expect, it } from 'vitest';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { DockerUserEnforcer } from '../../../src/enforce/docker-user.js';
import { containerSetName, dockerUserNames } from '../../../src/enforce/docker-user-args.js';
import type { ContainerInfo } from '../../../src/docker/containers.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingRunner } from '../../fakes/recording-runner.js';

const X = 'ab'.repeat(32);
const names = dockerUserNames('host');
const SX4 = containerSetName(names, X, 4);
const BAD = '198.19.150.66';

describe('docker-user: a refusal in a container set is not a refusal in the host-wide set', () => {
  it('check() keeps the host-wide element of an address whose scoped element the kernel refused', async () => {
    const runner = new RecordingRunner();
    const clock = new ManualClock(1_000_000);
    const info = new Map<string, ContainerInfo>([[X, { id: X, name: 'web-x', v4: ['198.19.151.2'], v6: [] }]]);
    const enf = new DockerUserEnforcer({
      runner,
      clock,
      instance: 'host',
      families: [4],
      backend: backendBinaries('legacy', 'test'),
      containers: { info: (id) => info.get(id) ?? null },
    });
    // The kernel refuses the element in the container's set only (any per-element reason).
    runner.on('ipset -exist restore', (call) => {
      const bad = (call.input ?? '').split('\n').findIndex((l) => l.startsWith(`add ${SX4} ${BAD} `));
      return bad < 0 ? { code: 0 } : { code: 1, stderr: `ipset v7.17: Error in line ${bad + 1}: Some kernel refusal` };
    });
    const bans: EnforcerBan[] = [
      { ip: BAD, family: 4, until: null },
      { ip: BAD, family: 4, until: null, scope: X },
    ];
    const r = await enf.apply({ ban: bans, unban: [] });
    expect(r.refused).toEqual([expect.objectContaining({ ip: BAD, scope: X })]);

    // The kernel holds the host-wide element (it was applied), the container set is empty.
    runner.on('ipset list -t', { stdout: `Name: bh-host-v4\nType: hash:ip\nNumber of entries: 1\n\nName: ${SX4}\nType: hash:ip\nNumber of entries: 0\n` });
    runner.on('ipset save bh-host-v4', { stdout: `create bh-host-v4 hash:ip family inet hashsize 1024 maxelem 1048576 timeout 0\nadd bh-host-v4 ${BAD} timeout 0\n` });
    runner.clear();
    const repaired = await enf.check(() => bans);
    const restores = runner.calls.filter((c) => c.line === 'ipset -exist restore').map((c) => c.input ?? '');
    expect(restores.join('')).not.toContain(`del bh-host-v4 ${BAD}`);
    expect(repaired.join('\n')).not.toMatch(/bh-host-v4: .*nobody banned removed/);
  });
});
