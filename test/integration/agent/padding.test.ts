/**
 * Padding must not buy immunity (issue 9): Apache logs each `"` of a header as `\"`, so a User-Agent
 * of 8,000 quotes (inside Apache's 8,190-byte header limit) makes a 16 kB+ log line. Real Apache, real
 * agent, real kernel: such a client is banned like any other, and the line is counted, not skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLabUnavailable, createAgentLab, until, type AgentLab } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();

describe.skipIf(skip !== null)(`padded log lines (iptables-${mode})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    await lab.startAgent();
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('six 403s with a User-Agent of 8,000 quotes get the client banned', async () => {
    const { attacker } = lab;
    const ua = '"'.repeat(8000);
    for (let i = 0; i < 6; i++) expect(await lab.curl(attacker, { path: '/forbidden/', userAgent: ua })).toBe('403'); // the lab's maxretry is 6
    await until('ban in the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => s.includes(attacker.v4[0]), 10_000, 20);
    const st = (await lab.status('forbidden')).rules[0]!;
    expect(st).toMatchObject({ totalFailed: 6, currentlyBanned: 1, bannedIps: [attacker.v4[0]] });
  });
});
