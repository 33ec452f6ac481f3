import { describe, expect, it } from 'vitest';
import { LogEnforcer, type LogRecord } from '../../../src/enforce/dry-run.js';
import type { Enforcer } from '../../../src/enforce/enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';

describe('LogEnforcer: CIDR bans', () => {
  it('accepts a network like the kernel enforcers do, and refuses what they would refuse', async () => {
    const records: LogRecord[] = [];
    const clock = new ManualClock();
    const enf = new LogEnforcer((r) => records.push(r), clock);
    const r = await enf.apply({
      ban: [
        { ip: '198.18.0.0/24', family: 4, until: null },
        { ip: '2001:DB8:1::/48', family: 6, until: clock.now() + 1000 },
        { ip: '0.0.0.0/0', family: 4, until: null },
        { ip: '127.0.0.0/16', family: 4, until: null },
      ],
      unban: [],
    });
    expect(records.map((x) => x.text)).toEqual([
      'would ban 198.18.0.0/24 permanently',
      'would ban 2001:db8:1::/48 until 2026-01-01T00:00:01.000Z',
      'would reject "0.0.0.0/0": 0.0.0.0/0 is /0: it would ban every client',
      'would reject "127.0.0.0/16": 127.0.0.0/16 covers 127.0.0.0/8 (loopback)',
    ]);
    expect(r.refused.map((x) => x.ip)).toEqual(['0.0.0.0/0', '127.0.0.0/16']);
    expect(enf.active().map((a) => a.ip)).toEqual(['198.18.0.0/24', '2001:db8:1::/48']);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.0/24', family: 4 }] });
    expect(enf.active().map((a) => a.ip)).toEqual(['2001:db8:1::/48']);
  });
});

describe('enforcers without CIDR bans', () => {
  it('docker-user refuses a network ban with a clear reason, skips its unban, and never expects it in a set', async () => {
    const { dockerUserBatch, dockerUserNames } = await import('../../../src/enforce/docker-user-args.js');
    const { wantedBySet } = await import('../../../src/enforce/firewall-commands.js');
    const b = dockerUserBatch(
      { ban: [{ ip: '198.18.0.0/24', family: 4, until: null }, { ip: '198.18.1.1', family: 4, until: null }], unban: [{ ip: '198.18.2.0/24', family: 4 }] },
      dockerUserNames('host'),
      0,
      [4, 6],
      () => true,
    );
    expect(b.rejected).toEqual([{ ip: '198.18.0.0/24', family: 4, reason: 'a network (CIDR) ban is not supported by this enforcer' }]);
    expect(b.lines.map((l) => l.text)).toEqual(['add bh-host-v4 198.18.1.1 timeout 0']);
    expect(wantedBySet([{ ip: '198.18.0.0/24', family: 4, until: null }], 0, () => 'bh-host-v4').size).toBe(0);
  });

  it('the map files refuse a network ban with a clear reason', async () => {
    const { MapFile } = await import('../../../src/enforce/map-file.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'bh-map-cidr-'));
    try {
      const map = new MapFile({ path: join(dir, 'banned.map'), render: (entries) => entries.map((e) => e.ip).join('\n'), clock: new ManualClock(), owner: 'test' });
      const refused = map.update({ ban: [{ ip: '198.18.0.0/24', family: 4, until: null }], unban: [{ ip: '198.18.0.0/24', family: 4 }] });
      expect(refused.map((r) => `${r.ip}: ${r.reason}`)).toContain('198.18.0.0/24: a network (CIDR) ban is not supported by this enforcer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Enforcer.cidr says who holds network bans', () => {
  it('is true for iptables and nftables with the cidr option and for the dry run, absent elsewhere', async () => {
    const { IptablesEnforcer } = await import('../../../src/enforce/iptables.js');
    const { NftablesEnforcer } = await import('../../../src/enforce/nftables.js');
    const { LogEnforcer } = await import('../../../src/enforce/dry-run.js');
    const { ApacheMapEnforcer } = await import('../../../src/enforce/apache-map.js');
    const runner = { run: async () => ({ stdout: '', stderr: '', code: 0 }) } as never;
    expect(new IptablesEnforcer({ runner, instance: 'web', ports: [80], cidr: true } as never).cidr).toBe(true);
    expect(new IptablesEnforcer({ runner, instance: 'web', ports: [80] } as never).cidr).toBe(false);
    expect(new NftablesEnforcer({ runner, instance: 'web', ports: [80], cidr: true }).cidr).toBe(true);
    expect(new LogEnforcer(() => {}).cidr).toBe(true);
    expect((new ApacheMapEnforcer({ path: '/tmp/unused-map' }) as Enforcer).cidr).toBeUndefined();
  });
});
