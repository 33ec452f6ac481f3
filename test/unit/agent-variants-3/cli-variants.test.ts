/**
 * Audit of issue 3 (status / ban / unban CLI), round 1 of variants (helper H3): the real CLI main()
 * against a real Daemon behind a real control socket. README: `bantime: -1` (or `permanent`) never
 * expires, and `banhammer ban --for` takes the same durations; `unban IP|NETWORK [--container NAME]`
 * / `unban --all` are two forms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupControlAgents, setupControlAgent } from '../../support/control-agent.js';

afterEach(cleanupControlAgents);

describe('ban --for -1 (fail2ban\'s permanent, offered by every duration message)', () => {
  it('is permanent, with or without a rule, as --for=-1 and --for permanent are', async () => {
    const a = await setupControlAgent();
    for (const [ip, args] of [
      ['198.18.1.2', ['--for', '-1']],
      ['198.18.1.3', ['--rule', 'forbidden', '--for', '-1']],
      ['198.18.1.4', ['--for=-1']],
      ['2001:db8::5', ['--for', 'permanent']],
    ] as const) {
      const r = await a.cli('ban', ip, ...args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/ permanently\n$/);
    }
    const s = JSON.parse((await a.cli('status', '--json')).stdout) as { rules: { name: string; bans?: { ip: string; until: string | null }[] }[] };
    const bans = s.rules.flatMap((r) => (r.bans ?? []).map((b) => `${r.name} ${b.ip} ${b.until}`)).sort();
    expect(bans).toEqual(['forbidden 198.18.1.3 null', 'manual 198.18.1.2 null', 'manual 198.18.1.4 null', 'manual 2001:db8::5 null']);
  });

  it('other negative or zero durations stay refused with exit 2 and nothing banned', async () => {
    const a = await setupControlAgent();
    for (const v of ['-2', '-1h', '0', '-0']) {
      const r = await a.cli('ban', '198.18.1.9', '--for', v);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(a.daemon.status('manual').rules[0]!.currentlyBanned).toBe(0);
  });
});

describe('unban --all with --container', () => {
  it('is refused (exit 2) instead of lifting the bans of every container', async () => {
    const a = await setupControlAgent();
    expect((await a.cli('ban', '198.18.2.1')).code).toBe(0);
    expect((await a.cli('ban', '198.18.2.2', '--rule', 'forbidden')).code).toBe(0);
    const r = await a.cli('unban', '--all', '--container', 'shop');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--all.*--container/);
    expect([...a.enforcer.held.keys()].sort()).toEqual(['198.18.2.1', '198.18.2.2']);
    expect((await a.cli('unban', '--all')).stdout).toBe('lifted 2 bans\n');
    expect(a.enforcer.held.size).toBe(0);
  });
});

describe('passing variants: exit codes and output of each command', () => {
  it('status, ban, unban and why: 0 done, 1 nothing to do / nothing known, 2 refused; errors on stderr only', async () => {
    const a = await setupControlAgent();
    const cases: [string[], number, RegExp][] = [
      [['ban', 'not-an-ip'], 2, /^$/],
      [['ban', '127.0.0.1'], 2, /^$/], // loopback: never banned
      [['ban', '198.18.99.5'], 2, /^$/], // ignoreip
      [['ban', '198.18.1.1', '--rule', 'nosuch'], 2, /^$/],
      [['ban', '198.18.1.1', '--for', '1h', '--container', 'shop'], 2, /^$/], // not host mode
      [['ban', '::ffff:198.18.1.9'], 0, /^banned 198\.18\.1\.9 \(manual\) permanently\n$/],
      [['status', 'nosuch'], 2, /^$/],
      [['status', 'a', 'b'], 2, /^$/],
      [['reload', 'x'], 2, /^$/],
      [['unban', '198.18.1.1'], 1, /^198\.18\.1\.1 was not banned\n$/],
      [['unban', '198.18.0.5/16'], 1, /^198\.18\.0\.0\/16 was not banned\n$/],
      [['why', 'garbage'], 2, /^$/],
      [['why', '198.18.200.2'], 1, /not banned/],
      [['why', '198.18.1.9', '--json'], 0, /^\{"ip":"198\.18\.1\.9",/],
      [['unban', '198.18.1.9'], 0, /^lifted 1 ban of 198\.18\.1\.9\n$/],
      [['unban', '--all'], 0, /^lifted 0 bans\n$/],
    ];
    for (const [argv, code, out] of cases) {
      const r = await a.cli(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code });
      expect(r.stdout).toMatch(out);
      if (code === 2) expect(r.stderr.trim().split('\n')).toHaveLength(1);
      else expect(r.stderr).toBe('');
    }
  });

  it('status --json keeps its top-level keys with and without a RULE', async () => {
    const a = await setupControlAgent();
    await a.cli('ban', '198.18.3.3', '--rule', 'forbidden', '--for', '1h');
    for (const argv of [['status', '--json'], ['status', 'forbidden', '--json']]) {
      const r = await a.cli(...argv);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as Record<string, unknown> & { rules: Record<string, unknown>[] };
      expect(Object.keys(j)).toEqual(['instance', 'enforcer', 'since', 'files', 'health', 'rules']);
      const f = j.rules.find((x) => x.name === 'forbidden')!;
      expect(f).toMatchObject({ currentlyFailed: 0, totalFailed: 0, currentlyBanned: 1, totalBanned: 1 });
    }
  });
});
