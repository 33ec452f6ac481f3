/**
 * The filter tables iptables-nft makes for the agent are gone after its shutdown (the quick start
 * left `table ip filter { chain INPUT { … } }` and the ip6 one in the host's ruleset), and nothing
 * else is ever removed: a table that existed before, or one that gained anyone's rule, chain or a
 * drop policy meanwhile, stays. Real iptables-nft and nft inside throw-away network namespaces.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { backendBinaries } from '../../../src/enforce/backend-mode.js';
import { IptablesEnforcer } from '../../../src/enforce/iptables.js';
import { firewallUnavailable, netnsUnavailable } from '../netns.js';

const sh = new ProcessRunner({ timeoutMs: 20_000 });
const nftMissing = await sh.run('nft', ['--version']).then(() => null, () => 'nft is not installed');
const skip = (await netnsUnavailable()) ?? (await firewallUnavailable('iptables-nft')) ?? nftMissing;
const made: string[] = [];

async function namespace(): Promise<Runner> {
  const ns = `bh-ftl-${randomBytes(3).toString('hex')}`;
  await sh.run('ip', ['netns', 'add', ns]);
  made.push(ns);
  return withPrefix(sh, ['ip', 'netns', 'exec', ns]);
}

const tables = async (ns: Runner): Promise<string[]> =>
  (await ns.run('nft', ['list', 'tables'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();

const enforcer = (ns: Runner, instance = 'ftl') =>
  new IptablesEnforcer({ runner: ns, instance, ports: [8080], backend: backendBinaries('nft', 'integration test') });

afterEach(async () => {
  for (const ns of made.splice(0)) await sh.run('ip', ['netns', 'delete', ns], { okExitCodes: [0, 1] });
});

describe.skipIf(skip !== null)(`filter tables iptables-nft made for the agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('are removed at shutdown when there were none before: the namespace ends as it began', async () => {
    const ns = await namespace();
    expect(await tables(ns)).toEqual([]);
    const enf = enforcer(ns);
    await enf.init();
    await enf.apply({ ban: [{ ip: '198.18.7.7', family: 4, until: Date.now() + 60_000 }, { ip: '2001:db8::7', family: 6, until: Date.now() + 60_000 }], unban: [] });
    expect(await tables(ns)).toEqual(['table ip filter', 'table ip6 filter']);
    await enf.shutdown();
    expect(await tables(ns)).toEqual([]);
    expect((await ns.run('ipset', ['list', '-n'])).stdout.trim()).toBe('');
  });

  it('stay when they existed before the agent started, even empty', async () => {
    const ns = await namespace();
    await ns.run('nft', ['-f', '-'], { input: 'add table ip filter\nadd chain ip filter INPUT { type filter hook input priority 0; policy accept; }\n' });
    const enf = enforcer(ns);
    await enf.init();
    await enf.shutdown();
    expect(await tables(ns)).toEqual(['table ip filter']);
    expect((await ns.run('nft', ['list', 'chain', 'ip', 'filter', 'INPUT'])).stdout).toContain('policy accept');
  });

  it("stay, with what others put there, when anyone's rule, chain or drop policy joined ours", async () => {
    const cases: { what: string; add: (ns: Runner) => Promise<unknown>; left: string }[] = [
      { what: 'a rule', add: (ns) => ns.run('iptables-nft', ['-w', '-A', 'INPUT', '-s', '198.18.9.9', '-j', 'DROP']), left: '198.18.9.9' },
      { what: 'a chain', add: (ns) => ns.run('ip6tables-nft', ['-w', '-N', 'f2b-sshd']), left: 'f2b-sshd' },
      { what: 'a drop policy', add: (ns) => ns.run('iptables-nft', ['-w', '-P', 'INPUT', 'DROP']), left: 'policy drop' },
    ];
    for (const c of cases) {
      const ns = await namespace();
      const enf = enforcer(ns);
      await enf.init();
      await c.add(ns);
      await enf.shutdown();
      const ruleset = (await ns.run('nft', ['list', 'ruleset'])).stdout;
      expect(ruleset, c.what).toContain(c.left);
      expect(ruleset, c.what).not.toContain('BANHAMMER-ftl');
    }
  });

  it('stay while another instance still uses them (and then stay: the instance that found them there never removes them)', async () => {
    const ns = await namespace();
    const first = enforcer(ns, 'one');
    const second = enforcer(ns, 'two');
    await first.init();
    await second.init();
    // The second instance's jumps are in INPUT: the first one's shutdown must leave the table.
    await first.shutdown();
    const ruleset = (await ns.run('nft', ['list', 'ruleset'])).stdout;
    expect(ruleset).toContain('BANHAMMER-two');
    expect(ruleset).not.toContain('BANHAMMER-one');
    await second.shutdown();
    // The second found the tables there (the first had made them): they are not its to remove.
    expect((await ns.run('nft', ['list', 'ruleset'])).stdout).not.toContain('BANHAMMER');
  });
});
