/**
 * Which iptables backend to drive: iptables-legacy (x_tables) or iptables-nft (nf_tables).
 *
 * Rules written through one backend are invisible to the other, so banhammer must use the one the
 * rest of the system uses. `auto` decides like kubernetes-sigs/iptables-wrappers: read what each
 * backend's -save prints (IPv4 and IPv6), then
 *   1. a backend whose save fails (missing binary, no kernel support) is out;
 *   2. the backend holding Docker's chains (DOCKER, DOCKER-USER) wins (most rules if both do);
 *   3. else the one holding more rules wins;
 *   4. else (a tie, e.g. a fresh container namespace) nft, the default of current distributions.
 * When neither `-legacy` nor `-nft` binaries exist but a plain `iptables-save` works (old images),
 * the plain binaries are used as they are ('system').
 *
 * decideBackend() is the pure decision; resolveBackend() is the thin probe that feeds it.
 */
import { BanhammerError } from '../errors.js';
import type { Runner } from '../exec/runner.js';
import { classifyFirewallError, type BackendKind } from './firewall-errors.js';

export const IPTABLES_MODES = ['auto', 'nft', 'legacy'] as const;
export type IptablesMode = (typeof IPTABLES_MODES)[number];

export interface Backend {
  readonly mode: BackendKind;
  readonly iptables: string;
  readonly ip6tables: string;
  readonly iptablesSave: string;
  readonly ip6tablesSave: string;
  readonly iptablesRestore: string;
  readonly ip6tablesRestore: string;
  /** Why this backend was chosen, for the startup log. */
  readonly reason: string;
}

export function backendBinaries(mode: BackendKind, reason: string): Backend {
  const sfx = mode === 'system' ? '' : `-${mode}`;
  return {
    mode,
    iptables: `iptables${sfx}`,
    ip6tables: `ip6tables${sfx}`,
    iptablesSave: `iptables${sfx}-save`,
    ip6tablesSave: `ip6tables${sfx}-save`,
    iptablesRestore: `iptables${sfx}-restore`,
    ip6tablesRestore: `ip6tables${sfx}-restore`,
    reason,
  };
}

/** What probing one backend found: the concatenated -save output, or null when no save worked. */
export type SaveProbe = string | null;

/** Rules in -save output (lines starting with "-A"). */
export function countRules(save: string): number {
  let n = 0;
  for (const line of save.split('\n')) if (line.startsWith('-A ')) n += 1;
  return n;
}

/** Does -save output declare Docker's chains? */
export function hasDockerChains(save: string): boolean {
  return /^:DOCKER(-USER)? /m.test(save);
}

/** The decision, from the two probes; null when neither backend works. */
export function decideBackend(probe: { legacy: SaveProbe; nft: SaveProbe }): Backend | null {
  const { legacy, nft } = probe;
  if (legacy === null && nft === null) return null;
  if (legacy === null) return backendBinaries('nft', 'iptables-legacy-save does not work here');
  if (nft === null) return backendBinaries('legacy', 'iptables-nft-save does not work here');
  const dl = hasDockerChains(legacy);
  const dn = hasDockerChains(nft);
  const nl = countRules(legacy);
  const nn = countRules(nft);
  if (dl !== dn) return backendBinaries(dl ? 'legacy' : 'nft', `Docker's chains are in the ${dl ? 'legacy' : 'nft'} tables`);
  if (nl !== nn) return backendBinaries(nl > nn ? 'legacy' : 'nft', `the ${nl > nn ? 'legacy' : 'nft'} tables hold more rules (legacy ${nl}, nft ${nn})`);
  return backendBinaries('nft', `no rules in either backend (legacy ${nl}, nft ${nn}): nft is the default`);
}

interface ProbeResult {
  readonly output: SaveProbe;
  readonly errors: unknown[];
}

async function probeSaves(runner: Runner, binaries: readonly string[], timeoutMs: number): Promise<ProbeResult> {
  let output = '';
  let worked = false;
  const errors: unknown[] = [];
  for (const bin of binaries) {
    try {
      output += (await runner.run(bin, [], { timeoutMs })).stdout;
      worked = true;
    } catch (e) {
      errors.push(e);
    }
  }
  return { output: worked ? output : null, errors };
}

const isMissing = (e: unknown): boolean => e instanceof BanhammerError && e.code === 'BH_ERR_MISSING_BINARY';

/**
 * Returns the binaries to use. An explicit mode is taken as is (init() then reports a clear error if
 * it does not work). `auto` probes both backends; when neither works it throws the most useful error
 * (no NET_ADMIN, missing package, …).
 */
export async function resolveBackend(runner: Runner, mode: IptablesMode, opts: { ipv6?: boolean; timeoutMs?: number } = {}): Promise<Backend> {
  if (mode === 'legacy' || mode === 'nft') return backendBinaries(mode, `BANHAMMER_IPTABLES_MODE=${mode}`);
  const ipv6 = opts.ipv6 ?? true;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const saves = (k: 'legacy' | 'nft'): string[] => [`iptables-${k}-save`, ...(ipv6 ? [`ip6tables-${k}-save`] : [])];
  const legacy = await probeSaves(runner, saves('legacy'), timeoutMs);
  const nft = await probeSaves(runner, saves('nft'), timeoutMs);
  const chosen = decideBackend({ legacy: legacy.output, nft: nft.output });
  if (chosen) return chosen;
  if (legacy.errors.every(isMissing) && nft.errors.every(isMissing)) {
    const plain = await probeSaves(runner, ['iptables-save'], timeoutMs);
    if (plain.output !== null) return backendBinaries('system', 'only plain iptables binaries are installed');
    const e = plain.errors[0];
    throw isMissing(e) ? e : classifyFirewallError(e, 'reading the firewall with iptables-save', 'system');
  }
  // Report the nft failure unless nft is merely not installed.
  const nftErr = nft.errors.find((x) => !isMissing(x));
  if (nftErr !== undefined) throw classifyFirewallError(nftErr, 'reading the firewall with iptables-nft-save', 'nft');
  throw classifyFirewallError(legacy.errors.find((x) => !isMissing(x)), 'reading the firewall with iptables-legacy-save', 'legacy');
}
