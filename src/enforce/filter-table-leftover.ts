/**
 * The `filter` tables iptables-nft makes for us, and their removal at shutdown.
 *
 * iptables-nft creates a family's `filter` table and its INPUT base chain with the first rule
 * written there, and never removes them. In a namespace that had no filter table (a host that uses
 * nftables only, or none), an agent that stopped cleanly had removed its jumps, chain and sets, yet
 * left `table ip filter { chain INPUT { … policy accept; } }` (and the ip6 one) behind: after the
 * quick start, in the host's own ruleset.
 *
 * So, before its first write, the enforcer notes which families had no filter table (note()); at
 * shutdown (removeIfLeftover()) such a table is deleted only if it now holds nothing but empty base
 * chains with an accept policy (nothing anyone could have put there: no rule, set, map, object or
 * other chain, no drop policy). The deletion is one nft transaction that deletes each of those chains
 * and then the table: the kernel refuses a chain that gained a rule or a reference in the meantime,
 * and with it the whole transaction, so nothing of anyone else's is ever removed. A table that
 * existed before the agent started is never touched, whatever it holds. Without an `nft` program, or
 * on the legacy backend (whose tables the kernel keeps anyway), nothing is done.
 *
 * Several agents in one namespace (containers sharing the host network): only the first one finds
 * the table absent, and it cannot remove the table while the others' rules are in it; the others
 * found it present and would never remove it. So the agent that finds a table absent creates it
 * itself, empty, before iptables-nft does, with a comment (FILTER_TABLE_MARK: the kernel keeps a
 * table's comment, iptables-nft ignores it, a later `add table` never changes it, and only a table
 * created with it carries it). At shutdown every agent removes a table carrying the mark once it
 * holds nothing but empty accept-policy base chains: whichever agent stops last removes it, and
 * one an operator made (no mark) is never touched. A kernel or nft without table comments (before
 * Linux 5.10) makes the table without it: then only the agent that found it absent removes it.
 */
import type { Runner } from '../exec/runner.js';
import type { Family } from './iptables-args.js';

/** The base chains iptables-nft creates in a filter table; the only chains a leftover may hold. */
const BASE_CHAINS = new Set(['INPUT', 'FORWARD', 'OUTPUT']);

const NFT_FAMILY: Readonly<Record<Family, 'ip' | 'ip6'>> = { 4: 'ip', 6: 'ip6' };

/** The comment of a filter table banhammer created for iptables-nft (see the module comment). */
export const FILTER_TABLE_MARK = 'made by banhammer for iptables-nft; removed by the last agent to stop while empty';

/** Whether `nft list table` text shows the table's own comment (one tab in; a chain's is deeper) as our mark. */
export const carriesMark = (text: string): boolean => text.split('\n').some((l) => l === `\tcomment "${FILTER_TABLE_MARK}"`);

export class FilterTableLeftover {
  /** Families whose filter table did not exist when note() looked. */
  private readonly absent = new Set<Family>();
  /** Families note() looked at: their tables are removed at shutdown when they carry our mark. */
  private readonly noted = new Set<Family>();

  constructor(
    private readonly runner: Runner,
    private readonly nft = 'nft',
    private readonly timeoutMs = 10_000,
  ) {}

  /** Before the first write: remembers which of `families` have no filter table. Never throws. */
  async note(families: readonly Family[]): Promise<void> {
    for (const f of families) {
      this.noted.add(f);
      const t = await this.table(f);
      if (t !== 'absent') continue;
      this.absent.add(f);
      // Created now, marked, so that whichever agent stops last may remove it (module comment).
      // `add` never fails over a table another agent created in the meantime.
      const args = ['add', 'table', NFT_FAMILY[f], 'filter', '{', 'comment', `"${FILTER_TABLE_MARK}"`, ';', '}'];
      await this.runner.run(this.nft, args, { timeoutMs: this.timeoutMs, okExitCodes: [0, 1] }).catch(() => undefined);
    }
  }

  /**
   * At shutdown, after the agent's own rules are gone: deletes each filter table note() found absent
   * that holds nothing but empty accept-policy base chains. Returns the tables deleted (`ip filter`).
   * Never throws: a table left in place is harmless, and the agent's stop must not fail over it.
   */
  async removeIfLeftover(): Promise<string[]> {
    const removed: string[] = [];
    for (const f of [...this.noted]) {
      const t = await this.table(f);
      if (t === 'absent') {
        this.absent.delete(f);
        continue;
      }
      if (t === 'unknown') continue;
      const chains = leftoverChains(t);
      if (chains === null) continue;
      const family = NFT_FAMILY[f];
      if (!this.absent.has(f) && !(await this.marked(f))) continue;
      const script = [...chains.map((c) => `delete chain ${family} filter ${c}`), `delete table ${family} filter`, ''].join('\n');
      try {
        const r = await this.runner.run(this.nft, ['-f', '-'], { input: script, timeoutMs: this.timeoutMs, okExitCodes: [0, 1] });
        if (r.code === 0) {
          this.absent.delete(f);
          removed.push(`${family} filter`);
        }
      } catch {
        // nft missing or killed: the table stays, as it would have without this.
      }
    }
    return removed;
  }

  /** Whether the family's filter table carries our mark (nft -j does not show a table's comment: the text listing does). */
  private async marked(f: Family): Promise<boolean> {
    try {
      const r = await this.runner.run(this.nft, ['list', 'table', NFT_FAMILY[f], 'filter'], { timeoutMs: this.timeoutMs, okExitCodes: [0, 1] });
      return r.code === 0 && carriesMark(r.stdout);
    } catch {
      return false;
    }
  }

  /** The family's filter table as `nft -j` lists it, 'absent', or 'unknown' (no nft, an error, output not understood). */
  private async table(f: Family): Promise<unknown[] | 'absent' | 'unknown'> {
    try {
      const r = await this.runner.run(this.nft, ['-j', 'list', 'table', NFT_FAMILY[f], 'filter'], { timeoutMs: this.timeoutMs, okExitCodes: [0, 1] });
      if (r.code === 1) return /No such file or directory/.test(r.stderr) ? 'absent' : 'unknown';
      const doc = JSON.parse(r.stdout) as unknown;
      const items = (doc as { nftables?: unknown } | null)?.nftables;
      return Array.isArray(items) ? items : 'unknown';
    } catch {
      return 'unknown';
    }
  }
}

/**
 * The chains to delete when a listed filter table is a leftover (only base chains iptables-nft
 * makes, each with an accept policy, no rule and nothing else in the table), or null.
 */
export function leftoverChains(items: readonly unknown[]): string[] | null {
  const chains: string[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') return null;
    const keys = Object.keys(item);
    if (keys.length !== 1) return null;
    const kind = keys[0]!;
    if (kind === 'metainfo' || kind === 'table') continue;
    if (kind !== 'chain') return null;
    const c = (item as { chain: unknown }).chain as { name?: unknown; hook?: unknown; policy?: unknown; table?: unknown } | null;
    if (c === null || typeof c !== 'object') return null;
    if (typeof c.name !== 'string' || !BASE_CHAINS.has(c.name) || c.table !== 'filter') return null;
    if (typeof c.hook !== 'string' || c.policy !== 'accept') return null;
    chains.push(c.name);
  }
  return chains;
}
