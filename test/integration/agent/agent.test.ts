/**
 * The live agent (`node bin/banhammer.js run`) against the real kernel and a real Apache, inside
 * throw-away network namespaces (fixture.ts): an attacker and a legit client talk to Apache in the
 * server namespace, the agent tails Apache's access log and bans in the namespace's own firewall.
 * The tests run in order and share one lab; each checks outcomes in the kernel, on the wire (curl)
 * and through the CLI. Measured latencies are printed, never asserted.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN, PROTECTED, agentLabUnavailable, apacheTime, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();
const hasCapsh = existsSync('/usr/sbin/capsh') || existsSync('/sbin/capsh');

const ips = async (lab: AgentLab, f: 4 | 6): Promise<string[]> => (await lab.setEntries(f)).map((e) => e.ip);

/** Sends `n` requests for /forbidden/ and returns the codes and when the last answer came. */
async function flood(lab: AgentLab, n: number, family: 4 | 6): Promise<{ codes: string[]; lastAt: number }> {
  const codes: string[] = [];
  for (let i = 0; i < n; i++) codes.push(await lab.curl(lab.attacker, { family, path: '/forbidden/' }));
  return { codes, lastAt: performance.now() };
}

describe.skipIf(skip !== null)(`banhammer run with Apache in a network namespace (iptables-${mode})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  const log = (msg: string) => console.log(`[agent iptables-${mode}] ${msg}`);

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    agent = await lab.startAgent();
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('bans a 403 flood over IPv4 on the protected port only', async () => {
    const { attacker, legit } = lab;
    expect(await lab.curl(legit, { path: '/ok' })).toBe('200');
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('200');
    const { codes, lastAt } = await flood(lab, 6, 4);
    expect(codes).toEqual(Array(6).fill('403'));
    await until('IPv4 ban in the kernel set', () => ips(lab, 4), (s) => s.includes(attacker.v4[0]), 10_000, 5);
    log(`6th 403 response → ban in the kernel set (IPv4): ${(performance.now() - lastAt).toFixed(0)} ms`);

    const st = await until('ban listed by status', () => lab.status('forbidden'), (r) => r.rules[0]!.bannedIps.includes(attacker.v4[0]), 10_000);
    expect(st.rules[0]).toMatchObject({ name: 'forbidden', currentlyBanned: 1, totalBanned: 1, bannedIps: [attacker.v4[0]] });
    const entry = (await lab.setEntries(4)).find((e) => e.ip === attacker.v4[0])!;
    expect(entry.timeout).toBeGreaterThan(3500); // bantime 1h, counted down by the kernel
    expect(agent.logs.filter((l) => l.msg === 'ban').map((l) => [l.ip, l.rule])).toEqual([[attacker.v4[0], 'forbidden']]);

    expect(await lab.curl(attacker, { path: '/ok' })).toBe('000');
    expect(await lab.curl(legit, { path: '/ok' })).toBe('200');
    expect(await lab.curl(attacker, { path: '/ok', port: OPEN })).toBe('200');
    expect(await lab.curl(attacker, { path: '/ok', from: 1 })).toBe('200'); // the attacker's other address
  });

  it('bans a 403 flood over IPv6 in the IPv6 set', async () => {
    const { attacker, legit } = lab;
    const { codes, lastAt } = await flood(lab, 6, 6);
    expect(codes).toEqual(Array(6).fill('403'));
    await until('IPv6 ban in the kernel set', () => ips(lab, 6), (s) => s.includes(attacker.v6[0]), 10_000, 5);
    log(`6th 403 response → ban in the kernel set (IPv6): ${(performance.now() - lastAt).toFixed(0)} ms`);
    expect(await ips(lab, 4)).toEqual([attacker.v4[0]]);
    await until('IPv6 ban listed by status', () => lab.status('forbidden'), (r) => r.rules[0]!.bannedIps.includes(attacker.v6[0]), 10_000);
    expect(await lab.curl(attacker, { family: 6, path: '/ok' })).toBe('000');
    expect(await lab.curl(legit, { family: 6, path: '/ok' })).toBe('200');
    expect(await lab.curl(attacker, { family: 6, path: '/ok', port: OPEN })).toBe('200');
  });

  it('a short ban expires in the kernel by itself and the address connects again', async () => {
    const ip = lab.attacker.v4[1];
    const r = await lab.cli(['ban', ip, '--for', '3s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`banned ${ip} (manual) until`);
    const t0 = performance.now();
    const entry = (await lab.setEntries(4)).find((e) => e.ip === ip);
    expect(entry?.timeout).toBeGreaterThan(0);
    expect(entry?.timeout).toBeLessThanOrEqual(3);
    expect(await lab.curl(lab.attacker, { from: 1, path: '/ok', maxTime: 1 })).toBe('000');
    await until('kernel-side expiry', () => ips(lab, 4), (s) => !s.includes(ip), 15_000, 50);
    log(`ban --for 3s: gone from the kernel set ${((performance.now() - t0) / 1000).toFixed(2)} s after the CLI returned`);
    expect(await lab.curl(lab.attacker, { from: 1, path: '/ok' })).toBe('200');
    await until('agent-side expiry', () => lab.status('manual'), (s) => s.rules[0]!.bannedIps.length === 0, 10_000);
    const unbanLogged = async () => agent.logs.some((l) => l.msg === 'unban' && l.ip === ip && l.reason === 'expired');
    await until("the agent's unban record", unbanLogged, (v) => v, 10_000);
    expect(await ips(lab, 4)).toEqual([lab.attacker.v4[0]]); // the flood ban is untouched
  });

  it('after kill -9 and a restart the bans are still there, and stale lines written meanwhile ban nobody', async () => {
    const { attacker } = lab;
    agent.child.kill('SIGKILL');
    expect((await agent.exited).signal).toBe('SIGKILL');
    // While the agent is down: real traffic, and 10 forged 403 lines stamped 10 minutes ago (older
    // than findtime 1m) from an address that would be banned if they counted.
    const stale = '198.18.9.9';
    expect(await lab.curl(lab.legit, { path: '/ok' })).toBe('200');
    const old = apacheTime(Date.now() - 10 * 60_000);
    await lab.appendLog(Array.from({ length: 10 }, () => `${stale} - - ${old} "GET /forbidden/ HTTP/1.1" 403 199 "-" "stale/1.0"`));
    expect(await ips(lab, 4)).toContain(attacker.v4[0]); // the kernel kept it while the agent was dead

    agent = await lab.startAgent();
    const restored = agent.logs.find((l) => l.msg === 'restored bans from state');
    expect(restored).toMatchObject({ restored: 2 });
    const st = await lab.status('forbidden');
    expect([...st.rules[0]!.bannedIps].sort()).toEqual([attacker.v4[0], attacker.v6[0]].sort());
    expect(await ips(lab, 4)).toEqual([attacker.v4[0]]);
    expect(await ips(lab, 6)).toEqual([attacker.v6[0]]);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('000');

    // The restarted agent has read the stale lines (they match the rule) …
    await until('stale lines read', () => lab.metric('banhammer_rule_matches_total', 'rule="forbidden"'), (n) => (n ?? 0) >= 10, 15_000, 200);
    // … and counted none of them as failures.
    const after = await lab.status('forbidden');
    expect(after.rules[0]!.totalFailed).toBe(0);
    expect(after.rules[0]!.bannedIps).not.toContain(stale);
    expect(await ips(lab, 4)).not.toContain(stale);
  });

  it('repairs a flushed chain and a deleted INPUT jump', async () => {
    const { attacker } = lab;
    const { chain, sets } = lab.names;
    const ipt = (f: 4 | 6, args: string[], ok = [0]) => lab.inServer(f === 4 ? lab.backend.iptables : lab.backend.ip6tables, ['-w', ...args], ok);
    const ruleThere = async (f: 4 | 6) => (await ipt(f, ['-C', chain, '-p', 'tcp', '-m', 'set', '--match-set', sets[f], 'src', '-j', 'DROP'], [0, 1])).code === 0;
    const jump = ['-p', 'tcp', '-m', 'multiport', '--dports', String(PROTECTED), '-j', chain];
    const jumpThere = async (f: 4 | 6) => (await ipt(f, ['-C', 'INPUT', ...jump], [0, 1])).code === 0;

    /** Repairs the agent logged after log record `from`. */
    const repairsSince = async (from: number) =>
      agent.logs.slice(from).filter((l) => l.msg === 'firewall state was changed from outside; repaired').flatMap((l) => l.repaired as string[]);

    let mark = agent.logs.length;
    await ipt(4, ['-F', chain]);
    await ipt(6, ['-F', chain]);
    let t0 = performance.now();
    await until('chain rules restored', async () => (await ruleThere(4)) && (await ruleThere(6)), (v) => v, 15_000, 50);
    log(`flushed chain (IPv4+IPv6) repaired after ${(performance.now() - t0).toFixed(0)} ms (check interval 2 s; required ≤ 5 s)`);
    const chainRepairs = await until('chain repairs logged', () => repairsSince(mark), (r) => r.filter((x) => x.startsWith('chain')).length >= 2, 10_000);
    expect(chainRepairs.filter((x) => x.startsWith('chain')).sort()).toEqual([
      `chain (IPv4): ${chain} had lost its rule and was refilled`,
      `chain (IPv6): ${chain} had lost its rule and was refilled`,
    ]);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('000');
    expect(await lab.curl(attacker, { family: 6, path: '/ok' })).toBe('000');

    mark = agent.logs.length;
    await ipt(4, ['-D', 'INPUT', ...jump]);
    t0 = performance.now();
    await until('INPUT jump re-created', async () => (await jumpThere(4)) && (await repairsSince(mark)).some((x) => x.startsWith('jump (IPv4)')), (v) => v, 15_000, 50);
    log(`deleted INPUT jump re-created after ${(performance.now() - t0).toFixed(0)} ms (required ≤ 5 s)`);
    expect(await repairsSince(mark)).toEqual([`jump (IPv4): INPUT ${jump.join(' ')} was missing and was re-added`]);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('000');
    // One jump per protocol (UDP too, for HTTP/3), the TCP one first; none twice.
    const inputJumps = (await ipt(4, ['-S', 'INPUT'])).stdout.split('\n').filter((l) => l.includes(chain));
    expect(inputJumps).toEqual([`-A INPUT ${jump.join(' ')}`, `-A INPUT ${jump.join(' ').replace('-p tcp', '-p udp')}`]);
  });

  it('manual ban, unban and unban --all via the CLI take effect in the kernel', async () => {
    const { legit, attacker } = lab;
    let r = await lab.cli(['ban', legit.v4[0]]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('permanently');
    expect((await lab.setEntries(4)).find((e) => e.ip === legit.v4[0])).toEqual({ ip: legit.v4[0], timeout: 0 });
    expect(await lab.curl(legit, { path: '/ok' })).toBe('000');
    r = await lab.cli(['ban', legit.v6[0], '--for', '10m']);
    expect(r.code, r.stderr).toBe(0);
    expect(await ips(lab, 6)).toContain(legit.v6[0]);
    expect((await lab.status('manual')).rules[0]!.bannedIps.sort()).toEqual([legit.v4[0], legit.v6[0]].sort());

    r = await lab.cli(['unban', legit.v4[0]]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ips(lab, 4)).toEqual([attacker.v4[0]]);
    expect(await lab.curl(legit, { path: '/ok' })).toBe('200');
    r = await lab.cli(['unban', legit.v4[0]]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('was not banned');

    r = await lab.cli(['unban', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('lifted 3 bans\n');
    expect(await ips(lab, 4)).toEqual([]);
    expect(await ips(lab, 6)).toEqual([]);
    expect((await lab.status('forbidden')).rules[0]!.bannedIps).toEqual([]);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('200');
    expect(await lab.curl(attacker, { family: 6, path: '/ok' })).toBe('200');
    expect(await lab.curl(legit, { family: 6, path: '/ok' })).toBe('200');
  });

  it('a forged log line in the User-Agent never bans the client it names', async () => {
    const { legit, attacker } = lab;
    const before = (await lab.status('forbidden')).rules[0]!.totalFailed;
    const logsBefore = agent.logs.length;
    const linesBefore = await until('metrics', () => lab.metric('banhammer_lines_total'), (n) => n !== null, 10_000);
    const forged = `${legit.v4[0]} - - ${apacheTime(Date.now())} "GET /forbidden/ HTTP/1.1" 403 199 "-" "curl/7.88.1"`;
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) codes.push(await lab.curl(attacker, { path: '/ok', userAgent: forged }));
    expect(codes).toEqual(Array(10).fill('200'));
    // Wait until the agent has read all ten lines (the counter is published every second).
    await until('hostile lines read', () => lab.metric('banhammer_lines_total'), (n) => (n ?? 0) >= linesBefore! + 10, 15_000, 200);
    const st = await lab.status('forbidden');
    expect(st.rules[0]!.totalFailed).toBe(before);
    expect(st.rules[0]!.bannedIps).toEqual([]);
    expect(await ips(lab, 4)).toEqual([]);
    expect(await lab.curl(legit, { path: '/ok' })).toBe('200');
    expect(agent.logs.slice(logsBefore).filter((l) => l.msg === 'ban')).toEqual([]);
  });

  it('SIGTERM: exits 0 and removes its rules, chain and sets, and nothing else', async () => {
    const { chain, sets } = lab.names;
    await lab.cli(['ban', lab.attacker.v4[0]]); // something in the set, so removal is not trivially empty
    await lab.inServer(lab.backend.iptables, ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '9999', '-j', 'ACCEPT']);
    await lab.inServer(lab.backend.ip6tables, ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '9999', '-j', 'ACCEPT']);
    await lab.inServer('ipset', ['create', 'bh-t-unrelated', 'hash:ip']);

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agent.logs.some((l) => l.msg === 'banhammer stopped')).toBe(true);

    const v4 = (await lab.inServer(lab.backend.iptablesSave, [])).stdout;
    const v6 = (await lab.inServer(lab.backend.ip6tablesSave, [])).stdout;
    for (const save of [v4, v6]) {
      expect(save).not.toContain('BANHAMMER');
      expect(save).not.toContain(chain);
      expect(save).not.toContain(sets[4]);
      expect(save).not.toContain(sets[6]);
      expect(save).toMatch(/^-A INPUT -p tcp -m tcp --dport 9999 -j ACCEPT$/m);
    }
    const setNames = (await lab.inServer('ipset', ['list', '-n'])).stdout.trim().split('\n');
    expect(setNames).toEqual(['bh-t-unrelated']);
    await lab.inServer('ipset', ['destroy', 'bh-t-unrelated']);
  });

  it.skipIf(!hasCapsh)(`without NET_ADMIN: exits non-zero with one line naming NET_ADMIN${hasCapsh ? '' : ' (skipped: capsh missing, apt-get install libcap2-bin)'}`, async () => {
    // capsh runs what follows "--" with /bin/bash: give it a script that execs argv verbatim.
    const a = lab.spawnAgentRaw(
      ['capsh', '--drop=cap_net_admin', '--', '-c', 'exec "$0" "$@"', process.execPath, 'bin/banhammer.js', 'run'].map((x) =>
        x === 'bin/banhammer.js' ? new URL('../../../bin/banhammer.js', import.meta.url).pathname : x,
      ),
      { BANHAMMER_INSTANCE: `${lab.instance}-nocap`, BANHAMMER_SOCKET: `${lab.dir}/nocap.sock`, BANHAMMER_METRICS_ADDR: 'off' },
    );
    const exit = await Promise.race([a.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    expect(exit).not.toBe('hung');
    expect(exit).not.toMatchObject({ code: 0 });
    const lines = a.stderr().split('\n').filter((l) => l.trim() !== '');
    log(`no NET_ADMIN: exit ${JSON.stringify(exit)}, stderr: ${lines.join(' | ')}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('NET_ADMIN');
    expect((await lab.inServer('ipset', ['list', '-n'])).stdout.trim()).toBe('');
  });
});
