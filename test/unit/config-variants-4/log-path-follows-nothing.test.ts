/**
 * Log paths the tailer can never match (issue 9: a configuration mistake must not switch protection
 * off silently). check-config and the agent accepted them; the agent then waited for ever for a file
 * that never appears (status: "no such file yet: waiting for it"), and nothing was banned:
 *  - braces, which the globs do not expand, and which BANHAMMER_LOG_PATH even split at their comma
 *    (`/var/log/apache2/{access,ssl_access}.log` became `/var/log/apache2/{access` and the relative
 *    `ssl_access}.log`);
 *  - a relative path (other path settings must be absolute);
 *  - `**`, which matched one directory level, not any depth;
 *  - a newline from a multi-line variable, kept inside one file name.
 * Refused with a reason by check-config and the agent's loader alike; real globs still load.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.js';
import { main, type CliIo } from '../../../src/cli.js';

const accepts = (v: string): boolean => {
  try {
    resolveConfig({ env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: v }, hostname: 'unit' });
    return true;
  } catch {
    return false;
  }
};
async function checkConfig(v: string): Promise<{ code: number; err: string }> {
  let err = '';
  const io: CliIo = { stdout: () => {}, stderr: (s) => void (err += s), env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: v }, hostname: 'unit' };
  return { code: await main(['check-config'], io), err };
}

describe('log paths that would follow nothing', () => {
  it.each([
    ['/var/log/apache2/{access,ssl_access}.log', /braces are not expanded/],
    ['/var/log/apache2/{access.log}', /braces/],
    ['var/log/apache2/access.log', /absolute/],
    ['./access.log', /absolute/],
    ['/var/log/**/access.log', /\*\*/],
    ['/var/lib/docker/containers/**', /\*\*/],
    ['/var/log/a.log\n/var/log/b.log', /control characters/],
    ['/var/log/a\x1b[2J.log', /control characters/],
  ])('%j is refused by check-config and the loader', async (v, why) => {
    expect(accepts(v)).toBe(false);
    const r = await checkConfig(v);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/log\.paths/);
    expect(r.err).toMatch(why);
  });

  it.each(['/var/log/apache2/access.log', '/var/log/apache2/*access.log', '/var/lib/docker/containers/*/*-json.log', '/var/log/a?.log', '/var/log/[ab].log', '/var/log/a.log, /var/log/b.log', '/var/log/my site/access.log'])(
    '%j still loads',
    (v) => expect(accepts(v)).toBe(true),
  );

  it('the YAML file is held to the same rule', () => {
    const readFile = (): string => 'log:\n  paths: ["/var/log/**/x.log"]\n';
    expect(() => resolveConfig({ env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_CONFIG: '/etc/banhammer.yml' }, hostname: 'unit', readFile })).toThrow(/log\.paths\[0\].*\*\*/s);
  });
});
