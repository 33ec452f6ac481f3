/**
 * BANHAMMER_ENFORCER=auto: the kernel enforcer chosen from what the host actually runs, decided once
 * at start and logged with its reason. iptables stays the default and the first choice where it
 * works: it is what the images, the examples and every earlier release use, and the bench shows no
 * reason to leave it; nftables is chosen where iptables cannot work.
 *
 * Decision table (first row that matches):
 *
 *   mode           facts                                          choice       why
 *   in-container   iptables and ipset work                        iptables     the default, proven path
 *   in-container   nft works (ipset does not: no ip_set modules)  nftables     only nf_tables is there
 *   in-container   nothing works                                  iptables     its start names the problem
 *   host mode      DOCKER-USER exists and ipset works             docker-user  Docker's iptables backend
 *   host mode      nft works                                      nftables     Docker's nftables backend (no DOCKER-USER)
 *   host mode      nothing works                                  docker-user  its start names the problem
 *
 * Probes are read-only: `ipset list -n`, the iptables backend resolution (iptables-*-save), `nft
 * list tables`-style listing, and `iptables -S DOCKER-USER`.
 */
import type { Runner } from '../exec/runner.js';
import { resolveBackend } from './backend-mode.js';
import { nftablesUnavailable } from './nftables.js';

export type AutoChoice = 'iptables' | 'nftables' | 'docker-user';

export interface EnforcerFacts {
  readonly hostMode: boolean;
  /** iptables (some backend) can read the ruleset. */
  readonly iptables: boolean;
  /** ipset works (the ip_set modules are loaded and we may use them). */
  readonly ipset: boolean;
  /** nft can read the ruleset. */
  readonly nft: boolean;
  /** Docker's DOCKER-USER chain exists (its iptables backend runs). */
  readonly dockerUser: boolean;
}

export function decideEnforcer(f: EnforcerFacts): { enforcer: AutoChoice; why: string } {
  if (f.hostMode) {
    if (f.dockerUser && f.ipset) return { enforcer: 'docker-user', why: "Docker's DOCKER-USER chain exists and ipset works" };
    if (f.nft) return { enforcer: 'nftables', why: f.dockerUser ? 'ipset does not work here; nftables does' : "no DOCKER-USER chain (Docker's nftables backend, or Docker not running yet); nftables works" };
    return { enforcer: 'docker-user', why: 'neither ipset nor nftables works here; docker-user says why at start' };
  }
  if (f.iptables && f.ipset) return { enforcer: 'iptables', why: 'iptables and ipset work (the default)' };
  if (f.nft) return { enforcer: 'nftables', why: f.iptables ? 'ipset does not work here (no ip_set modules); nftables does' : 'iptables does not work here; nftables does' };
  return { enforcer: 'iptables', why: 'neither iptables with ipset nor nftables works here; iptables says why at start' };
}

/** Reads the facts with read-only commands; a probe that fails counts as "does not work". */
export async function probeEnforcerFacts(runner: Runner, hostMode: boolean, timeoutMs = 10_000): Promise<EnforcerFacts> {
  const ok = (p: Promise<unknown>): Promise<boolean> => p.then(() => true, () => false);
  const backend = await resolveBackend(runner, 'auto', { timeoutMs }).catch(() => null);
  const [ipset, nft, dockerUser] = await Promise.all([
    ok(runner.run('ipset', ['list', '-n'], { timeoutMs })),
    nftablesUnavailable(runner, { timeoutMs }).then((why) => why === null, () => false),
    hostMode && backend !== null ? ok(runner.run(backend.iptables, ['-w', '2', '-S', 'DOCKER-USER'], { timeoutMs })) : Promise.resolve(false),
  ]);
  return { hostMode, iptables: backend !== null, ipset, nft, dockerUser };
}
