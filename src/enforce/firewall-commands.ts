/**
 * What the two kernel enforcers (iptables: INPUT for one container's ports; docker-user: DOCKER-USER
 * for a host's containers) share: the options every firewall command needs, the one place commands
 * run (through the Runner, with the configured timeout, failures classified into actionable errors),
 * the lazily resolved backend (legacy or nft), and the ipset operations they both use.
 */
import { BanhammerError } from '../errors.js';
import type { RunOptions, Runner } from '../exec/runner.js';
import { resolveBackend, type Backend, type IptablesMode } from './backend-mode.js';
import { classifyFirewallError } from './firewall-errors.js';
import { DEFAULT_MAXELEM, createSetArgs, destroySetArgs, parseSetSave, saveSetArgs, type Family, type RejectedAddress, type SetEntry } from './iptables-args.js';

export interface FirewallCommandOptions {
  readonly runner: Runner;
  /** Address families to enforce; default both. Leave 6 out when there is no IPv6. */
  readonly families?: readonly Family[];
  /** Backend choice; default auto (see backend-mode.ts). Ignored when `backend` is given. */
  readonly mode?: IptablesMode;
  /** A backend already resolved (skips the probe). */
  readonly backend?: Backend;
  /** Set capacity per family; default 1,048,576. */
  readonly maxelem?: number;
  /** Per-command timeout (ms); default the runner's. */
  readonly timeoutMs?: number;
  readonly ipsetBinary?: string;
}

export type CommandResult = { stdout: string; stderr: string; code: number };

export const familyLabel = (f: Family): string => `IPv${f}`;

/** The families to enforce, sorted and de-duplicated; a clear error for anything but 4 and 6. */
export function validateFamilies(families: readonly Family[] | undefined): Family[] {
  const fams = [...new Set(families ?? [4, 6])].sort() as Family[];
  if (fams.length === 0 || fams.some((f) => f !== 4 && f !== 6)) {
    throw new BanhammerError('BH_ERR_CONFIG', `invalid address families ${JSON.stringify(families)}: use [4], [6] or [4, 6]`, {
      hint: 'list the IP versions to enforce, e.g. [4, 6]',
    });
  }
  return fams;
}

export class FirewallCommands {
  readonly families: readonly Family[];
  readonly ipset: string;
  private resolved: Backend | undefined;

  constructor(private readonly opts: FirewallCommandOptions) {
    this.families = validateFamilies(opts.families);
    this.ipset = opts.ipsetBinary ?? 'ipset';
    this.resolved = opts.backend;
  }

  /** The backend in use (known after the first ensureBackend()). */
  get backend(): Backend | undefined {
    return this.resolved;
  }

  async ensureBackend(): Promise<Backend> {
    this.resolved ??= await resolveBackend(this.opts.runner, this.opts.mode ?? 'auto', {
      ipv6: this.families.includes(6),
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
    });
    return this.resolved;
  }

  /** Runs one command; a failure becomes an error that says what was being done and what to do. */
  async exec(cmd: string, args: string[], what: string, backend?: Backend, opts: RunOptions = {}): Promise<CommandResult> {
    const o: RunOptions = this.opts.timeoutMs !== undefined && opts.timeoutMs === undefined ? { ...opts, timeoutMs: this.opts.timeoutMs } : opts;
    try {
      return await this.opts.runner.run(cmd, args, o);
    } catch (e) {
      throw classifyFirewallError(e, what, backend?.mode);
    }
  }

  /** Creates `set` (hash:ip with timeouts) unless it exists; an existing set keeps its entries. */
  createSet(set: string, f: Family): Promise<CommandResult> {
    return this.exec(this.ipset, createSetArgs(set, f, this.opts.maxelem ?? DEFAULT_MAXELEM), `creating ipset ${set}`);
  }

  /** Destroys `set`; one that does not exist is fine, one still in use by a rule is a clear error. */
  async destroySet(set: string): Promise<void> {
    const r = await this.exec(this.ipset, destroySetArgs(set), `destroying ipset ${set}`, undefined, { okExitCodes: [0, 1] });
    if (r.code === 1 && !/does not exist/.test(r.stderr)) {
      throw new BanhammerError('BH_ERR_FIREWALL', `destroying ipset ${set} failed: ${r.stderr.trim()}`, {
        hint: `another rule still uses the set; remove it, then run \`ipset destroy ${set}\``,
        data: { set, stderr: r.stderr },
      });
    }
  }

  /** The entries of `set` as the kernel holds them. */
  async listSet(set: string): Promise<SetEntry[]> {
    const r = await this.exec(this.ipset, saveSetArgs(set), `reading ipset ${set}`);
    return parseSetSave(r.stdout, set);
  }
}

/** The steps of a teardown: each one is tried even when an earlier one failed; the first failure is thrown at the end. */
export class TeardownSteps {
  private readonly errors: unknown[] = [];

  async attempt(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.errors.push(e);
    }
  }

  throwFirst(): void {
    if (this.errors.length > 0) throw this.errors[0];
  }
}

/** After a batch was applied: addresses it left out become one BH_ERR_ADDRESS error naming the first five. */
export function throwIfRejected(b: { readonly rejected: readonly RejectedAddress[]; readonly added: number; readonly deleted: number }): void {
  if (b.rejected.length === 0) return;
  const shown = b.rejected.slice(0, 5).map((r) => `${JSON.stringify(r.ip)} (${r.reason})`).join(', ');
  const more = b.rejected.length > 5 ? ` and ${b.rejected.length - 5} more` : '';
  throw new BanhammerError('BH_ERR_ADDRESS', `${b.rejected.length} address(es) not applied: ${shown}${more}; the rest of the batch was applied`, {
    hint: 'only plain IPv4/IPv6 addresses of an enabled family can be banned',
    data: { rejected: b.rejected, added: b.added, deleted: b.deleted },
  });
}
