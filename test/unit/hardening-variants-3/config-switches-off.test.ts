/**
 * Settings that would switch protection off must never do so silently (issue 9: "a fault must not
 * stop the agent"; README: an empty variable counts as unset, `--rules` names at least one rule,
 * trusted proxies are never every address).
 *
 * - BANHAMMER_RULES made only of separators (`,`, ` , `) is not empty, so not unset, and ran no rule
 *   at all, without a word; `--rules ,` is refused.
 * - Trusted proxies refuse /0, but two halves (`0.0.0.0/1, 128.0.0.0/1`, or their IPv4-mapped or
 *   IPv6 forms) were every address too: any client's X-Forwarded-For could name anyone to ban.
 * - An ignoreip of every address (`0.0.0.0/0`, `::/0`, `::ffff:0:0/96`, halves) loads, as before
 *   (an operator may mean it), but `check-config` now says that nothing of that family is ever banned.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config/load.js';
import { isBanhammerError } from '../../../src/errors.js';

const load = (env: Record<string, string>, flags?: { rules?: string[] }) => loadConfig({ env, hostname: 'h', ...(flags ? { flags } : {}) });

/** The configuration problems `env` gives (an empty list when it loads). */
function problems(env: Record<string, string>, flags?: { rules?: string[] }): string[] {
  try {
    load(env, flags);
    return [];
  } catch (e) {
    if (!isBanhammerError(e) || e.code !== 'BH_ERR_CONFIG') throw e;
    return (e.data as { problems: { message: string; source: string }[] }).problems.map((p) => `${p.source}: ${p.message}`);
  }
}

async function checkConfig(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env, hostname: 'h' };
  const code = await main(['check-config'], io);
  return { code, out: out.join(''), err: err.join('') };
}

describe('BANHAMMER_RULES of separators only', () => {
  it.each([',', ' , ', ',,,', ', ,\t,'])('%j is refused, as --rules refuses it, never "no rule runs"', (v) => {
    expect(problems({}, { rules: [v] }).join('\n')).toMatch(/--rules/); // the flag's rule, for reference
    const p = problems({ BANHAMMER_RULES: v });
    expect(p.join('\n')).toMatch(/BANHAMMER_RULES/);
  });

  it('an empty or blank value still counts as unset (the defaults run)', () => {
    for (const v of ['', '  ']) {
      const c = load({ BANHAMMER_RULES: v });
      expect(Object.values(c.rules).filter((r) => r.enabled).length).toBeGreaterThan(0);
    }
  });
});

describe('trusted proxies that add up to every address', () => {
  it.each(['0.0.0.0/1,128.0.0.0/1', '0.0.0.0/2 64.0.0.0/2 128.0.0.0/1', '::ffff:0:0/97,::ffff:128.0.0.0/97', '::/1, 8000::/1'])('%j is refused like /0', (v) => {
    expect(problems({ BANHAMMER_TRUSTED_PROXIES: v }).join('\n')).toMatch(/every IPv[46] address/);
  });

  it('ordinary lists, and one half alone, still load', () => {
    expect(load({ BANHAMMER_TRUSTED_PROXIES: '198.18.0.0/15, 2001:db8::/32' }).trustedProxies).toEqual(['198.18.0.0/15', '2001:db8::/32']);
    expect(load({ BANHAMMER_TRUSTED_PROXIES: '0.0.0.0/1' }).trustedProxies).toEqual(['0.0.0.0/1']);
  });
});

describe('an ignoreip of every address is said out loud by check-config', () => {
  it.each([
    ['0.0.0.0/0', [4]],
    ['::ffff:0:0/96', [4]],
    ['0.0.0.0/1, 128.0.0.0/1', [4]],
    ['::/0', [6]],
    ['::/1 8000::/1 198.18.0.0/15', [6]],
    ['0.0.0.0/0 ::/0', [4, 6]],
  ] as const)('%j', async (v, families) => {
    expect(load({ BANHAMMER_IGNOREIP: v }).ignoreip.length).toBeGreaterThan(0); // still loads
    const r = await checkConfig({ BANHAMMER_IGNOREIP: v });
    expect(r.code).toBe(0);
    for (const f of [4, 6] as const) {
      const said = new RegExp(`warning: .*every IPv${f} address`).test(r.out);
      expect(said, `IPv${f} warning in:\n${r.out.slice(0, 600)}`).toBe((families as readonly number[]).includes(f));
    }
  });

  it('an ordinary ignoreip gives no warning', async () => {
    const r = await checkConfig({ BANHAMMER_IGNOREIP: '10.0.0.0/8, 2001:db8::/32' });
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/warning:/);
  });
});
