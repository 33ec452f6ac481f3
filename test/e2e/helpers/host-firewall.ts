/**
 * What an agent instance left in the host's firewall, and its removal. Containers with host
 * networking and NET_ADMIN change the root namespace's iptables (legacy or nft, IPv4 and IPv6) and
 * ipset; the e2e tier checks that `docker stop` removed everything of an instance and, whatever
 * happened, removes leftovers itself. Names come from the enforcer's own builder (firewallNames).
 */
import { readFileSync } from 'node:fs';
import { firewallNames } from '../../../src/enforce/iptables-args.js';
import { run, which } from './run.js';

/** Legacy tools only when the kernel already holds a legacy filter table: listing would create one. */
const IPTABLES: ReadonlyArray<{ tool: string; legacyTables?: string }> = [
  { tool: 'iptables-legacy', legacyTables: '/proc/net/ip_tables_names' },
  { tool: 'iptables-nft' },
  { tool: 'ip6tables-legacy', legacyTables: '/proc/net/ip6_tables_names' },
  { tool: 'ip6tables-nft' },
];

function tools(): string[] {
  return IPTABLES.filter(({ tool, legacyTables }) => {
    if (which(tool) === null) return false;
    if (legacyTables === undefined) return true;
    try {
      return readFileSync(legacyTables, 'utf8').split('\n').includes('filter');
    } catch {
      return false;
    }
  }).map((t) => t.tool);
}

/**
 * One line per chain, jump, rule or set of `instance` still present (empty when clean): every table
 * of iptables-save and ip6tables-save, nft and (where its tables exist) legacy, and `ipset list -n`.
 */
export async function firewallTraces(instance: string): Promise<string[]> {
  const { chain, sets } = firewallNames(instance);
  const names = new Set([chain, `:${chain}`, sets[4], sets[6]]);
  const found: string[] = [];
  for (const tool of tools()) {
    const r = await run(`${tool}-save`, [], { timeoutMs: 30_000 });
    if (r.code !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      if (line.trim().split(/\s+/).some((w) => names.has(w))) found.push(`${tool}-save: ${line.trim()}`);
    }
  }
  if (which('ipset') !== null) {
    const r = await run('ipset', ['list', '-n'], { timeoutMs: 30_000 });
    for (const name of r.stdout.split('\n').map((s) => s.trim())) {
      if (name === sets[4] || name === sets[6]) found.push(`ipset: ${name}`);
    }
  }
  return found;
}

/** Whether the instance's chain exists in some backend (the agent has initialised its firewall). */
export async function hasChain(instance: string): Promise<boolean> {
  const { chain } = firewallNames(instance);
  return (await firewallTraces(instance)).some((t) => t.includes(`: :${chain} `));
}

/** Removes jumps to, rules of, and the chain of `instance` in every backend, then its sets. */
export async function removeFirewallTraces(instance: string): Promise<void> {
  const { chain, sets } = firewallNames(instance);
  for (const tool of tools()) {
    const r = await run(tool, ['-w', '-t', 'filter', '-S'], { timeoutMs: 30_000 });
    if (r.code !== 0) continue;
    const lines = r.stdout.split('\n').map((l) => l.trim().split(/\s+/));
    for (const w of lines) {
      if (w[0] === '-A' && w[1] !== chain && w.includes(chain)) await run(tool, ['-w', '-t', 'filter', '-D', ...w.slice(1)], { timeoutMs: 30_000 });
    }
    if (lines.some((w) => w[0] === '-N' && w[1] === chain)) {
      await run(tool, ['-w', '-t', 'filter', '-F', chain], { timeoutMs: 30_000 });
      await run(tool, ['-w', '-t', 'filter', '-X', chain], { timeoutMs: 30_000 });
    }
  }
  if (which('ipset') !== null) {
    for (const s of [sets[4], sets[6]]) await run('ipset', ['destroy', s], { timeoutMs: 30_000 });
  }
}
