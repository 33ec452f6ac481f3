/**
 * Copies of our chain left by `iptables -E` (a rename), and their removal at shutdown.
 *
 * `iptables -E BANHAMMER-x other` renames our chain with its rules and every jump to it. The next
 * check() re-creates our chain and jumps under our name, so protection holds, but the renamed copy
 * still names our ipsets: at shutdown the kernel then refuses to destroy them ("in use by a kernel
 * component") and the agent left its sets, the copy and the jumps to it behind for good.
 *
 * So when shutdown cannot destroy one of our sets because it is in use (setInUse), it looks for such
 * copies (renamedCopies), then tries again: user-defined
 * chains, none of the built-in ones nor DOCKER-USER, that hold at least one rule naming one of our
 * sets and nothing but such rules and `-j RETURN` rules (our docker-user chain starts with one).
 * Such a chain does nothing but our ban check, whatever its name: its jumps (rules anywhere in the
 * table ending in `-j <copy>`) are deleted, then the chain is flushed and deleted, after which our
 * sets can go. A chain of anyone else's that merely uses one of our sets among other rules is never
 * touched: destroying the set then fails with one clear error naming that chain (setUsers).
 */
import { BanhammerError } from '../errors.js';
import type { Backend } from './backend-mode.js';
import { WAIT, deleteChainArgs, deleteRuleArgs, flushChainArgs } from './iptables-args.js';

/** Chains never taken for a copy of ours: the built-in ones and Docker's DOCKER-USER. */
const NEVER_COPIES = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING', 'DOCKER-USER']);

/** `-S` of the whole filter table. */
export const listTableArgs = (): string[] => [...WAIT, '-S'];

interface Rule {
  readonly chain: string;
  readonly spec: string[];
}

/** The `-A` rules of a `-S` listing; rules with quoted words (comments) are kept whole but never deleted by spec. */
function rules(save: string): Rule[] {
  const out: Rule[] = [];
  for (const line of save.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] !== '-A' || t[1] === undefined) continue;
    out.push({ chain: t[1], spec: t.slice(2) });
  }
  return out;
}

const namesSet = (spec: readonly string[], sets: ReadonlySet<string>): boolean => {
  const i = spec.indexOf('--match-set');
  return i >= 0 && sets.has(spec[i + 1] ?? '');
};

/**
 * From a `-S` listing of the filter table: the copies of our chain (see the module comment), each
 * with the rules that jump to it. `own` is our chain's current name (never a copy).
 */
export function renamedCopies(save: string, sets: readonly string[], own: string): { chain: string; jumps: Rule[] }[] {
  const ours = new Set(sets);
  const all = rules(save);
  const byChain = new Map<string, Rule[]>();
  for (const r of all) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r]);
  const out: { chain: string; jumps: Rule[] }[] = [];
  for (const [chain, list] of byChain) {
    if (chain === own || NEVER_COPIES.has(chain)) continue;
    if (!list.some((r) => namesSet(r.spec, ours))) continue;
    const onlyOurs = list.every((r) => !r.spec.some((w) => w.includes('"')) && (namesSet(r.spec, ours) || (r.spec.at(-2) === '-j' && r.spec.at(-1) === 'RETURN')));
    if (!onlyOurs) continue;
    const jumps = all.filter((r) => r.spec.at(-2) === '-j' && r.spec.at(-1) === chain && !r.spec.some((w) => w.includes('"')));
    out.push({ chain, jumps });
  }
  return out;
}

/** The chains (other than `own`) with a rule naming `set`, for the error when it cannot be destroyed. */
export function setUsers(save: string, set: string, own: string): string[] {
  return [...new Set(rules(save).filter((r) => r.chain !== own && namesSet(r.spec, new Set([set]))).map((r) => r.chain))];
}

type Exec = (bin: string, args: string[], what: string, backend: Backend, opts?: { okExitCodes?: number[] }) => Promise<{ stdout: string; code: number }>;

/**
 * Deletes every copy of our chain in one family's filter table (its jumps first, then the chain).
 * Returns the chains deleted. A step the kernel refuses (the chain gained a reference meanwhile)
 * leaves that copy; the set's destruction then reports who still uses it.
 */
export async function removeRenamedCopies(exec: Exec, bin: string, backend: Backend, sets: readonly string[], own: string): Promise<string[]> {
  const save = (await exec(bin, listTableArgs(), 'listing the filter table', backend)).stdout;
  const removed: string[] = [];
  for (const { chain, jumps } of renamedCopies(save, sets, own)) {
    for (const j of jumps) await exec(bin, deleteRuleArgs(j.chain, j.spec), `removing a jump to ${chain} (a renamed copy of ${own})`, backend, { okExitCodes: [0, 1] });
    await exec(bin, flushChainArgs(chain), `flushing chain ${chain} (a renamed copy of ${own})`, backend, { okExitCodes: [0, 1] });
    const r = await exec(bin, deleteChainArgs(chain), `deleting chain ${chain} (a renamed copy of ${own})`, backend, { okExitCodes: [0, 1] });
    if (r.code === 0) removed.push(chain);
  }
  return removed;
}

/** Whether a failed `ipset destroy` (FirewallCommands.destroySet) says the set is still used by a rule. */
export function setInUse(e: unknown): boolean {
  return e instanceof BanhammerError && /in use by a kernel component/i.test(String(e.data['stderr'] ?? ''));
}

/**
 * Destroys one of our sets; when a rule still uses it, first removes the renamed copies of our
 * chain in each family's table (`bins`), then tries once more (whose failure is the caller's error).
 */
export async function destroyOwnSet(destroy: () => Promise<void>, exec: Exec, bins: readonly string[], backend: Backend, sets: readonly string[], own: string): Promise<void> {
  try {
    await destroy();
  } catch (e) {
    if (!setInUse(e)) throw e;
    for (const bin of bins) await removeRenamedCopies(exec, bin, backend, sets, own);
    try {
      await destroy();
    } catch (again) {
      if (!setInUse(again)) throw again;
      // Someone else's rule uses our set: never ours to delete. Say whose, once, at the stop.
      const users = new Set<string>();
      for (const bin of bins) {
        const save = await exec(bin, listTableArgs(), 'listing the filter table', backend, { okExitCodes: [0, 1] }).catch(() => ({ stdout: '', code: 1 }));
        for (const set of sets) for (const c of setUsers(save.stdout, set, own)) users.add(c);
      }
      const where = users.size > 0 ? `a rule in chain ${[...users].sort().join(', ')} still uses it` : 'a rule still uses it';
      const e2 = again as BanhammerError;
      throw new BanhammerError('BH_ERR_FIREWALL', `${e2.message}: ${where} (not banhammer's own rule, so it was left)`, {
        hint: `remove that rule (iptables -S shows it), then run \`ipset destroy\` for banhammer's sets`,
        data: { ...e2.data, chains: [...users].sort() },
        cause: again,
      });
    }
  }
}
