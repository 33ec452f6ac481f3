/**
 * IptablesEnforcer against the real kernel, inside throw-away network namespaces (never the host's
 * firewall), once per iptables backend that works here. The server namespace runs a TCP server and
 * a UDP echo server (HTTP/3 runs over UDP) on a protected port (8080) and an unprotected one (8081);
 * connections and datagrams come from the client namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { backendBinaries, type Backend } from '../../../src/enforce/backend-mode.js';
import type { EnforcerBan, EnforcerBatch } from '../../../src/enforce/enforcer.js';
import { IptablesEnforcer, setsRecreated } from '../../../src/enforce/iptables.js';
import { DROP_WAIT_MS, ADDR, createLab, firewallUnavailable, killAndDelete, netnsUnavailable, type Lab } from '../netns.js';

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
    /** One UDP datagram from `src`: answered (delivered), timeout (dropped) or refused (rejected). */
    const udp = (src: string, port = PROTECTED, timeoutMs = 1500) =>
      lab!.sendUdp({ to: src.includes(':') ? ADDR.serverV6 : ADDR.serverV4, port, from: src, timeoutMs });
    const ipt = (args: string[], f: 4 | 6 = 4) => ns.run(f === 4 ? backend.iptables : backend.ip6tables, ['-w', ...args]);
    const now = () => Date.now();
    // The ban book's view for check(expected): every ban applied through apply() below (ended ones
    // included: the enforcer must leave them out itself).
    const book = new Map<string, EnforcerBan>();
    const expected = () => [...book.values()];
    const apply = (batch: EnforcerBatch) => {
      for (const u of batch.unban) book.delete(u.ip);
      for (const b of batch.ban) book.set(b.ip, b);
      return enf.apply(batch);
    };

    beforeAll(async () => {
      lab = await createLab();
      await lab.startServer([PROTECTED, OPEN]);
      await lab.startUdpServer([PROTECTED, OPEN]);
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
      await apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: now() + 600_000 }], unban: [] });
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await from(ADDR.clientV4, OPEN)).toBe('connected');
      expect(await from(ADDR.clientV4b)).toBe('connected');
      const held = await enf.listSet(4);
      expect(held.map((e) => e.ip)).toEqual([ADDR.clientV4]);
      expect(held[0]!.timeout).toBeGreaterThan(590);
      await apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }] });
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
      await apply({ ban: [{ ip: ADDR.clientV6, family: 6, until: null }], unban: [] });
      expect(await from(ADDR.clientV6, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await from(ADDR.clientV6b)).toBe('connected');
      expect(await from(ADDR.clientV6, OPEN)).toBe('connected');
      expect(await enf.listSet(6)).toEqual([{ ip: ADDR.clientV6, timeout: 0 }]);
      await apply({ ban: [], unban: [{ ip: ADDR.clientV6, family: 6 }] });
      expect(await from(ADDR.clientV6)).toBe('connected');
    });

    it('closes the protected port to a banned client over UDP as well (HTTP/3), IPv4 and IPv6; other ports and clients unaffected', async () => {
      for (const src of [ADDR.clientV4, ADDR.clientV6]) expect(await udp(src)).toBe('answered');
      await apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: now() + 600_000 }, { ip: ADDR.clientV6, family: 6, until: null }], unban: [] });
      for (const src of [ADDR.clientV4, ADDR.clientV6]) {
        expect(await udp(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
        expect(await from(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
        expect(await udp(src, OPEN)).toBe('answered');
      }
      for (const src of [ADDR.clientV4b, ADDR.clientV6b]) expect(await udp(src)).toBe('answered');
      expect(await enf.check(expected)).toEqual([]);
      await apply({ ban: [], unban: [{ ip: ADDR.clientV4, family: 4 }, { ip: ADDR.clientV6, family: 6 }] });
      for (const src of [ADDR.clientV4, ADDR.clientV6]) expect(await udp(src)).toBe('answered');
    });

    it('REJECT answers UDP with an ICMP port unreachable (ICMPv6 over IPv6) and TCP with a reset', async () => {
      const other6 = new IptablesEnforcer({ runner: ns, instance: 'other6', ports: [OPEN], backend, blockAction: 'reject', families: [6] });
      const bans: EnforcerBan[] = [{ ip: ADDR.clientV4b, family: 4, until: null }, { ip: ADDR.clientV6b, family: 6, until: null }];
      try {
        await other6.init();
        await other.apply({ ban: bans, unban: [] });
        await other6.apply({ ban: bans, unban: [] });
        for (const src of [ADDR.clientV4b, ADDR.clientV6b]) {
          expect(await udp(src, OPEN)).toBe('refused');
          expect(await from(src, OPEN)).toBe('refused');
          expect(await udp(src, PROTECTED)).toBe('answered');
        }
        expect(await udp(ADDR.clientV4, OPEN)).toBe('answered');
        expect(await udp(ADDR.clientV6, OPEN)).toBe('answered');
        // iptables and ip6tables print the UDP reject rules as they are built: nothing to repair.
        expect(await other.check(() => bans)).toEqual([]);
        expect(await other6.check(() => bans)).toEqual([]);
        expect((await ipt(['-S', 'BANHAMMER-other6'], 6)).stdout).toContain('-A BANHAMMER-other6 -p udp -m set --match-set bh-other6-v6 src -j REJECT --reject-with icmp6-port-unreachable');
        await other.apply({ ban: [], unban: bans });
        expect(await udp(ADDR.clientV4b, OPEN)).toBe('answered');
      } finally {
        await other6.shutdown();
      }
      expect(await udp(ADDR.clientV6b, OPEN)).toBe('answered');
    });

    it('lets the kernel expire a ban by itself', async () => {
      await apply({ ban: [{ ip: ADDR.clientV4b, family: 4, until: now() + 2000 }], unban: [] });
      expect(await from(ADDR.clientV4b, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      await until('kernel-side expiry', () => enf.listSet(4), (s) => s.length === 0, 10_000);
      expect(await from(ADDR.clientV4b)).toBe('connected');
    });

    it('check() across expiry boundaries repairs nothing (the kernel and the ban book end bans a moment apart)', async () => {
      const t = now();
      await apply({
        ban: [
          { ip: '198.19.8.1', family: 4, until: t + 700 },
          { ip: '198.19.8.2', family: 4, until: t + 1300 },
          { ip: '198.19.8.3', family: 4, until: t + 2100 },
        ],
        unban: [],
      });
      const seen: string[] = [];
      while (now() < t + 3500) {
        seen.push(...(await enf.check(expected)));
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen).toEqual([]);
      expect((await enf.listSet(4)).map((e) => e.ip)).not.toContain('198.19.8.3');
    });

    it('init() again reuses everything: no duplicate rules, bans kept', async () => {
      await apply({ ban: [{ ip: ADDR.clientV4, family: 4, until: null }], unban: [] });
      await enf.init();
      await enf.init();
      for (const f of [4, 6] as const) {
        const input = (await ipt(['-S', 'INPUT'], f)).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
        expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`, `-A INPUT -p udp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`]);
        const chain = (await ipt(['-S', 'BANHAMMER-itest'], f)).stdout.trim().split('\n');
        expect(chain).toEqual([
          '-N BANHAMMER-itest',
          `-A BANHAMMER-itest -p tcp -m set --match-set bh-itest-v${f} src -j DROP`,
          `-A BANHAMMER-itest -p udp -m set --match-set bh-itest-v${f} src -j DROP`,
        ]);
      }
      expect((await enf.listSet(4)).map((e) => e.ip)).toEqual([ADDR.clientV4]);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
    });

    it('init() with other ports replaces the old jumps', async () => {
      const moved = new IptablesEnforcer({ runner: ns, instance: 'itest', ports: [PROTECTED, 9000], backend, families: [4] });
      await moved.init();
      let input = (await ipt(['-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
      expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED},9000 -j BANHAMMER-itest`, `-A INPUT -p udp -m multiport --dports ${PROTECTED},9000 -j BANHAMMER-itest`]);
      await enf.init();
      input = (await ipt(['-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes('BANHAMMER-itest'));
      expect(input).toEqual([`-A INPUT -p tcp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`, `-A INPUT -p udp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`]);
    });

    it('check() repairs a flushed chain', async () => {
      await ipt(['-F', 'BANHAMMER-itest']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      expect(await enf.check(expected)).toEqual(['chain (IPv4): BANHAMMER-itest had lost its rule and was refilled']);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    });

    it('check() repairs a deleted jump', async () => {
      await ipt(['-D', 'INPUT', '-p', 'tcp', '-m', 'multiport', '--dports', String(PROTECTED), '-j', 'BANHAMMER-itest']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      const repairs = await enf.check(expected);
      expect(repairs).toHaveLength(1);
      expect(repairs[0]).toMatch(/^jump \(IPv4\): INPUT .* was missing and was re-added$/);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
    });

    it('check() re-creates a destroyed set with its bans', async () => {
      await ipt(['-F', 'BANHAMMER-itest']);
      await ns.run('ipset', ['destroy', 'bh-itest-v4']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      const repairs = await enf.check(expected);
      expect(repairs).toEqual([
        'set re-created (IPv4): bh-itest-v4 was missing and was re-created; its bans are re-added',
        'chain (IPv4): BANHAMMER-itest had lost its rule and was refilled',
        'set (IPv4): bh-itest-v4: 1 missing ban(s) re-added',
      ]);
      expect(setsRecreated(repairs)).toEqual([4]);
      expect(await enf.listSet(4)).toEqual([{ ip: ADDR.clientV4, timeout: 0 }]);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
    });

    it('check() after `ipset flush`: every unexpired ban is back within one check, with its remaining timeout', async () => {
      const t = now();
      const extra: EnforcerBan[] = [
        { ip: '198.19.7.1', family: 4, until: t + 3_600_000 },
        { ip: '198.19.7.2', family: 4, until: null },
        { ip: '2001:db8:7::1', family: 6, until: t + 600_000 },
      ];
      await apply({ ban: extra, unban: [] });
      book.set('198.19.7.3', { ip: '198.19.7.3', family: 4, until: t - 1000 }); // ended: must not come back
      await ns.run('ipset', ['flush', 'bh-itest-v4']);
      await ns.run('ipset', ['flush', 'bh-itest-v6']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      const repairs = await enf.check(expected);
      expect(repairs).toEqual(['set (IPv4): bh-itest-v4: 3 missing ban(s) re-added', 'set (IPv6): bh-itest-v6: 1 missing ban(s) re-added']);
      const v4 = new Map((await enf.listSet(4)).map((e) => [e.ip, e.timeout]));
      expect([...v4.keys()].sort()).toEqual([ADDR.clientV4, '198.19.7.1', '198.19.7.2'].sort());
      expect(v4.get(ADDR.clientV4)).toBe(0);
      expect(v4.get('198.19.7.2')).toBe(0);
      expect(v4.get('198.19.7.1')).toBeGreaterThan(3500);
      expect(v4.get('198.19.7.1')).toBeLessThanOrEqual(3600);
      expect((await enf.listSet(6)).map((e) => e.ip)).toEqual(['2001:db8:7::1']);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
      book.delete('198.19.7.3');
      await apply({ ban: [], unban: extra });
    });

    it('check() removes an ACCEPT inserted into our chain', async () => {
      await ipt(['-I', 'BANHAMMER-itest', '1', '-j', 'ACCEPT']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      expect(await enf.check(expected)).toEqual([
        'chain (IPv4): BANHAMMER-itest held 1 rule(s) banhammer did not put there (first: "-A BANHAMMER-itest -j ACCEPT") and was rebuilt',
      ]);
      const chain = (await ipt(['-S', 'BANHAMMER-itest'])).stdout.trim().split('\n');
      expect(chain).toEqual(['-N BANHAMMER-itest', '-A BANHAMMER-itest -p tcp -m set --match-set bh-itest-v4 src -j DROP', '-A BANHAMMER-itest -p udp -m set --match-set bh-itest-v4 src -j DROP']);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
    });

    it('check() moves our jump back above an ACCEPT inserted at the top of INPUT', async () => {
      await ipt(['-I', 'INPUT', '1', '-p', 'tcp', '-j', 'ACCEPT']);
      expect(await from(ADDR.clientV4)).toBe('connected');
      expect(await enf.check(expected)).toEqual([
        'jump (IPv4): INPUT had 1 rule(s) above banhammer\'s jump (first: "-A INPUT -p tcp -j ACCEPT"); the jump was moved back to the top',
      ]);
      const input = (await ipt(['-S', 'INPUT'])).stdout.trim().split('\n');
      expect(input.slice(1, 4)).toEqual([
        `-A INPUT -p tcp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`,
        `-A INPUT -p udp -m multiport --dports ${PROTECTED} -j BANHAMMER-itest`,
        '-A INPUT -p tcp -j ACCEPT',
      ]);
      expect(await from(ADDR.clientV4, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual([]);
      await ipt(['-D', 'INPUT', '-p', 'tcp', '-j', 'ACCEPT']);
    });

    it('check() removes an element nobody banned from our set', async () => {
      await ns.run('ipset', ['add', 'bh-itest-v4', ADDR.clientV4b, 'timeout', '0']);
      expect(await from(ADDR.clientV4b, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await enf.check(expected)).toEqual(['set (IPv4): bh-itest-v4: 1 entry nobody banned removed']);
      expect((await enf.listSet(4)).map((e) => e.ip)).toEqual([ADDR.clientV4]);
      expect(await from(ADDR.clientV4b)).toBe('connected');
    });

    it('an element the kernel refuses never holds back the rest of its batch, nor later batches', async () => {
      // Validation refuses 0.0.0.0 before ipset sees it ...
      const r1 = await apply({ ban: [{ ip: '0.0.0.0', family: 4, until: null }, { ip: ADDR.clientV4b, family: 4, until: null }], unban: [] });
      expect(r1?.refused).toEqual([{ ip: '0.0.0.0', family: 4, reason: 'an unspecified address cannot be a client' }]);
      expect(await from(ADDR.clientV4b, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      // ... so, to see the kernel refuse one, a runner rewrites 198.19.9.9 into 0.0.0.0 on ipset's stdin.
      const poisoned: Runner = {
        run: (cmd, args, opts) => ns.run(cmd, args, opts?.input === undefined ? opts : { ...opts, input: opts.input.replaceAll('198.19.9.9', '0.0.0.0') }),
      };
      const enf2 = new IptablesEnforcer({ runner: poisoned, instance: 'itest', ports: [PROTECTED], backend });
      const r2 = await enf2.apply({
        ban: [
          { ip: '198.19.9.1', family: 4, until: null },
          { ip: '198.19.9.9', family: 4, until: null },
          { ip: '198.19.9.2', family: 4, until: now() + 60_000 },
          { ip: '2001:db8:9::1', family: 6, until: null },
        ],
        unban: [],
      });
      expect(r2?.refused).toEqual([{ ip: '198.19.9.9', family: 4, reason: 'refused by ipset: Null-valued element, cannot be stored in a hash type of set' }]);
      const v4 = (await enf.listSet(4)).map((e) => e.ip);
      expect(v4).toEqual(expect.arrayContaining(['198.19.9.1', '198.19.9.2']));
      expect(v4).not.toContain('0.0.0.0');
      expect((await enf.listSet(6)).map((e) => e.ip)).toContain('2001:db8:9::1');
      expect(await enf2.apply({ ban: [{ ip: '198.19.9.3', family: 4, until: null }], unban: [] })).toEqual({ refused: [] });
      expect((await enf.listSet(4)).map((e) => e.ip)).toContain('198.19.9.3');
      await enf2.apply({
        ban: [],
        unban: [
          { ip: '198.19.9.1', family: 4 },
          { ip: '198.19.9.2', family: 4 },
          { ip: '198.19.9.3', family: 4 },
          { ip: '2001:db8:9::1', family: 6 },
        ],
      });
      await apply({ ban: [], unban: [{ ip: ADDR.clientV4b, family: 4 }] });
      expect(await from(ADDR.clientV4b)).toBe('connected');
    });

    it('CIDR bans (hash:net): a banned network blocks a client inside it, not one outside; unban lifts; a flushed set and chain are repaired', async () => {
      const nets = new IptablesEnforcer({ runner: ns, instance: 'itnet', ports: [OPEN], backend, cidr: true });
      const netBook = new Map<string, EnforcerBan>();
      const expectedNets = () => [...netBook.values()];
      const applyNets = (batch: EnforcerBatch) => {
        for (const u of batch.unban) netBook.delete(u.ip);
        for (const b of batch.ban) netBook.set(b.ip, b);
        return nets.apply(batch);
      };
      try {
        await nets.init();
        // On the other port (OPEN: the itest instance guards PROTECTED), from clients
        // 198.18.0.3 and 2001:db8::3. First networks they are not in.
        let r = await applyNets({ ban: [{ ip: '198.18.1.0/24', family: 4, until: now() + 600_000 }, { ip: '2001:db8:1::/48', family: 6, until: null }], unban: [] });
        expect(r.refused).toEqual([]);
        expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
        expect(await from(ADDR.clientV6b, OPEN)).toBe('connected');
        // Networks they are in.
        r = await applyNets({ ban: [{ ip: '198.18.0.0/24', family: 4, until: now() + 600_000 }, { ip: '2001:db8::/64', family: 6, until: null }], unban: [] });
        expect(r.refused).toEqual([]);
        expect(await from(ADDR.clientV4b, OPEN, DROP_WAIT_MS)).toBe('timeout');
        expect(await from(ADDR.clientV6b, OPEN, DROP_WAIT_MS)).toBe('timeout');
        expect(await from(ADDR.clientV4b, PROTECTED)).toBe('connected');
        const held = await nets.listSet(4, true);
        expect(held.map((e) => e.ip).sort()).toEqual(['198.18.0.0/24', '198.18.1.0/24']);
        expect(held.every((e) => e.timeout > 590)).toBe(true);
        expect(await nets.listSet(6, true)).toEqual(expect.arrayContaining([{ ip: '2001:db8::/64', timeout: 0 }]));
        expect(await nets.listSet(4)).toEqual([]);
        expect(await nets.check(expectedNets)).toEqual([]);

        // Someone flushes the network set and our chain: one check puts both back.
        await ns.run('ipset', ['flush', 'bh-itnet-n4']);
        await ipt(['-F', 'BANHAMMER-itnet']);
        expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
        const repairs = await nets.check(expectedNets);
        expect(repairs).toEqual(expect.arrayContaining(['chain (IPv4): BANHAMMER-itnet had lost its rule and was refilled', 'set (IPv4): bh-itnet-n4: 2 missing ban(s) re-added']));
        expect((await ipt(['-S', 'BANHAMMER-itnet'])).stdout).toContain('--match-set bh-itnet-n4 src -j DROP');
        expect(await from(ADDR.clientV4b, OPEN, DROP_WAIT_MS)).toBe('timeout');
        expect(await nets.check(expectedNets)).toEqual([]);

        // unban of the same prefix lifts it.
        await applyNets({ ban: [], unban: [{ ip: '198.18.0.0/24', family: 4 }, { ip: '2001:db8::/64', family: 6 }] });
        expect(await from(ADDR.clientV4b, OPEN)).toBe('connected');
        expect(await from(ADDR.clientV6b, OPEN)).toBe('connected');
        expect((await nets.listSet(4, true)).map((e) => e.ip)).toEqual(['198.18.1.0/24']);
      } finally {
        await nets.shutdown();
      }
      expect((await ns.run('ipset', ['list', '-n'])).stdout).not.toContain('bh-itnet');
      for (const f of [4, 6] as const) expect((await ns.run(f === 4 ? backend.iptablesSave : backend.ip6tablesSave, [])).stdout).not.toContain('BANHAMMER-itnet');
    });

    it('CIDR bans close UDP as well: the clients of a banned network get no answer on the guarded port, IPv4 and IPv6', async () => {
      const nets = new IptablesEnforcer({ runner: ns, instance: 'itnetu', ports: [OPEN], backend, cidr: true });
      try {
        await nets.init();
        // 198.18.0.2/31 holds both client addresses; 2001:db8::2/127 both IPv6 ones.
        const r = await nets.apply({ ban: [{ ip: '198.18.0.2/31', family: 4, until: now() + 600_000 }, { ip: '2001:db8::2/127', family: 6, until: null }], unban: [] });
        expect(r.refused).toEqual([]);
        for (const src of [ADDR.clientV4, ADDR.clientV4b, ADDR.clientV6, ADDR.clientV6b]) {
          expect(await udp(src, OPEN, DROP_WAIT_MS)).toBe('timeout');
          // The other port, unless the itest instance bans this client there (an earlier test left one).
          if (!book.has(src)) expect(await udp(src, PROTECTED)).toBe('answered');
        }
        await nets.apply({ ban: [], unban: [{ ip: '198.18.0.2/31', family: 4 }, { ip: '2001:db8::2/127', family: 6 }] });
        for (const src of [ADDR.clientV4b, ADDR.clientV6b]) expect(await udp(src, OPEN)).toBe('answered');
      } finally {
        await nets.shutdown();
      }
      expect((await ns.run('ipset', ['list', '-n'])).stdout).not.toContain('bh-itnetu');
    });

    it('an agent started over the TCP-only layout of an older version ends with exactly the new layout, never letting the banned client through on TCP; shutdown removes old and new rules', async () => {
      const jump = (proto: string, ports: string) => ['-p', proto, '-m', 'multiport', '--dports', ports, '-j', 'BANHAMMER-upg'];
      const rule = (proto: string, f: 4 | 6) => ['-p', proto, '-m', 'set', '--match-set', `bh-upg-v${f}`, 'src', '-j', 'DROP'];
      const listing = async (chain: string, f: 4 | 6) => (await ipt(['-S', chain], f)).stdout.trim().split('\n');
      const before = { 4: await listing('INPUT', 4), 6: await listing('INPUT', 6) };
      // What the previous version laid out (TCP only): the sets, the chain with its TCP rule, the TCP
      // jump at the top of INPUT; and a TCP jump for a port its configuration had then (9000).
      for (const f of [4, 6] as const) {
        await ns.run('ipset', ['create', `bh-upg-v${f}`, 'hash:ip', 'family', f === 4 ? 'inet' : 'inet6', 'timeout', '0', 'maxelem', '1048576']);
        await ipt(['-N', 'BANHAMMER-upg'], f);
        await ipt(['-A', 'BANHAMMER-upg', ...rule('tcp', f)], f);
        await ipt(['-I', 'INPUT', '1', ...jump('tcp', '9000')], f);
        await ipt(['-I', 'INPUT', '1', ...jump('tcp', String(PROTECTED))], f);
      }
      await ns.run('ipset', ['add', 'bh-upg-v4', ADDR.clientV4b, 'timeout', '0']);
      await ns.run('ipset', ['add', 'bh-upg-v6', ADDR.clientV6b, 'timeout', '0']);
      // The escape being fixed: TCP closed, UDP open.
      expect(await from(ADDR.clientV4b, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      expect(await udp(ADDR.clientV4b)).toBe('answered');

      const upg = new IptablesEnforcer({ runner: ns, instance: 'upg', ports: [PROTECTED], backend });
      // While it starts, the banned client keeps trying TCP (at most 40 tries, at most 20 s).
      let starting = true;
      const tries: string[] = [];
      const probing = (async () => {
        const end = Date.now() + 20_000;
        while (starting && tries.length < 40 && Date.now() < end) tries.push(await from(ADDR.clientV4b, PROTECTED, 300));
      })();
      try {
        await upg.init();
      } finally {
        starting = false;
        await probing;
      }
      expect(tries.length).toBeGreaterThan(0);
      expect(tries.filter((t) => t !== 'timeout')).toEqual([]);

      for (const f of [4, 6] as const) {
        expect(await listing('INPUT', f)).toEqual([
          before[f][0],
          ['-A', 'INPUT', ...jump('tcp', String(PROTECTED))].join(' '),
          ['-A', 'INPUT', ...jump('udp', String(PROTECTED))].join(' '),
          ...before[f].slice(1),
        ]);
        expect(await listing('BANHAMMER-upg', f)).toEqual(['-N BANHAMMER-upg', ['-A', 'BANHAMMER-upg', ...rule('tcp', f)].join(' '), ['-A', 'BANHAMMER-upg', ...rule('udp', f)].join(' ')]);
      }
      // The bans of the old run are kept, and now hold over UDP too.
      expect((await upg.listSet(4)).map((e) => e.ip)).toEqual([ADDR.clientV4b]);
      expect((await upg.listSet(6)).map((e) => e.ip)).toEqual([ADDR.clientV6b]);
      for (const src of [ADDR.clientV4b, ADDR.clientV6b]) {
        expect(await udp(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
        expect(await from(src, PROTECTED, DROP_WAIT_MS)).toBe('timeout');
      }
      expect(await udp(ADDR.clientV6)).toBe('answered');
      const upgBook: EnforcerBan[] = [{ ip: ADDR.clientV4b, family: 4, until: null }, { ip: ADDR.clientV6b, family: 6, until: null }];
      expect(await upg.check(() => upgBook)).toEqual([]);

      // An old-style TCP-only jump put back by hand goes at shutdown with the new ones.
      await ipt(['-A', 'INPUT', ...jump('tcp', '9001')]);
      await upg.shutdown();
      for (const f of [4, 6] as const) {
        expect(await listing('INPUT', f)).toEqual(before[f]);
        expect((await ns.run(f === 4 ? backend.iptablesSave : backend.ip6tablesSave, [])).stdout).not.toContain('BANHAMMER-upg');
      }
      expect((await ns.run('ipset', ['list', '-n'])).stdout).not.toContain('bh-upg');
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
    expect(await enf.check(() => [])).toEqual([]);
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

/**
 * Another program holding the xtables lock (iptables-legacy's /run/xtables.lock) while the agent
 * starts. Everything runs in a private mount namespace with its own tmpfs on /run (kept alive by a
 * `sleep` started with `unshare --mount`), entered with nsenter together with a throw-away network
 * namespace, so the lock held here is never the host's.
 */
const legacySkip = noNetns ?? (await firewallUnavailable('iptables-legacy'));
describe.skipIf(legacySkip !== null)(`a held xtables lock (iptables-legacy, private /run)${legacySkip ? ` (skipped: ${legacySkip})` : ''}`, () => {
  const netns = `bh-t-${randomBytes(3).toString('hex')}-lock`;
  const children: ChildProcess[] = [];
  let mnt = '';
  const sh = new ProcessRunner({ timeoutMs: 20_000 });

  const started = (child: ChildProcess, word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`did not start: ${err}`)), 10_000);
      child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes(word)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code}: ${err}`));
      });
    });

  /** Holds /run/xtables.lock of the private /run for `seconds` (the holder is a sleep owning the lock fd). */
  async function holdLock(seconds: number): Promise<ChildProcess> {
    const child = spawn('nsenter', [`--mount=${mnt}`, '--', 'sh', '-c', `exec 9>/run/xtables.lock && flock 9 && echo locked && exec sleep ${seconds}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await started(child, 'locked');
    return child;
  }
  const exited = (c: ChildProcess): Promise<void> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r())));

  const inside = (): Runner => withPrefix(new ProcessRunner(), ['nsenter', `--mount=${mnt}`, `--net=/run/netns/${netns}`, '--']);
  const enforcer = (extra: { retry?: { totalMs: number }; onRetry?: (m: string) => void } = {}) =>
    new IptablesEnforcer({
      runner: inside(),
      instance: 'lock',
      ports: [PROTECTED],
      families: [4],
      backend: backendBinaries('legacy', 'integration test'),
      // Shorter than the lock is held: a command that waits for the lock for ever is killed.
      timeoutMs: 3000,
      ...extra,
    });

  beforeAll(async () => {
    await sh.run('ip', ['netns', 'add', netns]);
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs bh-test-run /run && echo ready && exec sleep 600'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(holder);
    await started(holder, 'ready');
    mnt = `/proc/${holder.pid}/ns/mnt`;
  });

  afterAll(async () => {
    await killAndDelete(children, [netns]);
  });

  it('init() waits out a lock held longer than one command may take, with back-off, then succeeds', async () => {
    const lock = await holdLock(5);
    const retries: string[] = [];
    const enf = enforcer({ onRetry: (m) => retries.push(m) });
    const t0 = Date.now();
    await enf.init();
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThan(3000);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatch(/another program holds the xtables lock/);
    await exited(lock);
    const r = (await inside().run('iptables-legacy', ['-w', '2', '-S', 'INPUT'])).stdout;
    expect(r).toContain('-A INPUT -p tcp -m multiport --dports 8080 -j BANHAMMER-lock');
    expect(await enf.check(() => [])).toEqual([]);
    await enf.shutdown();
  });

  it('a lock held past the retry budget is a lasting error that names the lock', async () => {
    const lock = await holdLock(20);
    const enf = enforcer({ retry: { totalMs: 3000 } });
    await expect(enf.init()).rejects.toMatchObject({ code: 'BH_ERR_FIREWALL', message: expect.stringMatching(/another program holds the xtables lock.*gave up after/) });
    process.kill(lock.pid!, 'SIGKILL');
    await exited(lock);
    await enf.init();
    await enf.shutdown();
  });
});
