/**
 * Seam between the agent and replay in host mode: with BANHAMMER_ENFORCER=auto the agent picks
 * docker-user (no network bans) or nftables (network bans) at start, from what the host runs; replay
 * cannot know which and makes no IPv6 network ban. Where that can differ (bans for every container,
 * escalation on), replay says so on stderr instead of silently reporting fewer bans than the agent
 * may make; with the enforcer named, it makes the bans the agent makes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Three addresses of one /64, five 403s each (forbidden bans each). */
function walkLog(): { file: string; containers: string } {
  const d = mkdtempSync(join(tmpdir(), 'bh-auto-note-'));
  dirs.push(d);
  const lines: string[] = [];
  let t = T0;
  for (const ip of ['2001:db8:7:1::a', '2001:db8:7:1::b', '2001:db8:7:1::c']) {
    for (let i = 0; i < 5; i++) lines.push(`${ip} - - [${clf((t += 1000))}] "GET /private HTTP/1.1" 403 10 "-" "curl"`);
  }
  writeFileSync(join(d, 'access.log'), `${lines.join('\n')}\n`);
  return { file: join(d, 'access.log'), containers: d };
}

async function replay(env: Record<string, string>, file: string) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env, hostname: 't', stderrIsTTY: false };
  const code = await main(['replay', file, '--json'], io);
  return { code, err: err.join(''), bans: code === 0 ? (JSON.parse(out.join('')) as { bans: { ip: string }[] }).bans.map((b) => b.ip) : [] };
}

describe('replay in host mode with BANHAMMER_ENFORCER=auto', () => {
  it('bans for every container, escalation on: warns on stderr (never in the JSON) that the agent may make network bans replay does not', async () => {
    const { file, containers } = walkLog();
    const base = { BANHAMMER_DOCKER_CONTAINERS_DIR: containers, BANHAMMER_BAN_SCOPE: 'host', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' };
    const auto = await replay({ ...base, BANHAMMER_ENFORCER: 'auto' }, file);
    expect(auto.code).toBe(0);
    expect(auto.err).toMatch(/warning: IPv6 network escalation is on, but in host mode BANHAMMER_ENFORCER=auto picks docker-user/);
    expect(auto.bans.filter((b) => b.includes('/'))).toEqual([]);
    // Named, the enforcer decides, with no warning: nftables makes the agent's network ban.
    const nft = await replay({ ...base, BANHAMMER_ENFORCER: 'nftables' }, file);
    expect(nft.err).toBe('');
    expect(nft.bans).toContain('2001:db8:7:1::/64');
    const du = await replay({ ...base, BANHAMMER_ENFORCER: 'docker-user' }, file);
    expect(du.err).toBe('');
    expect(du.bans.filter((b) => b.includes('/'))).toEqual([]);
  });

  it('no warning where replay and agent agree: escalation off, bans per container, or not host mode', async () => {
    const { file, containers } = walkLog();
    const envs: Record<string, string>[] = [
      { BANHAMMER_DOCKER_CONTAINERS_DIR: containers, BANHAMMER_BAN_SCOPE: 'host', BANHAMMER_ENFORCER: 'auto' },
      { BANHAMMER_DOCKER_CONTAINERS_DIR: containers, BANHAMMER_BAN_SCOPE: 'container', BANHAMMER_ENFORCER: 'auto', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' },
      { BANHAMMER_ENFORCER: 'auto', BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' },
    ];
    for (const env of envs) {
      const r = await replay(env, file);
      expect(r.code, JSON.stringify(env)).toBe(0);
      expect(r.err, JSON.stringify(env)).toBe('');
    }
  });
});
