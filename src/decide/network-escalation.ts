/**
 * IPv6 network escalation: an IPv6 client usually holds a whole /64 and can take a new address of it
 * with every request, so bans of single addresses let it walk its network (each new address starts
 * with an empty window, and each ban is one more firewall set entry: a set a client can fill for
 * everyone). Once `after` different addresses of one network (`prefix` bits) have been banned within
 * `within` (the times the bans were made: a line's own time in replay, the clock live), this module
 * names the network, and the ban book bans it (BanBook.escalate) for the rule that made the last ban.
 *
 * Only host-wide bans of IPv6 addresses count (a network ban applies to every container, so one
 * tenant's log must never make one); the IPv6 forms of IPv4 addresses never do (parse/ip.ts
 * ipv6NetworkOf: behind NAT64 one /64 holds every IPv4 client), nor Teredo's 2001:0::/32 (one /64
 * holds every client of a Teredo server). Memory is bounded whatever the bans:
 * at most `after` addresses per network and MAX_NETWORKS networks, the least recently grown forgotten
 * first (a client spread over more networks than that, within the window, needs a wider prefix).
 */
import { ipv6NetworkOf } from '../parse/ip.js';

/**
 * Teredo (RFC 4380, 2001:0::/32): 2001:0:<server IPv4>:<flags>:<port>:<client IPv4>, so one /64 holds
 * every client of one Teredo server (and a client takes a new address with each NAT port): like the
 * IPv6 forms of IPv4 addresses, never a network of one client.
 */
function isTeredo(network: string): boolean {
  // `network` is canonical, its first 32 bits kept (prefix ≥ 32): 2001:0 is written `2001:0:` or,
  // when its zero run is the longest, `2001::`.
  return network.startsWith('2001:0:') || network.startsWith('2001::');
}

/**
 * How far after a ban an earlier-counted one may be dated and keep its own time (a late line in
 * replay: Apache logs a slow request when it ends, stamped when it began); as the detector's
 * MAX_LATE_MS. An entry dated further after the ban being recorded is let go.
 */
export const FUTURE_SLACK_MS = 5 * 60_000;

/** Networks remembered at most (each holds at most `after` addresses). */
export const MAX_NETWORKS = 100_000;

export interface NetworkEscalationSettings {
  /** Addresses banned within `within` that make a network ban; 0 = off. */
  readonly after: number;
  /** Prefix length of the network counted and banned (32–120). */
  readonly prefix: number;
  /** ms */
  readonly within: number;
}

/** A network to ban: its canonical text and the banned addresses that made it, oldest first. */
export interface Escalation {
  readonly network: string;
  readonly addresses: readonly { readonly ip: string; readonly at: number }[];
}

export class NetworkEscalation {
  /** Recent bans per network, oldest first, one entry per address; in Map order least recently grown first. */
  private readonly recent = new Map<string, { ip: string; at: number }[]>();

  constructor(
    private settings: NetworkEscalationSettings,
    private readonly maxNetworks: number = MAX_NETWORKS,
  ) {}

  get enabled(): boolean {
    return this.settings.after > 0;
  }

  /**
   * The least recently grown network. A Map keeps the entries deleted at its front until it is
   * rebuilt, and a new iterator walks over them: asking `keys().next()` at every eviction walked over
   * every network evicted since (300,000 bans over as many /64s took 20 s at a cap of 100,000, four
   * times as long as with no cap). One iterator is kept instead: every entry before it was evicted through it (a network
   * grown again is a new entry at the end), so the next one it yields is the oldest.
   */
  private evictor: Iterator<string> | undefined;
  private oldest(): string | undefined {
    let r = this.evictor?.next();
    if (r === undefined || r.done === true) {
      this.evictor = this.recent.keys();
      r = this.evictor.next();
    }
    return r.done === true ? undefined : r.value;
  }

  /**
   * New settings (a reload). Unchanged, what is remembered stays. Changed, it is forgotten and true
   * is returned: the caller counts the bans its book holds again (remember()), as a restart on the
   * new settings does, so that a reload and a restart ban the same networks (review H48: a reload to
   * a wider prefix, or one switching escalation on, forgot every ban made before it, which a restart
   * counted).
   */
  configure(settings: NetworkEscalationSettings): boolean {
    const old = this.settings;
    this.settings = settings;
    if (settings.prefix === old.prefix && settings.after === old.after && settings.within === old.within) return false;
    this.recent.clear();
    this.evictor = undefined;
    return true;
  }

  /**
   * Counts a ban made before (a restart's restored bans, or a reload's recount: see configure), in
   * the order they were made, without naming a network: counted again, `after` of them (fewer were
   * needed since a reload or while the agent was down) wait for the next ban of the network, which
   * names it, as the agent that counted them live does. record() named it and the caller threw it
   * away, with the addresses that made it (review H48).
   */
  remember(ip: string, at: number): void {
    const { after } = this.settings;
    if (after <= 0) return;
    const grown = this.grow(ip, at, after, Number.NEGATIVE_INFINITY);
    if (grown !== null) this.recent.set(grown.network, grown.kept);
  }

  /**
   * A ban of the IPv6 address `ip` made at `at` (host-wide): the network to ban when this ban makes
   * `after` different addresses of it banned within `within` (`pressed`: at once, whatever `after`
   * says), else null. The network's memory is emptied when it is named (its ban covers what follows).
   */
  record(ip: string, at: number, pressed = false): Escalation | null {
    const { within } = this.settings;
    // Under pressure (the ban book half full: see Pipeline) every banned address names its network at once.
    const after = pressed ? 1 : this.settings.after;
    if (after <= 0) return null;
    // The window is (at − within, at]; an entry stamped ahead of `at` (a late line in replay) stays.
    const grown = this.grow(ip, at, after, at - within);
    if (grown === null) return null;
    if (grown.kept.length >= after) return { network: grown.network, addresses: grown.kept };
    this.recent.set(grown.network, grown.kept);
    return null;
  }

  /**
   * The network of `ip` and its remembered bans with this one added (made after `since`, at most
   * `after`, oldest first), taken out of the memory: the caller puts them back, now the most recently
   * grown, or names the network. null for an address whose network never counts. A network new to
   * the memory at its cap makes room first (the least recently grown goes).
   */
  private grow(ip: string, at: number, after: number, since: number): { network: string; kept: { ip: string; at: number }[] } | null {
    const network = ipv6NetworkOf(ip, this.settings.prefix);
    if (network === null || !network.includes('/') || isTeredo(network)) return null;
    let list = this.recent.get(network);
    if (list === undefined) {
      if (this.recent.size >= this.maxNetworks) {
        const oldest = this.oldest();
        if (oldest !== undefined) this.recent.delete(oldest);
      }
      list = [];
    } else {
      this.recent.delete(network);
    }
    // An entry stamped more than FUTURE_SLACK_MS after this ban came from a clock that ran ahead (a
    // line stamped far ahead in replay, a ban restored or made before the wall clock was set back
    // that nothing moved): it goes. Kept, it stayed inside the window (at − within, at] of every ban
    // until its own time came, a year if it was a year ahead (review H55).
    const kept = list.filter((e) => e.ip !== ip && e.at > since && e.at <= at + FUTURE_SLACK_MS);
    kept.push({ ip, at });
    while (kept.length > after) kept.shift();
    return { network, kept };
  }

  /**
   * The wall clock was stepped by `step` ms: the bans remembered as made up to `upTo` (the clock's
   * last reading before the step) move with it, so that they leave the window once `within` of real
   * time has gone by (set back a day, they counted a day longer; set forward, not at all).
   */
  shift(step: number, upTo: number): void {
    for (const list of this.recent.values()) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (e.at <= upTo) list[i] = { ip: e.ip, at: e.at + step };
      }
    }
  }

  /** Forgets what is remembered of the network holding `ip` (an unban of it or of the network). */
  forget(ip: string): void {
    // Nothing remembered (escalation off, or no IPv6 ban lately): no address to parse. `unban --all`
    // of 500,000 IPv6 bans spent 3.5 s here, parsing each address for an empty map (review H34).
    if (this.recent.size === 0) return;
    const network = ipv6NetworkOf(ip.split('/')[0]!, this.settings.prefix);
    if (network === null) return;
    const list = this.recent.get(network);
    if (list === undefined) return;
    // An address lifted by hand no longer counts; its neighbours' bans still do. A network (or a
    // wider one) lifted by hand forgets the whole network.
    const kept = ip.includes('/') ? [] : list.filter((e) => e.ip !== ip);
    if (kept.length === 0) this.recent.delete(network);
    else this.recent.set(network, kept);
  }

  /** Networks remembered (for tests and metrics). */
  get size(): number {
    return this.recent.size;
  }
}
