/**
 * Issue 9/10 leftover: `BANHAMMER_REMOTEIP_HEADER=Forwarded` was accepted by check-config, the agent and
 * `apache-conf`, although mod_remoteip (and nginx real_ip) read the header as `addr, addr, …` and
 * cannot parse RFC 7239's `for=…;proto=…`: every proxied request kept the proxy as its client. The
 * class: any header that carries no client address. Refused alike by check-config (env and YAML),
 * the agent's load, and renderApacheDefines; the usual address headers stay accepted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { renderApacheDefines } from '../../../src/enforce/apache-map.js';
import { loadConfig } from '../../../src/config/load.js';

const REFUSED = ['Forwarded', 'forwarded', 'FORWARDED', 'X-Forwarded', 'Via', 'Host', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'X-Forwarded-Port', 'X-Forwarded-Server', 'User-Agent', 'Referer', 'Cookie', 'Authorization', 'Accept-Language', 'Content-Type', 'proxy_protocol'];
const ACCEPTED = ['X-Forwarded-For', 'x-forwarded-for', 'X-Real-IP', 'CF-Connecting-IP', 'True-Client-IP', 'X-Client-IP', 'Fastly-Client-IP', 'X-Cluster-Client-IP', 'Forwarded-For', 'X-Original-Forwarded-For'];

const dir = mkdtempSync(join(tmpdir(), 'bh-h2-hdr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io: CliIo = { stdout: () => {}, stderr: (s) => void (stderr += s), env: { BANHAMMER_ENFORCER: 'log', ...env }, hostname: 'web' };
  return { code: await main(args, io), stderr };
}

describe('remote-IP headers that carry no client address', () => {
  it.each(REFUSED)('check-config, apache-conf and the renderer refuse %s, naming the setting', async (h) => {
    const check = await run(['check-config'], { BANHAMMER_REMOTEIP_HEADER: h });
    expect(check.code, check.stderr).not.toBe(0);
    expect(check.stderr).toMatch(/remoteip_header/);
    expect(check.stderr).toMatch(/X-Forwarded-For/); // says what to use instead
    const conf = await run(['apache-conf'], { BANHAMMER_REMOTEIP_HEADER: h });
    expect(conf.code).not.toBe(0);
    expect(() => renderApacheDefines({ enforcer: 'log', trustedProxies: [], remoteipHeader: h, mapFile: '/run/banhammer/banned.map' })).toThrow(/remoteip_header/);
  });

  it('the agent\'s loader refuses Forwarded from the environment and from YAML', () => {
    expect(() => loadConfig({ env: { BANHAMMER_REMOTEIP_HEADER: 'Forwarded', BANHAMMER_ENFORCER: 'log' }, hostname: 'web' })).toThrow(/remoteip_header/);
    const file = join(dir, 'banhammer.yml');
    writeFileSync(file, 'remoteip_header: Forwarded\n');
    expect(() => loadConfig({ env: { BANHAMMER_CONFIG: file, BANHAMMER_ENFORCER: 'log' }, hostname: 'web' })).toThrow(/remoteip_header/);
  });

  it.each(ACCEPTED)('%s (an address list) stays accepted by check-config and apache-conf', async (h) => {
    expect((await run(['check-config'], { BANHAMMER_REMOTEIP_HEADER: h })).code).toBe(0);
    expect((await run(['apache-conf'], { BANHAMMER_REMOTEIP_HEADER: h })).code).toBe(0);
  });
});
