/**
 * One rule for the remote-IP header (issue 10, item 5): `check-config` accepted headers that the
 * image's entrypoint (`banhammer apache-conf`) then refused, stopping the container with exit 78.
 * Both commands run here over the same candidates and must agree, header by header.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { renderApacheDefines } from '../../../src/enforce/apache-map.js';
import { REMOTEIP_HEADER_RE } from '../../../src/config/schema.js';

const CANDIDATES = [
  'X-Forwarded-For', 'X-Real-IP', 'CF-Connecting-IP', 'True-Client-IP', 'X_Client_IP', 'x.forwarded', '1x', 'a'.repeat(128),
  'a'.repeat(129), '', '-X', '_X', '.X', 'X Forwarded', 'X\tY', 'X*Forwarded', "X'Y", 'X`Y', 'X|Y', 'X~Y', 'X!Y', 'X#Y', 'X$Y', '${APACHE_RUN_USER}',
  'X%Y', 'X&Y', 'X+Y', 'X^Y', 'X"Y', 'X:Y', 'X;Y', 'X\\Y', 'X/Y', 'Ä-Header', 'X\nY', 'X<Y>',
];

async function run(args: string[], header: string): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io: CliIo = { stdout: () => {}, stderr: (s) => void (stderr += s), env: { BANHAMMER_REMOTEIP_HEADER: header, BANHAMMER_ENFORCER: 'log' }, hostname: 'web' };
  return { code: await main(args, io), stderr };
}

describe('the remote-IP header rule', () => {
  it.each(CANDIDATES.map((h) => [JSON.stringify(h), h]))('check-config and apache-conf agree on %s', async (_, h) => {
    const check = await run(['check-config'], h);
    const render = await run(['apache-conf'], h);
    expect(render.code === 0, `check-config: ${check.code} ${check.stderr}; apache-conf: ${render.code} ${render.stderr}`).toBe(check.code === 0);
    if (check.code !== 0) expect(check.stderr).toMatch(/remoteip_header/);
  });
  it('both follow REMOTEIP_HEADER_RE (an empty variable counts as unset)', async () => {
    for (const h of CANDIDATES) expect((await run(['check-config'], h)).code === 0, h).toBe(h === '' || REMOTEIP_HEADER_RE.test(h));
  });
  it('renderApacheDefines applies the same rule to the value it is given', () => {
    for (const h of CANDIDATES) {
      const render = (): string => renderApacheDefines({ enforcer: 'log', trustedProxies: [], remoteipHeader: h, mapFile: '/run/banhammer/banned.map' });
      if (REMOTEIP_HEADER_RE.test(h)) expect(render(), h).toBe(`Define BANHAMMER_REMOTEIP_HEADER ${h}\n`);
      else expect(render, h).toThrow(/remoteip_header/);
    }
  });
  it('accepts the usual headers, refuses what Apache would split or substitute', () => {
    for (const h of ['X-Forwarded-For', 'X-Real-IP', 'CF-Connecting-IP']) expect(REMOTEIP_HEADER_RE.test(h), h).toBe(true);
    for (const h of ['X*Forwarded', '${APACHE_RUN_USER}', 'X Forwarded', 'X"Y']) expect(REMOTEIP_HEADER_RE.test(h), h).toBe(false);
  });
});
