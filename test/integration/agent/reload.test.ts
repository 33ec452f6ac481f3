/**
 * Reload is a diff, not a rebuild (issue 10): a real agent in a network namespace bans an attacker;
 * its YAML configuration then allowlists the attacker and SIGHUP makes the agent lift the ban in the
 * kernel within a second, while the `Total banned` and `Total failed` counters carry over, and a
 * restart-only setting changed in the same file is named in one warning.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLabUnavailable, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();

describe.skipIf(skip !== null)(`SIGHUP reload of a live agent (iptables-${mode})${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  let config: string;

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    config = join(lab.dir, 'banhammer.yml');
    await writeFile(config, 'ignoreip: [198.19.250.0/24]\n');
    agent = await lab.startAgent({ BANHAMMER_CONFIG: config });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('allowlisting a banned address lifts its ban in the kernel within a second, counters kept', async () => {
    const { attacker } = lab;
    for (let i = 0; i < 6; i++) expect(await lab.curl(attacker, { path: '/forbidden/' })).toBe('403');
    await until('ban in the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => s.includes(attacker.v4[0]), 10_000, 20);
    const before = (await lab.status('forbidden')).rules[0]!;
    expect(before).toMatchObject({ currentlyBanned: 1, totalBanned: 1 });
    expect(before.totalFailed).toBeGreaterThanOrEqual(5);

    await writeFile(config, `ignoreip: [198.19.250.0/24, ${attacker.v4[0]}]\nblock_action: REJECT\n`);
    const t0 = Date.now();
    process.kill(agent.child.pid!, 'SIGHUP');
    await until('ban lifted from the kernel set', async () => (await lab.setEntries(4)).map((e) => e.ip), (s) => !s.includes(attacker.v4[0]), 1000, 20);
    console.log(`[reload] SIGHUP → ban gone from the kernel set: ${Date.now() - t0} ms`);

    const after = (await lab.status('forbidden')).rules[0]!;
    expect(after).toMatchObject({ currentlyBanned: 0, totalBanned: 1, totalFailed: before.totalFailed });
    expect(agent.logs.some((l) => l.msg === 'unban' && l.ip === attacker.v4[0] && l.reason === 'allowlisted')).toBe(true);
    const warning = agent.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('these settings take effect after a restart'));
    expect(warning?.msg).toMatch(/BANHAMMER_BLOCK_ACTION/);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('200');
    // Allowlisted now: more 403s never ban it again.
    for (let i = 0; i < 6; i++) expect(await lab.curl(attacker, { path: '/forbidden/' })).toBe('403');
    await new Promise((r) => setTimeout(r, 300));
    expect((await lab.setEntries(4)).map((e) => e.ip)).not.toContain(attacker.v4[0]);
  });
});
