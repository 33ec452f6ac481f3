/**
 * `banhammer run` with BANHAMMER_ENFORCER=nftables (issue 12), end to end in network namespaces: real
 * Apache, real agent, real nft. A 403 flood bans the attacker in the agent's own table (the protected
 * port only), the ban shows in status, unban lifts it, and SIGTERM removes the table and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nftNames } from '../../../src/enforce/nft-args.js';
import { OPEN, agentLabUnavailable, createAgentLab, until, type AgentLab, type AgentProcess } from './fixture.js';

const { skip, mode } = await agentLabUnavailable();
const nftMissing = (await import('node:child_process')).spawnSync('nft', ['--version']).status !== 0;
const why = skip ?? (nftMissing ? 'nft is not installed (apt-get install nftables)' : null);

describe.skipIf(why !== null)(`banhammer run with the nftables enforcer${why ? ` (skipped: ${why})` : ''}`, () => {
  let lab: AgentLab;
  let agent: AgentProcess;
  let table: string;
  const addr4 = async (): Promise<string> => (await lab.inServer('nft', ['list', 'set', 'inet', table, 'addr4'], [0, 1])).stdout;

  beforeAll(async () => {
    lab = await createAgentLab(mode);
    table = nftNames(lab.instance).table;
    await lab.inServer('nft', ['add', 'table', 'inet', 'unrelated']);
    agent = await lab.startAgent({ BANHAMMER_ENFORCER: 'nftables' });
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('bans a 403 flood in its own table, on the protected port only; unban lifts it', async () => {
    const { attacker, legit } = lab;
    for (let i = 0; i < 6; i++) expect(await lab.curl(attacker, { path: '/forbidden/' })).toBe('403');
    await until('ban in the nft set', addr4, (s) => s.includes(attacker.v4[0]), 10_000, 20);
    expect((await lab.status('forbidden')).rules[0]).toMatchObject({ currentlyBanned: 1, bannedIps: [attacker.v4[0]] });
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('000');
    expect(await lab.curl(attacker, { path: '/ok', port: OPEN })).toBe('200');
    expect(await lab.curl(legit, { path: '/ok' })).toBe('200');
    const r = await lab.cli(['unban', attacker.v4[0]]);
    expect(r.code, r.stderr).toBe(0);
    await until('unban in the nft set', addr4, (s) => !s.includes(attacker.v4[0]), 5_000, 20);
    expect(await lab.curl(attacker, { path: '/ok' })).toBe('200');
  });

  it('SIGTERM removes its table and nothing else', async () => {
    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit.code).toBe(0);
    const tables = (await lab.inServer('nft', ['list', 'tables'])).stdout;
    expect(tables).not.toContain(table);
    expect(tables).toContain('inet unrelated');
    await lab.inServer('nft', ['delete', 'table', 'inet', 'unrelated']);
  });
});
