/**
 * The ban book: which addresses are banned, by which rule, until when, and how often they were
 * banned before (for incremental bantime). Pure state: time is always an argument, persistence and
 * enforcement are the daemon's business (snapshot()/restore() give it a plain document).
 *
 * A ban is keyed by (rule, ip). An offense for an address already banned by that rule is not a new
 * ban. Allowlisted addresses are never banned, not even manually. Permanent bans have until = null.
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
}

export interface BanHistoryEntry {
  readonly ip: string;
  readonly rule: string;
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

const key = (rule: string, ip: string): string => `${rule} ${ip}`;

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

  /** Is `ip` banned by `rule` at time `now`? */
  isBanned(ip: string, rule: string, now: number): boolean {
    const b = this.bans.get(key(rule, ip));
    return b !== undefined && (b.until === null || b.until > now);
  }

  /** Turns an offense into a ban, or null when the address is allowlisted or already banned by that rule. */
  consider(o: Offense, now: number = o.at): Ban | null {
    const settings = this.rules[o.rule];
    if (settings === undefined) throw new RangeError(`unknown rule ${o.rule}`);
    if (this.allowlist.has(o.ip) || this.isBanned(o.ip, o.rule, now)) return null;
    const nth = (this.history.get(key(o.rule, o.ip))?.count ?? 0) + 1;
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
    };
    this.put(ban);
    return ban;
  }

  /** A manual ban; `durationMs` null means permanent. Throws on an invalid or allowlisted address. */
  banManually(rawIp: string, opts: { rule?: string; durationMs: number | null; now: number }): Ban {
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
    const nth = (this.history.get(key(rule, c.ip))?.count ?? 0) + 1;
    const ban: Ban = {
      ip: c.ip,
      family: c.family,
      rule,
      at: opts.now,
      until: opts.durationMs === null ? null : opts.now + opts.durationMs,
      failures: 0,
      nth,
      manual: true,
    };
    this.put(ban);
    return ban;
  }

  /** Removes every ban of `ip` (all rules, or one); returns the removed bans. */
  unban(rawIp: string, rule?: string): Ban[] {
    const c = canonicalIp(rawIp);
    if (c === null) return [];
    const out: Ban[] = [];
    for (const [k, b] of this.bans) {
      if (b.ip === c.ip && (rule === undefined || b.rule === rule)) {
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

  /** The latest expiry over all of `ip`'s bans (null = permanent, undefined = not banned). */
  effectiveUntil(ip: string, now: number): number | null | undefined {
    let best: number | null | undefined;
    for (const rule of this.ruleNames) {
      const b = this.bans.get(key(rule, ip));
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
      if (c) this.history.set(key(h.rule, c.ip), { ...h, ip: c.ip });
    }
    for (const b of s.bans) {
      const c = canonicalIp(b.ip);
      if (c === null || (b.until !== null && b.until <= now) || this.allowlist.has(c.ip)) {
        dropped++;
        continue;
      }
      this.bans.set(key(b.rule, c.ip), { ...b, ip: c.ip, family: c.family });
      this.ruleNames.add(b.rule);
      restored++;
    }
    return { restored, dropped };
  }

  private put(ban: Ban): void {
    const k = key(ban.rule, ban.ip);
    this.ruleNames.add(ban.rule);
    this.bans.set(k, ban);
    this.history.delete(k);
    this.history.set(k, { ip: ban.ip, rule: ban.rule, count: ban.nth, last: ban.at });
    if (this.history.size > this.maxHistory) {
      const oldest = this.history.keys().next();
      if (!oldest.done) this.history.delete(oldest.value);
    }
    const t = this.totals.get(ban.rule) ?? { totalBanned: 0 };
    t.totalBanned++;
    this.totals.set(ban.rule, t);
  }
}
