/**
 * Evidence through the real agent (issue 14): `node bin/banhammer.js run` with a real Apache and the
 * kernel's firewall in throw-away namespaces (fixture.ts). A 403 flood from the attacker's namespace
 * is banned; `banhammer why` shows the lines Apache wrote for it, with the file; an unban is in the
 * history with who did it; and both survive a restart of the agent. The outputs are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport, WhyReport } from '../../../src/control/protocol.js';
import { agentLabUnavailable, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();

describe.skipIf(skip !== null)(`banhammer why with the real agent (iptables-${mode})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  const show = (title: string, text: string) => console.log(`----- ${title}\n${text}-----`);

  const why = async (ip: string): Promise<{ code: number; json: WhyReport; text: string }> => {
    const t = await lab.cli(['why', ip]);
    const j = await lab.cli(['why', ip, '--json']);
    expect(j.code, j.stderr).toBe(t.code);
    return { code: t.code, text: t.stdout, json: JSON.parse(j.stdout) as WhyReport };
  };

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    agent = await lab.startAgent();
  });

  afterAll(async () => {
    if (agent !== undefined && agent.child.exitCode === null) {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
    await lab?.destroy();
  });

  it('a 403 flood is banned and `why` shows the lines Apache wrote for it, with the file', async () => {
    const ip = lab.attacker.v4[0];
    for (let i = 0; i < 6; i++) expect(await lab.curl(lab.attacker, { path: `/forbidden/?try=${i}`, userAgent: 'evidence-test/1.0' })).toBe('403');
    await until('ban in the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => s.includes(ip), 10_000, 20);
    const st = await until('ban listed by status', () => lab.status('forbidden'), (r: StatusReport) => r.rules[0]!.bannedIps.includes(ip), 10_000);
    expect(st.rules[0]!.withEvidence).toBe(1);
    const statusText = await lab.cli(['status', 'forbidden']);
    expect(statusText.stdout).toContain('|- With evidence:\t1\n');

    const w = await why(ip);
    show(`banhammer why ${ip}`, w.text);
    show(`banhammer why ${ip} --json`, `${JSON.stringify(w.json, null, 2)}\n`);
    expect(w.code).toBe(0);
    expect(w.json).toMatchObject({ ip, instance: lab.instance, allowlisted: false, failing: [], ended: [], historySize: 1000 });
    expect(w.json.active).toHaveLength(1);
    const ban = w.json.active[0]!;
    expect(ban).toMatchObject({ ip, rule: 'forbidden', jail: 'forbidden', source: 'detected', failures: 6, nth: 1, ended: null, evidenceOmitted: 0 });
    expect(ban.evidence).toHaveLength(6);
    ban.evidence.forEach((l, i) => {
      expect(l.file).toBe(lab.accessLog);
      expect(l.line.startsWith(`${ip} - - [`)).toBe(true);
      expect(l.line).toContain(`"GET /forbidden/?try=${i} HTTP/1.1" 403 `);
      expect(l.line).toContain('"evidence-test/1.0"');
    });
    // the text: fail2ban-client's tree, the file once, every line as Apache wrote it
    expect(w.text.startsWith(`Status for the address: ${ip}\n|- Currently banned:\t1\n|  \`- Jail:\tforbidden\n`)).toBe(true);
    expect(w.text).toContain(`Matches:\t6 lines in ${lab.accessLog}\n`);
    for (const l of ban.evidence) expect(w.text).toContain(l.line);

    // IPv4-mapped spelling: the same address
    const mapped = await lab.cli(['why', `::ffff:${ip}`, '--json']);
    expect((JSON.parse(mapped.stdout) as WhyReport).ip).toBe(ip);
    // nothing known: a clear line and exit 1
    const none = await lab.cli(['why', '198.18.77.77']);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe(`198.18.77.77: not banned, no recent failures, and not among the last 1000 ended bans this agent (${lab.instance}) remembers\n`);
  });

  it('an unban is in the history with who did it, and a new flood makes a second ban with its own lines', async () => {
    const ip = lab.attacker.v4[0];
    const r = await lab.cli(['unban', ip]);
    expect(r.code, r.stderr).toBe(0);
    const w = await why(ip);
    expect(w.json.active).toEqual([]);
    expect(w.json.ended).toHaveLength(1);
    expect(w.json.ended[0]!.ended).toMatchObject({ reason: 'unbanned', by: 'control' });
    expect(w.json.ended[0]!.evidence).toHaveLength(6);
    expect(w.text).toContain('unbanned with banhammer unban (control socket)');

    expect(await lab.curl(lab.attacker, { path: '/ok' })).toBe('200');
    for (let i = 0; i < 6; i++) expect(await lab.curl(lab.attacker, { path: `/forbidden/?again=${i}` })).toBe('403');
    await until('second ban in the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => s.includes(ip), 10_000, 20);
    const again = await until('second ban in why', () => why(ip), (x) => x.json.active.length === 1, 10_000);
    expect(again.json.active[0]!.nth).toBe(2);
    expect(again.json.active[0]!.evidence.map((l) => l.line.includes('/forbidden/?again='))).toEqual(Array(6).fill(true));
    show(`banhammer why ${ip} (second ban, after an unban)`, again.text);
  });

  it('a restart keeps the ban, its lines and the history', async () => {
    const ip = lab.attacker.v4[0];
    const before = (await why(ip)).json;
    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    agent = await lab.startAgent();
    const after = await why(ip);
    show(`banhammer why ${ip} (after a restart)`, after.text);
    expect(after.json.active.map((b) => ({ ...b }))).toEqual(before.active);
    expect(after.json.ended).toEqual(before.ended);
    expect(after.json.active[0]!.evidence).toHaveLength(6);
    expect(after.json.ended[0]!.evidence).toHaveLength(6);
    expect((await lab.setEntries(4)).map((e) => e.ip)).toContain(ip);
  });
});
