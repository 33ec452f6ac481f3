/**
 * What an agent instance left in the host's firewall, and its removal. Containers with host
 * networking and NET_ADMIN change the root namespace's iptables (legacy or nft, IPv4 and IPv6) and
 * ipset; the e2e tier checks that `docker stop` removed everything of an instance and, whatever
 * happened, removes leftovers itself. Names come from the enforcers' own builders (firewallNames,
 * nftNames). With BANHAMMER_ENFORCER=nftables an instance owns one table, `inet banhammer_<instance>`,
 * in the root namespace's nftables: it counts as a trace as well, and is deleted with the rest.
 *
 * nft versions: the image's nft (1.1.3, trixie) writes sets that an older host nft cannot read back
 * (the host's 1.0.6 dies with SIGSEGV on `nft list tables` as soon as such a set exists, whoever owns
 * it). So every nft command runs on the host first and, when that nft crashes, again with the image's
 * own nft in a throwaway host-networked container (same namespace, same kernel tables).
 */
import { readFileSync } from 'node:fs';
import { firewallNames } from '../../../src/enforce/iptables-args.js';
import { nftNames } from '../../../src/enforce/nft-args.js';
import { IMAGE } from './images.js';
import { run, which, type RunResult } from './run.js';

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

/** The kernel enforcers the e2e tier runs the examples with. */
export type KernelEnforcer = 'iptables' | 'nftables';

/** `nft <args>` in the root namespace: the host's nft, or the image's when the host's crashes or is missing. */
async function nft(args: string[]): Promise<RunResult> {
  if (which('nft') !== null) {
    const r = await run('nft', args, { timeoutMs: 30_000 });
    // A crash shows as a signal, or as 128+n when a shell reports it; nft's own errors exit 1.
    if (r.signal === null && r.code !== null && r.code < 128) return r;
  }
  return run('docker', ['run', '--rm', '--network', 'host', '--cap-add', 'NET_ADMIN', '--entrypoint', 'nft', IMAGE, ...args], { timeoutMs: 60_000 });
}

/** `inet banhammer_<instance>` when `nft list tables` shows it (every family is listed, to catch strays). */
async function nftTables(instance: string): Promise<string[]> {
  const { table } = nftNames(instance);
  const r = await nft(['list', 'tables']);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.split(/\s+/).at(-1) === table);
}

/**
 * One line per chain, jump, rule or set of `instance` still present (empty when clean): every table
 * of iptables-save and ip6tables-save, nft and (where its tables exist) legacy, `ipset list -n`, and
 * the instance's own nftables table.
 */
export async function firewallTraces(instance: string): Promise<string[]> {
  const { chain, sets, nets } = firewallNames(instance);
  const ipsets = [sets[4], sets[6], nets[4], nets[6]];
  const names = new Set([chain, `:${chain}`, ...ipsets]);
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
      if (ipsets.includes(name)) found.push(`ipset: ${name}`);
    }
  }
  for (const t of await nftTables(instance)) found.push(`nft: ${t}`);
  return found;
}

/**
 * Whether the instance's chain exists (the agent has initialised its firewall): for iptables in some
 * backend; for nftables the input chain in its table `inet banhammer_<instance>`.
 */
export async function hasChain(instance: string, enforcer: KernelEnforcer = 'iptables'): Promise<boolean> {
  if (enforcer === 'nftables') {
    const { table, chain } = nftNames(instance);
    return (await nft(['list', 'chain', 'inet', table, chain])).code === 0;
  }
  const { chain } = firewallNames(instance);
  return (await firewallTraces(instance)).some((t) => t.includes(`: :${chain} `));
}

/**
 * The addresses in the instance's IPv4 ban set, as the host's kernel holds them: `ipset list` of its
 * hash:ip set (iptables), or `nft -j list set inet banhammer_<instance> addr4` (nftables). Empty when
 * the set does not exist.
 */
export async function kernelBans4(instance: string, enforcer: KernelEnforcer): Promise<string[]> {
  if (enforcer === 'nftables') {
    const { table, sets } = nftNames(instance);
    const r = await nft(['-j', 'list', 'set', 'inet', table, sets[4]]);
    if (r.code !== 0) return [];
    const doc = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
    const elems = doc.nftables.find((o) => o.set !== undefined)?.set?.elem ?? [];
    // An element is a bare address, or {elem: {val, timeout, expires}} when it carries a timeout.
    return elems.map((e) => (typeof e === 'string' ? e : String((e as { elem?: { val?: unknown } }).elem?.val))).sort();
  }
  const { sets } = firewallNames(instance);
  const r = await run('ipset', ['list', sets[4]], { timeoutMs: 30_000 });
  if (r.code !== 0) return [];
  const members = r.stdout.split('\n');
  const from = members.findIndex((l) => l.startsWith('Members:'));
  return from < 0 ? [] : members.slice(from + 1).map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean).sort();
}

/** Removes jumps to, rules of, and the chain of `instance` in every backend, then its sets (addresses and networks). */
export async function removeFirewallTraces(instance: string): Promise<void> {
  const { chain, sets, nets } = firewallNames(instance);
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
    for (const s of [sets[4], sets[6], nets[4], nets[6]]) await run('ipset', ['destroy', s], { timeoutMs: 30_000 });
  }
  for (const t of await nftTables(instance)) {
    const [, family, name] = t.split(/\s+/);
    if (family !== undefined && name !== undefined) await nft(['delete', 'table', family, name]);
  }
}

/** The iptables-nft tables an agent on the host's network creates when it first hooks INPUT. */
const BASE_TABLES: ReadonlyArray<readonly [family: string, name: string]> = [
  ['ip', 'filter'],
  ['ip6', 'filter'],
];

/** Which of the iptables-nft `filter` tables exist now (`ip filter`, `ip6 filter`), before a run makes them. */
export async function baseTables(): Promise<Set<string>> {
  const r = await nft(['list', 'tables']);
  const have = new Set(r.code === 0 ? r.stdout.split('\n').map((l) => l.trim().replace(/^table\s+/, '')) : []);
  return new Set(BASE_TABLES.map(([f, n]) => `${f} ${n}`).filter((t) => have.has(t)));
}

/**
 * Deletes the iptables-nft `filter` tables that were not there before (`before`, from baseTables())
 * and now hold no rule at all: what an agent's `iptables -I INPUT` left once its own jump and chain
 * went (iptables-nft creates the table and its INPUT base chain, and removing a rule leaves them).
 * A table holding any rule is someone's and stays.
 */
export async function removeBaseTablesMade(before: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  const now = await baseTables();
  for (const [family, name] of BASE_TABLES) {
    const t = `${family} ${name}`;
    if (before.has(t) || !now.has(t)) continue;
    const r = await nft(['-j', 'list', 'table', family, name]);
    if (r.code !== 0) continue;
    const doc = JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> };
    if (doc.nftables.some((o) => 'rule' in o)) continue;
    if ((await nft(['delete', 'table', family, name])).code === 0) removed.push(t);
  }
  return removed;
}
