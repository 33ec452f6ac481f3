/**
 * LogEnforcer: the `log` enforcer of `banhammer run --dry-run` (the `replay` command does not use an
 * enforcer). It changes nothing outside the process: every action is handed to a sink (e.g. a pino
 * logger or an array in a test) as a structured record with a one-line text, and it keeps the set of
 * addresses a real enforcer would hold (active(); only tests read it today, status shows the ban
 * book). Addresses are checked the way the real enforcers check them before anything reaches the
 * kernel (clientAddress: invalid, unspecified, multicast and broadcast addresses are refused); what
 * only the kernel would refuse cannot be known here. Refused addresses are returned in
 * ApplyResult.refused, like the real enforcers do, after the rest was applied. A network
 * (`198.18.0.0/24`, a CIDR ban) is accepted like the kernel enforcers accept it (acceptNetwork:
 * canonical, never /0, too wide, or covering loopback or a non-client range).
 */
import { systemClock, type Clock } from '../clock.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, KernelReading, RefusedEntry } from './enforcer.js';
import { isNetwork } from '../parse/ip.js';
import { acceptExpiry, acceptNetwork, clientAddress } from './iptables-args.js';
import { isoTime } from '../format-time.js';

export type LogRecord =
  | { readonly action: 'init' | 'shutdown'; readonly text: string }
  | { readonly action: 'ban'; readonly ip: string; readonly family: 4 | 6; readonly until: number | null; readonly scope?: string; readonly text: string }
  | { readonly action: 'unban'; readonly ip: string; readonly family: 4 | 6; readonly scope?: string; readonly text: string }
  | { readonly action: 'reject'; readonly ip: string; readonly text: string };

export type LogSink = (record: LogRecord) => void;

export class LogEnforcer implements Enforcer {
  readonly name = 'log';
  readonly cidr = true;
  lastReading: KernelReading | undefined;
  /** Keyed by address, or `<container id> <address>` for a container-scoped ban (host mode). */
  private readonly held = new Map<string, { ip: string; family: 4 | 6; until: number | null; scope?: string }>();

  constructor(private readonly sink: LogSink, private readonly clock: Clock = systemClock) {}

  async init(): Promise<void> {
    this.sink({ action: 'init', text: 'dry run: no firewall changes will be made' });
  }

  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const refused: RefusedEntry[] = [];
    const refuse = (e: { ip: string; family: 4 | 6; scope?: string | undefined }, reason: string): void => {
      refused.push({ ip: String(e.ip), family: e.family, ...(e.scope !== undefined ? { scope: e.scope } : {}), reason });
    };
    for (const u of batch.unban) {
      const c = target(u);
      if ('reason' in c) {
        // Like the real enforcers: an unban of a valid address that cannot be a client removes nothing.
        if (c.reason === 'not a valid IP address') refuse(u, c.reason);
        continue;
      }
      this.held.delete(heldKey(c.ip, u.scope));
      this.sink({ action: 'unban', ip: c.ip, family: c.family, ...scoped(u.scope), text: `would unban ${c.ip}${forScope(u.scope)}` });
    }
    for (const b of batch.ban) {
      const c = target(b);
      if ('reason' in c) {
        refuse(b, c.reason);
        continue;
      }
      // Refused like the kernel enforcers refuse it (a NaN expiry); one never fails the batch.
      const bad: RefusedEntry[] = [];
      if (!acceptExpiry(b, bad)) {
        refuse(b, bad[0]!.reason);
        continue;
      }
      this.held.set(heldKey(c.ip, b.scope), { ip: c.ip, family: c.family, until: b.until, ...scoped(b.scope) });
      // toISOString() throws for ±Infinity and past Date's range: that rejected the whole batch.
      const span = b.until === null ? 'permanently' : `until ${isoTime(b.until) ?? String(b.until)}`;
      this.sink({ action: 'ban', ip: c.ip, family: c.family, until: b.until, ...scoped(b.scope), text: `would ban ${c.ip}${forScope(b.scope)} ${span}` });
    }
    for (const r of refused) this.sink({ action: 'reject', ip: r.ip, text: `would reject ${JSON.stringify(r.ip)}: ${r.reason}` });
    return { refused };
  }

  /**
   * Nothing outside this process can change what a dry run holds, but its list is compared with the
   * ban book's view all the same (lastReading: the kernel_bans and drift gauges of a dry run), and a
   * difference (a bug) is repaired and reported like a kernel enforcer would.
   */
  async check(expected?: () => readonly EnforcerBan[]): Promise<string[]> {
    if (typeof expected !== 'function') return [];
    const now = this.clock.now();
    const held = this.active().length;
    const want = new Map<string, EnforcerBan>();
    for (const b of expected()) {
      if (b.until !== null && !(b.until > now)) continue;
      const c = target(b);
      if (!('reason' in c)) want.set(heldKey(c.ip, b.scope), b);
    }
    let missing = 0;
    let stray = 0;
    for (const [key, b] of want) {
      if (this.held.has(key)) continue;
      missing++;
      const c = target(b) as { ip: string; family: 4 | 6 };
      this.held.set(key, { ip: c.ip, family: c.family, until: b.until, ...scoped(b.scope) });
    }
    for (const key of [...this.held.keys()]) {
      if (want.has(key)) continue;
      stray++;
      this.held.delete(key);
    }
    this.lastReading = { held, missing, stray };
    const out: string[] = [];
    if (missing > 0) out.push(`elements: ${missing} missing ban(s) re-added to the dry run's list`);
    if (stray > 0) out.push(`elements: ${stray} entr${stray === 1 ? 'y' : 'ies'} nobody banned removed from the dry run's list`);
    return out;
  }

  async shutdown(): Promise<void> {
    this.held.clear();
    this.sink({ action: 'shutdown', text: 'dry run ended' });
  }

  /** Addresses a real enforcer would hold now (expired bans left out), sorted. */
  active(): { ip: string; family: 4 | 6; until: number | null; scope?: string }[] {
    const now = this.clock.now();
    const out: { ip: string; family: 4 | 6; until: number | null; scope?: string }[] = [];
    for (const [key, v] of this.held) {
      if (v.until !== null && v.until <= now) this.held.delete(key);
      else out.push({ ...v });
    }
    return out.sort((a, b) => byCodeUnits(a.ip, b.ip) || byCodeUnits(a.scope ?? '', b.scope ?? ''));
  }
}

/** An address (clientAddress) or a network (acceptNetwork), or why it would be refused. */
function target(e: { ip: string; family: 4 | 6 }): { ip: string; family: 4 | 6 } | { reason: string } {
  if (typeof e.ip !== 'string' || !isNetwork(e.ip)) return clientAddress(e.ip);
  const why: RefusedEntry[] = [];
  const n = acceptNetwork(e, [4, 6], why);
  return n ?? { reason: why[0]?.reason ?? 'not a valid network (address/prefix)' };
}

const heldKey = (ip: string, scope: string | undefined): string => (scope === undefined ? ip : `${scope} ${ip}`);
const scoped = (scope: string | undefined): { scope?: string } => (scope === undefined ? {} : { scope });
/** Container ids are 64 hex digits; the text shows Docker's short form. */
const forScope = (scope: string | undefined): string => (scope === undefined ? '' : ` for container ${scope.slice(0, 12)}`);
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
