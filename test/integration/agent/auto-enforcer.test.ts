/**
 * BANHAMMER_ENFORCER=auto (issue 12) with the real agent in a network namespace: it probes what the
 * host runs, logs its choice and why, and then bans exactly like the chosen enforcer. On this kernel
 * iptables and ipset work, so the decision table picks iptables (the default).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLabUnavailable, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();

describe.skipIf(skip !== null)(`banhammer run with BANHAMMER_ENFORCER=auto${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    agent = await lab.startAgent({ BANHAMMER_ENFORCER: 'auto' });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('logs the enforcer it chose and why, reports it in status, and bans with it', async () => {
    const chose = agent.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('enforcer auto: chose '));
    expect(chose, JSON.stringify(agent.logs.slice(0, 5))).toMatchObject({ enforcer: 'iptables', facts: { iptables: true, ipset: true, hostMode: false } });
    expect(String(chose!.why)).toMatch(/ipset/);
    const st = await lab.status('forbidden');
    expect(st.enforcer).toBe('iptables');
    for (let i = 0; i < 6; i++) expect(await lab.curl(lab.attacker, { path: '/forbidden/' })).toBe('403');
    await until('ban in the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => s.includes(lab.attacker.v4[0]), 10_000, 20);
  });
});
