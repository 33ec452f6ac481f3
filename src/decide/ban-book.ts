/**
 * The ban book: which addresses are banned, by which rule, until when, and how often they were
 * banned before (for incremental bantime). Pure state: time is always an argument, persistence and
 * enforcement are the daemon's business (snapshot()/restore() give it a plain document).
 *
 * A ban is keyed by (rule, ip, scope). The scope is host-wide (undefined: every in-container mode, and
 * host mode with BANHAMMER_BAN_SCOPE=host) or one container (its id, host mode): an address banned
 * for container X is not banned for Y, and its failures at Y count separately. An offense for an
 * address already banned by that rule in that scope is not a new ban. Allowlisted addresses are
 * never banned, not even manually. Permanent bans have until = null. State written before scopes
 * existed has no scope field: those bans are host-wide.
 */
import { BanhammerError } from '../errors.js';
import { canonicalIp } from '../parse/ip.js';
import type { Offense } from '../detect/offense.js';
import { bantimeFor, type RuleSettings } from '../detect/rule.js';
import type { Allowlist } from './allowlist.js';

export interface Ban {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly rule: string;
  /** When the ban started (log time for detected bans, wall time for manual ones). */
  readonly at: number;
  /** Expiry, or null for permanent. */
  readonly until: number | null;
  readonly failures: number;
  /** 1 for a first ban, 2 for the next one, … (drives incremental bantime). */
  readonly nth: number;
  readonly manual: boolean;
  readonly origin?: string | undefined;
  /** Host mode: the container id the ban applies to; absent = host-wide. */
  readonly scope?: string | undefined;
  /** The container's name when the ban was made (for status and logs). */
  readonly scopeName?: string | undefined;
}

export interface BanHistoryEntry {
  readonly ip: string;
  readonly rule: string;
  readonly scope?: string | undefined;
  readonly count: number;
  readonly last: number;
}

export interface BanBookSnapshot {
  readonly bans: Ban[];
  readonly history: BanHistoryEntry[];
}

export interface RuleBanCounters {
  totalBanned: number;
}

/** Manual bans (from `banhammer ban`) are recorded under this rule name unless one is given. */
export const MANUAL_RULE = 'manual';

const key = (rule: string, ip: string, scope?: string): string => (scope === undefined ? `${rule} ${ip}` : `${rule} ${ip} ${scope}`);
/** A scope read from a state file: a non-empty string, else host-wide. */
const scopeOf = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' && v.length <= 128 ? v : undefined);

export class BanBook {
  private readonly bans = new Map<string, Ban>();
  private readonly history = new Map<string, BanHistoryEntry>();
  private readonly totals = new Map<string, RuleBanCounters>();
  /** Every rule name a ban was ever recorded under: per-address lookups probe these, not every ban. */
  private readonly ruleNames = new Set<string>();

  constructor(
    private readonly rules: Readonly<Record<string, RuleSettings>>,
    private readonly allowlist: Allowlist,
    /** History entries kept at most (oldest forgotten first). */
    private readonly maxHistory = 100_000,
  ) {
    for (const r of Object.keys(rules)) this.ruleNames.add(r);
  }

  /** Is `ip` banned by `rule` (in `scope`, default host-wide) at time `now`? */
  isBanned(ip: string, rule: string, now: number, scope?: string): boolean {
    const b = this.bans.get(key(rule, ip, scope));
    return b !== undefined && (b.until === null || b.until > now);
  }

  /**
   * Turns an offense into a ban (in the offense's scope), or null when the address is allowlisted or
   * already banned by that rule there. `scopeName` is recorded for display.
   */
  consider(o: Offense, now: number = o.at, scopeName?: string): Ban | null {
    const settings = this.rules[o.rule];
    if (settings === undefined) throw new RangeError(`unknown rule ${o.rule}`);
    const scope = o.scope;
    if (this.allowlist.has(o.ip) || this.isBanned(o.ip, o.rule, now, scope)) return null;
    const nth = (this.history.get(key(o.rule, o.ip, scope))?.count ?? 0) + 1;
    const duration = bantimeFor(settings, nth);
    const ban: Ban = {
      ip: o.ip,
      family: o.family,
      rule: o.rule,
      at: o.at,
      until: Number.isFinite(duration) && duration >= 0 ? o.at + duration : null,
      failures: o.failures,
      nth,
      manual: false,
      origin: o.origin,
      ...(scope !== undefined ? { scope, scopeName: scopeName ?? scope.slice(0, 12) } : {}),
    };
    this.put(ban);
    return ban;
  }

  /** A manual ban; `durationMs` null means permanent. Throws on an invalid or allowlisted address. */
  banManually(rawIp: string, opts: { rule?: string; durationMs: number | null; now: number; scope?: string; scopeName?: string }): Ban {
    const c = canonicalIp(rawIp);
    if (c === null) {
      throw new BanhammerError('BH_ERR_ADDRESS', `not an IP address: ${JSON.stringify(rawIp)}`, {
        hint: 'give one IPv4 or IPv6 address, e.g. 198.18.0.7 or 2001:db8::7',
      });
    }
    if (this.allowlist.has(c.ip)) {
      throw new BanhammerError('BH_ERR_ADDRESS', `${c.ip} is allowlisted (loopback, ignoreip or a trusted proxy) and is never banned`, {
        hint: 'remove it from BANHAMMER_IGNOREIP / ignoreip first',
      });
    }
    const rule = opts.rule ?? MANUAL_RULE;
    const scope = opts.scope;
    const nth = (this.history.get(key(rule, c.ip, scope))?.count ?? 0) + 1;
    const ban: Ban = {
      ip: c.ip,
      family: c.family,
      rule,
      at: opts.now,
      until: opts.durationMs === null ? null : opts.now + opts.durationMs,
      failures: 0,
      nth,
      manual: true,
      ...(scope !== undefined ? { scope, scopeName: opts.scopeName ?? scope.slice(0, 12) } : {}),
    };
    this.put(ban);
    return ban;
  }

  /**
   * Removes every ban of `ip` (all rules, or one; every scope, or one: null = host-wide only);
   * returns the removed bans.
   */
  unban(rawIp: string, rule?: string, scope?: string | null): Ban[] {
    const c = canonicalIp(rawIp);
    if (c === null) return [];
    const out: Ban[] = [];
    for (const [k, b] of this.bans) {
      if (b.ip === c.ip && (rule === undefined || b.rule === rule) && (scope === undefined || (b.scope ?? null) === scope)) {
        this.bans.delete(k);
        out.push(b);
      }
    }
    return out;
  }

  unbanAll(): Ban[] {
    const out = [...this.bans.values()];
    this.bans.clear();
    return out;
  }

  /** Removes and returns the bans that have expired by `now`. */
  expire(now: number): Ban[] {
    const out: Ban[] = [];
    for (const [k, b] of this.bans) {
      if (b.until !== null && b.until <= now) {
        this.bans.delete(k);
        out.push(b);
      }
    }
    return out;
  }

  /** Active bans (not yet expired as of `now`; all held bans when now is omitted). */
  active(now?: number): Ban[] {
    const all = [...this.bans.values()];
    return now === undefined ? all : all.filter((b) => b.until === null || b.until > now);
  }

  /** The latest expiry over all of `ip`'s bans in `scope` (default host-wide); null = permanent, undefined = not banned. */
  effectiveUntil(ip: string, now: number, scope?: string): number | null | undefined {
    let best: number | null | undefined;
    for (const rule of this.ruleNames) {
      const b = this.bans.get(key(rule, ip, scope));
      if (b === undefined || (b.until !== null && b.until <= now)) continue;
      if (b.until === null) return null;
      best = best === undefined || best === null ? b.until : Math.max(best, b.until);
    }
    return best;
  }

  totalBanned(rule: string): number {
    return this.totals.get(rule)?.totalBanned ?? 0;
  }

  snapshot(): BanBookSnapshot {
    return { bans: [...this.bans.values()], history: [...this.history.values()] };
  }

  /** Restores a snapshot, dropping bans expired by `now` and entries whose address is invalid. */
  restore(s: BanBookSnapshot, now: number): { restored: number; dropped: number } {
    let restored = 0;
    let dropped = 0;
    for (const h of s.history) {
      const c = canonicalIp(h.ip);
      const scope = scopeOf(h.scope);
      if (c) this.history.set(key(h.rule, c.ip, scope), { ip: c.ip, rule: h.rule, count: h.count, last: h.last, ...(scope !== undefined ? { scope } : {}) });
    }
    for (const b of s.bans) {
      const c = canonicalIp(b.ip);
      if (c === null || (b.until !== null && b.until <= now) || this.allowlist.has(c.ip)) {
        dropped++;
        continue;
      }
      const scope = scopeOf(b.scope);
      const { scope: _s, scopeName: _n, ...rest } = b;
      const scoped = scope !== undefined ? { scope, scopeName: typeof b.scopeName === 'string' ? b.scopeName : scope.slice(0, 12) } : {};
      this.bans.set(key(b.rule, c.ip, scope), { ...rest, ip: c.ip, family: c.family, ...scoped });
      this.ruleNames.add(b.rule);
      restored++;
    }
    return { restored, dropped };
  }

  private put(ban: Ban): void {
    const k = key(ban.rule, ban.ip, ban.scope);
    this.ruleNames.add(ban.rule);
    this.bans.set(k, ban);
    this.history.delete(k);
    this.history.set(k, { ip: ban.ip, rule: ban.rule, count: ban.nth, last: ban.at, ...(ban.scope !== undefined ? { scope: ban.scope } : {}) });
    if (this.history.size > this.maxHistory) {
      const oldest = this.history.keys().next();
      if (!oldest.done) this.history.delete(oldest.value);
    }
    const t = this.totals.get(ban.rule) ?? { totalBanned: 0 };
    t.totalBanned++;
    this.totals.set(ban.rule, t);
  }
}
