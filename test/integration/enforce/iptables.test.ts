/**
 * IptablesEnforcer against the real kernel, inside throw-away network namespaces (never the host's
 * firewall), once per iptables backend that works here. The server namespace runs a TCP server on a
 * protected port (8080) and an unprotected one (8081); connections come from the client namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import { IptablesEnforcer, setsRecreated } from '../../../src/enforce/iptables.js';
import { ADDR, createLab, firewallUnavailable, netnsUnavailable, type Lab } from '../netns.js';

const PROTECTED = 8080;
const OPEN = 8081;
const noNetns = await netnsUnavailable();

/** A runner that counts the processes started through it. */
function counting(inner: Runner): Runner & { count: (cmd: string) => number } {
  const seen: string[] = [];
  return {
    run(cmd, args, opts) {
      seen.push([cmd, ...args].join(' '));
      return inner.run(cmd, args, opts);
    },
    count: (prefix) => seen.filter((l) => l.startsWith(prefix)).length,
  };
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, limitMs: number): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen within ${limitMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

for (const mode of ['legacy', 'nft'] as const) {
  const skip = noNetns ?? (await firewallUnavailable(`iptables-${mode}`));
  describe.skipIf(skip !== null)(`IptablesEnforcer in a network namespace, iptables-${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let lab: Lab | undefined;
    let ns: Runner;
    let backend: Backend;
    let enf: IptablesEnforcer;
    let other: IptablesEnforcer;
    const from = (src: string, port = PROTECTED, timeoutMs = 1500) =>
      lab!.canConnect({ to: src.includes(':') ? ADDR.serverV6 : ADDR.serverV4, port, from: src, timeoutMs });
    const ipt = (args: string[], f: 4 | 6 = 4) => ns.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', ...args]);
    const now = () => Date.now();

    beforeAll(async () => {
      lab = await createLab();
      await lab.startServer([PROTECTED, OPEN]);
      ns = lab.runIn(lab.server);
      backend = backendBinaries(mode, 'integration test');
      enf = new IptablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED], backend });
      // A second instance in the same namespace, protecting the other port with REJECT.
      other = new IptablesEnforcer({ runner: ns, instance: 'other', ports: [OPEN], backend, blockAction: 'reject', families: [4] });
      await enf.init();
      await other.init();
    });

    afterAll(async () => {
      await lab?.destroy();
    });

    it('bans a client on the protected port only, and nobody else', async () => {
      expect(await from(ADDR.clientV4)).toBe('connected');
      await enf.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: now() + 600_000 }], unban: [] });
      expect(await from(ADDR.clientV4)).toBe('timeout');
      expect(await from(ADDR.clientV4, OPEN)).toBe('connected');
      expect(await from(ADDR.clientV4b)).toBe('connected');
      const held = await enf.listSet(4);
      expect(held.map((e) => e.ip)).toEqual([ADDR.clientV4]);
      expect(held[0]!.timeout).toBeGreaterThan(590);
      await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }] });
      expect(await from(ADDR.clientV4)).toBe('connected');
    });

    it('REJECT answers with a reset, and one instance does not affect the other', async () => {
      await other.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: null }], unban: [] });
      expect(await from(ADDR.clientV4b, OPEN)).toBe('refused');
      expect(await from(ADDR.clientV4b, PROTECTED)).toBe('connected');
      await other.apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });
      expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
    });

    it('bans over IPv6', async () => {
      expect(await from(ADDR.clientV6)).toBe('connected');
      await enf.apply({ ban: [{ ip: ADDR.clientV6, family: 6, until: null }], unban: [] });
      expect(await from(ADDR.clientV6)).toBe('timeout');
      expect(await from(ADDR.clientV6b)).toBe('connected');
      expect(await from(ADDR.clientV6, OPEN)).toBe('connected');
      expect(await enf.listSet(6)).toEqual([{ ip: ADDR.clientV6, timeout: 0 }]);
      await enf.apply({ ban: [], unban: [{ ip: ADDR.clientV6, family: 6 }] });
      expect(await from(ADDR.clientV6)).toBe('connected');
    });

    it('lets the kernel expire a ban by itself', async () => {
      await enf.apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 2000 }], unban: [] });
      expect(await from(ADDR.clientV4b, PROTECTED, 1000)).toBe('timeout');
      await until('kernel-side expiry', () => enf.listSet(4), (s) => s.length === 0, 10_000);
      expect(await from(ADDR.clientV4b)).toBe('connected');
    });

    it('init() again reuses everything: no duplicate rules, bans kept', async () => {
      await enf.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
      await enf.init();
      await enf.init();
      for (const f of [4, 6] as const) {
        const input = (await ipt(['-S', 'INPUT'], f)).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
        expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`]);
        const chain = (await ipt(['-S', 'BANHAMMER-itest'], f)).stdout.trim().split('\n');
        expect(chain).toEqual(['-N BANHAMMER-itest', `-A BANHAMMER-itest -p tcp -m set --match-set bh-itest-v${f} src -j DROP`]);
      }
      expect((await enf.listSet(4)).map((e) => e.ip)).toEqual([ADDR.clientV4]);
      expect(await from(ADDR.clientV4)).toBe('timeout');
      expect(await enf.check()).toEqual([]);
    });

    it('init() with other ports replaces the old jump', async () => {
      const moved = new IptablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED, 9000], backend, families: [4] });
      await moved.init();
      let input = (await ipt(['-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
      expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED},9000 -j BANHAMMER-itest`]);
      await enf.init();
      input = (await ipt(['-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
      expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`]);
    });

    it('check() repairs a flushed chain', async () => {
      await ipt(['-F', 'BANHAMMER-itest']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      expect(await enf.check()).toEqual(['chain (IPv4): BANHAMMER-itest had lost its rule and was refilled']);
      expect(await from(ADDR.clientV4)).toBe('timeout');
    });

    it('check() repairs a deleted jump', async () => {
      await ipt(['-D', 'INPUT', '-p', 'tcp', '-m', 'multiport', '--dports', String(PROTECTED), '-j', 'BANHAMMER-itest']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      const repairs = await enf.check();
      expect(repairs).toHaveLength(1);
      expect(repairs[0]).toMatch(/^jump \(IPv4\): INPUT .* was missing and was re-added$/);
      expect(await from(ADDR.clientV4)).toBe('timeout');
    });

    it('check() re-creates a destroyed set and says it must be refilled', async () => {
      await ipt(['-F', 'BANHAMMER-itest']);
      await ns.run('ipset', ['destroy', 'bh-itest-v4']);
      const repairs = await enf.check();
      expect(repairs).toHaveLength(2);
      expect(setsRecreated(repairs)).toEqual([4]);
      expect(await enf.listSet(4)).toEqual([]);
      expect(await from(ADDR.clientV4)).toBe('connected');
      await enf.apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
      expect(await from(ADDR.clientV4)).toBe('timeout');
      expect(await enf.check()).toEqual([]);
    });

    it('applies 10,000 bans in one ipset call per family', async () => {
      const runner = counting(ns);
      const bulk = new IptablesEnforcer({ runner, instance: 'bulk', ports: [PROTECTED], backend });
      await bulk.init();
      const ban = Array.from({ length: 10_000 }, (_, i) => ({ ip: `198.19.${i >> 8}.${i & 255}`, family: 4 as const, until: now() + 3_600_000 }));
      const t0 = performance.now();
      await bulk.apply({ ban, unban: [] });
      const ms = performance.now() - t0;
      console.log(`[iptables-${mode}] applied 10,000 bans in ${ms.toFixed(0)} ms (one ipset restore)`);
      expect(runner.count('ipset -exist restore')).toBe(1);
      expect((await bulk.listSet(4)).length).toBe(10_000);
      await bulk.shutdown();
      expect((await ns.run('ipset', ['list', '-n'])).stdout).not.toContain('bh-bulk');
    });

    it('shutdown() removes exactly its own jumps, chain and sets', async () => {
      await ipt(['-A', 'INPUT', '-p', 'tcp', '--dport', '9999', '-j', 'ACCEPT']);
      await ns.run('ipset', ['create', 'bh-unrelated', 'hash:ip']);
      await enf.shutdown();
      for (const f of [4, 6] as const) {
        const save = (await ns.run(f === 4 ? backend.iptablesSave : backend.ip6tablesSave, [])).stdout;
        expect(save).not.toContain('BANHAMMER-itest');
        expect(save).not.toContain('bh-itest');
      }
      const v4 = (await ns.run(backend.iptablesSave, [])).stdout;
      expect(v4).toContain('-A INPUT -p tcp -m tcp --dport 9999 -j ACCEPT');
      expect(v4).toContain('BANHAMMER-other');
      const sets = (await ns.run('ipset', ['list', '-n'])).stdout.trim().split('\n').sort();
      expect(sets).toEqual(['bh-other-v4', 'bh-unrelated']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      await enf.shutdown();
      await other.shutdown();
      expect((await ns.run('ipset', ['list', '-n'])).stdout.trim()).toBe('bh-unrelated');
    });
  });
}

describe.skipIf(noNetns !== null)('backend probe and errors in a namespace', () => {
  let lab: Lab | undefined;
  afterAll(async () => {
    await lab?.destroy();
  });
  beforeAll(async () => {
    lab = await createLab();
  });

  it('auto mode picks a working backend in a fresh namespace', async () => {
    const enf = new IptablesEnforcer({ runner: lab!.runIn(lab!.server), instance: 'auto', ports: [80] });
    await enf.init();
    expect(['nft', 'legacy']).toContain(enf.backend?.mode);
    expect(await enf.check()).toEqual([]);
    await enf.shutdown();
  });

  it('reports missing NET_ADMIN as such', async () => {
    const dropped = withPrefix(new ProcessRunner(), ['ip', 'netns', 'exec', lab!.server, 'capsh', '--drop=cap_net_admin', '--']);
    // capsh runs "--" arguments through /bin/bash: give it a script that execs argv verbatim.
    const runner: Runner = { run: (cmd, args, opts) => dropped.run('-c', ['exec "$0" "$@"', cmd, ...args], opts) };
    const enf = new IptablesEnforcer({ runner, instance: 'nocap', ports: [80], mode: 'auto' });
    await expect(enf.init()).rejects.toMatchObject({ code: 'BH_ERR_NO_NET_ADMIN', hint: expect.stringContaining('NET_ADMIN') });
  });
});
