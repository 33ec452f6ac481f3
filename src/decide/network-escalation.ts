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
 * ipv6NetworkOf: behind NAT64 one /64 holds every IPv4 client). Memory is bounded whatever the bans:
 * at most `after` addresses per network and MAX_NETWORKS networks, the least recently grown forgotten
 * first (a client spread over more networks than that, within the window, needs a wider prefix).
 */
import { ipv6NetworkOf } from '../parse/ip.js';

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

  /** New settings (a reload): a new prefix counts afresh; otherwise what is remembered stays. */
  configure(settings: NetworkEscalationSettings): void {
    if (settings.prefix !== this.settings.prefix || settings.after === 0) this.recent.clear();
    this.settings = settings;
  }

  /**
   * A ban of the IPv6 address `ip` made at `at` (host-wide): the network to ban when this ban makes
   * `after` different addresses of it banned within `within`, else null. The network's memory is
   * emptied when it is named (its ban covers what follows).
   */
  record(ip: string, at: number): Escalation | null {
    const { after, prefix, within } = this.settings;
    if (after <= 0) return null;
    const network = ipv6NetworkOf(ip, prefix);
    if (network === null || !network.includes('/')) return null;
    let list = this.recent.get(network);
    if (list === undefined) {
      if (this.recent.size >= this.maxNetworks) {
        const oldest = this.recent.keys().next().value;
        if (oldest !== undefined) this.recent.delete(oldest);
      }
      list = [];
    } else {
      this.recent.delete(network); // re-inserted below: now the most recently grown
    }
    // The window is (at − within, at]; an entry stamped ahead of `at` (a late line in replay) stays.
    const kept = list.filter((e) => e.ip !== ip && e.at > at - within);
    kept.push({ ip, at });
    while (kept.length > after) kept.shift();
    if (kept.length >= after) return { network, addresses: kept };
    this.recent.set(network, kept);
    return null;
  }

  /** Forgets what is remembered of the network holding `ip` (an unban of it or of the network). */
  forget(ip: string): void {
    const network = ipv6NetworkOf(ip.split('/')[0]!, this.settings.prefix);
    if (network !== null) this.recent.delete(network);
  }

  /** Networks remembered (for tests and metrics). */
  get size(): number {
    return this.recent.size;
  }
}
