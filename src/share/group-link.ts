/**
 * The link between the share stage (Redis) and this agent's pipeline: it feeds the group's offenses
 * into detect → decide, the other replicas' bans and unbans into the ban book, and publishes this
 * replica's own bans and unbans. Never the other way round: a ban received from the group is not
 * published again (no echo), and expiry is never published (every replica expires a ban by itself).
 * Manual network (CIDR) bans are shared too; each replica checks one against its own allowlist and
 * adopts it only if its enforcer holds networks.
 * When Redis is away the stage answers at once and the pipeline runs unchanged on local counts.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { Ban } from '../decide/ban-book.js';
import { BanhammerError } from '../errors.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { CLOCK_SKEW_MS, type GroupUnbanResult, type SharedBan, type ShareEvents, type ShareStage } from './share.js';
import { CONTAINER_ID_RE } from '../docker/containers.js';
import { cidrOverlaps, isNetwork, type Cidr } from '../parse/ip.js';

/** IPv6 /96 prefixes whose last 32 bits are an IPv4 address (as IPV4_CARRIERS in parse/ip.ts): NAT64, IPv4-translated, IPv4-compatible. */
const IPV4_CARRIERS: readonly Cidr[] = [
  { network: '64:ff9b::', prefix: 96, family: 6 },
  { network: '::ffff:0:0:0', prefix: 96, family: 6 },
  { network: '::', prefix: 96, family: 6 },
];

export interface GroupLinkOptions {
  readonly share: ShareStage;
  readonly pipeline: Pipeline;
  readonly clock: Clock;
  readonly log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** A ban adopted from the group (hand it to the enforcer; report it once applied). */
  readonly onAdopted: (ban: Ban) => void;
  /** Bans lifted because another replica unbanned the address. */
  readonly onLifted: (bans: Ban[]) => void;
  /**
   * Own bans in force again: the group lifted the longer bans adopted in their place, with an unban
   * made before them (BanBook.liftAdopted). Hand the change to the enforcer.
   */
  readonly onOwnAgain?: (bans: Ban[]) => void;
  /**
   * Host mode with per-container scope: a shared ban's scope must be a container id. Otherwise every
   * ban here is host-wide, and a scope from the group is dropped (it cannot mean anything here).
   */
  readonly scoped: boolean;
  /**
   * Whether this agent's enforcer holds networks (iptables, nftables): a network (CIDR) ban from the
   * group is adopted only then; otherwise it is left out, and said once in the log.
   */
  readonly networks?: boolean;
  /**
   * The widest network (CIDR) ban adopted from the group, per family (prefix lengths; defaults 16 and
   * 48). The group's Redis is trusted to name addresses, but a network names thousands at once: a
   * wider one (up to the /8 or /32 a local `banhammer ban` may take) is refused here and said in the
   * log, once per origin.
   */
  readonly minPrefix?: { readonly 4: number; readonly 6: number };
  /**
   * Host mode with per-container scope: whether a container id is one of this host's containers. A
   * shared ban or group offense for any other id is refused: an id names a container of
   * one host, and each scope costs the enforcer kernel objects of its own (sets, rules), so ids made
   * up by whoever can write to the group's Redis must not make them without end.
   */
  readonly isContainer?: (id: string) => boolean;
}

/** GroupLinkOptions.minPrefix's defaults. */
export const SHARED_NETWORK_MIN_PREFIX = { 4: 16, 6: 48 } as const;

/**
 * How long `banhammer unban` waits for the group's answer (Redis reachable but slow) before it says
 * the unban is on its way (well within the CLI's 10 s).
 */
export const GROUP_ANSWER_MS = 3_000;

const banKey = (ip: string, scope: string | undefined): string => `${ip} ${scope ?? ''}`;

/** Group bans refused at the ban book's cap and kept to adopt once there is room, at most. */
const MAX_WAITING_AT_CAP = 10_000;

export class GroupLink {
  private saidNoNetworks = false;
  /** Origins whose too-wide network was already said in the log (bounded). */
  private readonly saidTooWide = new Set<string>();
  /**
   * Group bans the ban book refused at its cap (BANHAMMER_MAX_BANS), by address and scope: the share
   * stage delivers each group ban once (a repeat is a no-op there), so one refused was never adopted,
   * however much room came back, for its whole length. Adopted by retryRefusedAtCap() once there is
   * room; dropped when they end or the group unbans them. Bounded (MAX_WAITING_AT_CAP).
   */
  private readonly waitingAtCap = new Map<string, Parameters<Pipeline['book']['adopt']>[0]>();

  constructor(private readonly o: GroupLinkOptions) {}

  get connected(): boolean {
    return this.o.share.connected;
  }

  /** Starts the stage (never throws for an unreachable Redis: it keeps retrying). */
  start(): Promise<void> {
    const { share, pipeline, clock, log } = this.o;
    const events: ShareEvents = {
      onRemoteBan: (g) => {
        if (isNetwork(g.ip) && this.o.networks !== true) {
          if (!this.saidNoNetworks) log.warn({ network: g.ip, origin: g.origin }, 'shared bans: a network (CIDR) ban from the group is left out: this enforcer cannot hold networks (iptables or nftables can)');
          this.saidNoNetworks = true;
          return;
        }
        const limit = isNetwork(g.ip) ? this.tooWide(g.ip) : null;
        if (limit !== null) {
          const origin = String(g.origin).slice(0, 128);
          if (!this.saidTooWide.has(origin) && this.saidTooWide.size < 64) {
            this.saidTooWide.add(origin);
            log.warn({ network: g.ip, origin }, `shared bans: a network ban from the group wider than /${limit.prefix} is refused (BANHAMMER_SHARE_MIN_PREFIX${limit.family})`);
          }
          return;
        }
        this.adoptFromGroup(g);
      },
      onRemoteUnban: (u) => {
        if (!this.o.scoped && u.scope !== undefined) {
          this.liftForContainer(u);
          return;
        }
        // An unban only lifts: it is taken for any container id (one removed since keeps its bans).
        const scope = this.scopeOf(u.scope, true);
        if (scope === null) return;
        this.waitingAtCap.delete(banKey(u.ip, scope));
        const now = clock.now();
        if (u.keepOwn === true) {
          // Only what was adopted, made up to the unban (give or take the clocks' skew): a ban this
          // replica made after it stands, and so does the own ban an adopted one had replaced.
          const cause = { at: now, by: `group:${String(u.origin).slice(0, 128)}` };
          // (Not in host mode: the group's host-wide field only; one made for a container stands: liftForContainer.)
          const r = pipeline.book.liftAdopted(u.ip, scope, (u.at ?? now) + CLOCK_SKEW_MS, now, cause, this.o.scoped ? undefined : { scope: undefined });
          if (r.lifted.length > 0) this.o.onLifted(r.lifted);
          if (r.restored.length > 0) {
            for (const b of r.restored) log.info({ ip: b.ip, rule: b.rule, until: b.until, ...(b.scope !== undefined ? { container: b.scopeName ?? b.scope } : {}) }, 'shared bans: the group lifted a ban adopted here; the ban this replica made after that unban is in force again');
            this.o.onOwnAgain?.(r.restored);
          }
          return;
        }
        // Lifting goes over every ban held (BanBook.unban): an unban of an address that holds no ban
        // in force here (anyone on the channel can send thousands a second) is answered from the
        // book's index of addresses instead, or 2,000 of them took over a second with 40,000 bans held.
        if (pipeline.book.effectiveUntil(u.ip, now, scope) === undefined) return;
        const lifted = pipeline.unban(u.ip, scope ?? null, { at: now, by: `group:${String(u.origin).slice(0, 128)}` });
        if (lifted.length > 0) this.o.onLifted(lifted);
      },
      onGroupOffense: (o) => {
        const scope = this.scopeOf(o.scope);
        if (scope === null) return;
        const { scope: _drop, ...rest } = o;
        pipeline.groupOffense(scope === undefined ? rest : { ...rest, scope }, clock.now(), (this.o.minPrefix ?? SHARED_NETWORK_MIN_PREFIX)[6]);
      },
      onStatus: (s) => {
        if (s.connected) log.info({ replica: share.replicaId }, 'shared bans: connected to Redis');
        else log.warn({ err: s.error ?? null }, 'shared bans: Redis is unreachable; detecting and banning locally, bans kept in the outbox');
      },
    };
    // The bans restored from the state file: the group checks them on the first connection (share.ts).
    const now = clock.now();
    const own: SharedBan[] = [];
    const adopted: SharedBan[] = [];
    const shared = (b: Ban, origin: string): SharedBan => ({ ip: b.ip, family: b.family, rule: b.rule, at: b.at, until: b.until, origin, nth: b.nth, ...(b.scope !== undefined ? { scope: b.scope } : {}) });
    for (const b of pipeline.book.active(now)) {
      if (b.from === undefined) own.push(shared(b, share.replicaId));
      else {
        // One made for a container (Ban.groupScope) is checked under the group's field for it.
        adopted.push(b.groupScope !== undefined && b.scope === undefined && !this.o.scoped ? { ...shared(b, b.from), scope: b.groupScope } : shared(b, b.from));
        // The own ban it replaced is still this replica's own to the group (Ban.under).
        if (b.under !== undefined && (b.under.until === null || b.under.until > now)) own.push(shared(b.under, share.replicaId));
      }
    }
    if (own.length + adopted.length > 0) share.restored?.({ own, adopted });
    return share.start(events);
  }

  /** A ban from the group (an address, or a network the checks above let through), adopted here. */
  private adoptFromGroup(g: SharedBan): void {
    const { pipeline, clock } = this.o;
    const scope = this.scopeOf(g.scope);
    if (scope === null) return;
    const { scope: _drop, ...rest } = g;
    // Not in host mode: a ban for one container is held host-wide, and the container it was made for
    // kept with it (Ban.groupScope): the group stores it apart from this replica's own ban.
    const offered = scope !== undefined ? { ...rest, scope } : g.scope !== undefined && !this.o.scoped ? { ...rest, groupScope: g.scope } : rest;
    const refused = pipeline.book.refusedAtCap;
    const ban = pipeline.book.adopt(offered, clock.now());
    const k = banKey(g.ip, scope);
    if (ban !== null) {
      this.waitingAtCap.delete(k);
      this.o.onAdopted(ban);
    } else if (pipeline.book.refusedAtCap > refused && (this.waitingAtCap.has(k) || this.waitingAtCap.size < MAX_WAITING_AT_CAP)) {
      this.waitingAtCap.set(k, offered);
    }
  }

  /**
   * Not in host mode: the group lifted its ban of `u.ip` for one container (a host-mode replica's
   * `unban --container`, or one found lifted at a catch-up), which this agent holds host-wide
   * (Ban.groupScope). Only that is lifted here: the adopted bans made for that container up to the
   * unban (give or take the clocks' skew). The own ban one of them had replaced stands again, and so
   * does every other ban of the address the group still stores and this replica heard of (adopted
   * again: the lifted one had replaced or covered them). Read as a host-wide unban, it lifted this
   * replica's own ban, which the group still stored: the firewall let through an address its own
   * detection banned, `why` said nothing, and the ban came back at the next restart (review h44).
   */
  private liftForContainer(u: Parameters<ShareEvents['onRemoteUnban']>[0]): void {
    const { pipeline, clock, log } = this.o;
    const scope = u.scope!;
    const k = banKey(u.ip, undefined);
    if (this.waitingAtCap.get(k)?.groupScope === scope) this.waitingAtCap.delete(k);
    const now = clock.now();
    // (Nothing held: answered from the book's index, as below for a host-wide unban.)
    if (pipeline.book.effectiveUntil(u.ip, now) === undefined) return;
    const before = (u.at ?? now) + CLOCK_SKEW_MS;
    const origin = String(u.origin).slice(0, 128);
    const r = pipeline.book.liftAdopted(u.ip, undefined, before, now, { at: now, by: `group:${origin}` }, { scope, origin });
    if (r.lifted.length + r.restored.length === 0) return;
    if (r.lifted.length > 0) this.o.onLifted(r.lifted);
    if (r.restored.length > 0) {
      for (const b of r.restored) log.info({ ip: b.ip, rule: b.rule, until: b.until, container: scope.slice(0, 12) }, "shared bans: the group lifted a ban for one container held here host-wide; this replica's own ban of the address, which the group still stores, is in force again");
      this.o.onOwnAgain?.(r.restored);
    }
    // Of the bans held under one rule here, only the longest can take the lifted one's place (the
    // book refuses a shorter one as covered, for every reason it would refuse the longest): one pass
    // picks it per rule, and those few are adopted, longest first. Sorting and offering every ban
    // heard of the address took 0.35 s per unban with 100,000 heard for it (one per container id,
    // which anyone on the channel can make up), and one such unban after another kept the agent's
    // event loop blocked (review H52).
    const longest = (x: SharedBan): number => (x.until === null ? Infinity : x.until);
    const best = new Map<string, SharedBan>();
    for (const g of this.o.share.heard?.(u.ip, now) ?? []) {
      if (g.scope === scope && g.at <= before) continue;
      const rule = pipeline.book.adoptedRule(g.rule);
      const kept = best.get(rule);
      if (kept === undefined || longest(g) > longest(kept)) best.set(rule, g);
    }
    for (const g of [...best.values()].sort((x, y) => longest(y) - longest(x))) this.adoptFromGroup(g);
  }

  /**
   * Is this network (canonical `a/n`, validated by the share stage) wider than the group may ban
   * here? The limit it exceeds (its prefix, and the family of the setting), or null.
   */
  private tooWide(network: string): { prefix: number; family: 4 | 6 } | null {
    // The family from the text itself, not from what the message claims.
    const family = network.includes(':') ? 6 : 4;
    const slash = network.lastIndexOf('/');
    const prefix = Number(network.slice(slash + 1));
    const limits = this.o.minPrefix ?? SHARED_NETWORK_MIN_PREFIX;
    if (!Number.isInteger(prefix)) return { prefix: limits[family], family };
    // An IPv6 network carrying IPv4 addresses names IPv4 clients: as many as the IPv4 network in its
    // last 32 bits, so it is held to the IPv4 limit there (64:ff9b::/104 is an IPv4 /8 behind a NAT64
    // gateway, and passed the IPv6 /48 limit), as parse/ip.ts holds it to the local one.
    if (family === 6) {
      const n: Cidr = { network: network.slice(0, slash), prefix, family: 6 };
      if (IPV4_CARRIERS.some((c) => cidrOverlaps(c, n))) return prefix < 96 + limits[4] ? { prefix: 96 + limits[4], family: 4 } : null;
    }
    return prefix < limits[family] ? { prefix: limits[family], family } : null;
  }

  /** A scope from the group as this agent reads it: undefined = host-wide, null = refuse. */
  private scopeOf(scope: string | undefined, anyContainer = false): string | undefined | null {
    if (!this.o.scoped || scope === undefined) return undefined;
    if (!CONTAINER_ID_RE.test(scope)) return null;
    if (!anyContainer && this.o.isContainer !== undefined && !this.o.isContainer(scope)) {
      if (!this.unknownScopeSaid) {
        this.unknownScopeSaid = true;
        this.o.log.warn({ container: scope.slice(0, 12) }, 'shared bans: a ban for a container this host does not run is ignored (said once)');
      }
      return null;
    }
    return scope;
  }

  private unknownScopeSaid = false;

  stop(): Promise<void> {
    return this.o.share.stop();
  }

  /**
   * A ban made here (detected, group offense or manual, a network's too): the group gets it. Adopted
   * bans are never published again.
   */
  published(ban: Ban): void {
    if (ban.from !== undefined) return;
    this.o.share.publishBan({
      ip: ban.ip,
      family: ban.family,
      rule: ban.rule,
      at: ban.at,
      until: ban.until,
      origin: this.o.share.replicaId,
      nth: ban.nth,
      ...(ban.scope !== undefined ? { scope: ban.scope } : {}),
    });
  }

  /**
   * Bans lifted here by `banhammer unban`: lifted in every replica. An agent that is not scoped holds
   * the group's bans for one container host-wide (their scope is dropped on adoption), so its unban
   * of an address also lifts the group's bans of it for any container it heard of: otherwise that
   * stored ban stayed, with no tombstone, and came back here host-wide at the next restart or
   * resync (review: helper).
   */
  unbanned(bans: readonly Ban[]): void {
    const seen = new Set<string>();
    const publish = (ip: string, family: 4 | 6, scope: string | undefined): void => {
      const k = banKey(ip, scope);
      if (seen.has(k)) return;
      seen.add(k);
      this.waitingAtCap.delete(k);
      void this.o.share.publishUnban({ ip, family, ...(scope !== undefined ? { scope } : {}) });
    };
    for (const b of bans) {
      publish(b.ip, b.family, b.scope);
      if (!this.o.scoped && b.groupScope !== undefined && b.scope === undefined) publish(b.ip, b.family, b.groupScope);
      if (!this.o.scoped) for (const s of this.scopesHeard(b.ip)) publish(b.ip, b.family, s);
    }
  }

  /**
   * Group bans refused at the ban book's cap, adopted now that there is room (the daemon's 1 s
   * tick), oldest first; those that ended meanwhile are dropped.
   */
  retryRefusedAtCap(): void {
    if (this.waitingAtCap.size === 0) return;
    const { pipeline, clock } = this.o;
    const now = clock.now();
    for (const [k, g] of this.waitingAtCap) {
      if (g.until !== null && g.until <= now) {
        this.waitingAtCap.delete(k);
        continue;
      }
      if (!pipeline.book.hasRoom(undefined, true)) return;
      if (!pipeline.book.hasRoom(g.scope, true)) continue;
      this.waitingAtCap.delete(k);
      const ban = pipeline.book.adopt(g, now);
      if (ban !== null) this.o.onAdopted(ban);
    }
  }

  /** The containers the group's bans of `ip` that this replica heard of are for. */
  private scopesHeard(ip: string): string[] {
    const scopes = new Set<string>();
    for (const g of this.o.share.heard?.(ip, this.o.clock.now()) ?? []) if (g.scope !== undefined) scopes.add(g.scope);
    return [...scopes];
  }

  /**
   * `banhammer unban` of `ip` (in `scope`; host-wide when undefined) here, which lifted `lifted` in
   * this agent. Those are lifted in every replica (unbanned()), and the address's unban goes to the
   * group even when no ban of it was held here: this replica may have refused the group's ban
   * (allowlisted here, a network its enforcer cannot hold), ended it earlier by its own clock, or
   * never heard of it, while every other replica still enforces it. Resolves with how many bans the
   * group lifted besides those held here (0 or 1), for the answer. When nothing was held here and the
   * group's answer is not "lifted" or "none" (Redis unreachable or slow, or a newer ban stands), it
   * throws a BH_ERR_CONTROL saying so: "not banned" would be untrue while the group may ban it.
   */
  async unban(ip: string, scope: string | undefined, lifted: readonly Ban[]): Promise<number> {
    this.unbanned(lifted);
    // Published by unbanned() already, and counted in the answer.
    if (lifted.some((b) => banKey(b.ip, b.scope) === banKey(ip, scope))) return 0;
    const family = ip.includes(':') ? 6 : 4;
    // Not scoped: the group's bans of it for one container are lifted too (see unbanned()).
    if (!this.o.scoped && scope === undefined) for (const s of this.scopesHeard(ip)) void this.o.share.publishUnban({ ip, family, scope: s });
    const r = await this.answer(this.o.share.publishUnban({ ip, family, ...(scope !== undefined ? { scope } : {}) }));
    if (r === 'lifted') return 1;
    if (r === 'none' || r === 'invalid' || r === undefined || lifted.length > 0) return 0;
    if (r === 'newer') {
      throw new BanhammerError('BH_ERR_CONTROL', `${ip} is not banned here, and the group holds a ban of it made after this unban (are the replicas' clocks apart?): that ban stands`, {
        hint: 'run banhammer unban again in a few seconds, and check the hosts\' clocks (NTP)',
        data: { ip },
      });
    }
    throw new BanhammerError(
      'BH_ERR_CONTROL',
      r === 'queued'
        ? `${ip} is not banned here, and Redis is unreachable: the unban waits for it and lifts the group's ban of ${ip}, if there is one, when it returns`
        : `${ip} is not banned here, and Redis has not answered within ${GROUP_ANSWER_MS / 1000} s: the unban is on its way and lifts the group's ban of ${ip}, if there is one`,
      { hint: 'banhammer status says whether Redis is reachable; the other replicas show whether the ban is lifted', data: { ip } },
    );
  }

  /**
   * `banhammer unban --all` here, which lifted `lifted` in this agent: lifted in every replica, and
   * so is every ban the group stores that was not held here (as unban() does for one address).
   * Resolves with how many of those the group lifted (0 while Redis is unreachable: the group's bans
   * cannot be read then; the ones lifted here wait in the outbox).
   */
  async unbanAll(lifted: readonly Ban[]): Promise<number> {
    this.unbanned(lifted);
    const held = new Set(lifted.map((b) => banKey(b.ip, b.scope)));
    // Bounded like every answer from the group: a connected but hung Redis must not hold the CLI
    // past its own timeout after the local unbans are done (review: helper).
    const stored = await this.within(this.o.share.snapshot(this.o.clock.now()));
    if (stored === 'slow') {
      throw new BanhammerError('BH_ERR_CONTROL', `lifted ${lifted.length} ban${lifted.length === 1 ? '' : 's'} here; Redis has not answered within ${GROUP_ANSWER_MS / 1000} s, so the group's other bans could not be read: run banhammer unban --all again once it answers`, {
        hint: 'banhammer status says whether Redis is reachable',
      });
    }
    let count = 0;
    const sent = stored
      .filter((g) => !held.has(banKey(g.ip, g.scope)))
      .map((g) => Promise.resolve(this.o.share.publishUnban({ ip: g.ip, family: g.family, ...(g.scope !== undefined ? { scope: g.scope } : {}) })).then((r) => void (r === 'lifted' && count++)));
    await this.answer(Promise.all(sent).then(() => 'none' as const));
    return count;
  }

  /**
   * The group's bans of `ip` (address or network, canonical) this replica heard of and does not hold
   * (`held`: the bans in force here): for `banhammer why`.
   */
  notHeld(ip: string, held: readonly Ban[]): SharedBan[] {
    const here = new Set(held.map((b) => banKey(b.ip, b.scope)));
    // An agent that is not scoped holds every ban host-wide (the group's scope is dropped on adoption).
    return (this.o.share.heard?.(ip, this.o.clock.now()) ?? []).filter((g) => !here.has(banKey(g.ip, this.o.scoped ? g.scope : undefined)));
  }

  /** The group's answer, or 'slow' when it has not come within GROUP_ANSWER_MS. */
  private answer(p: Promise<GroupUnbanResult> | void): Promise<GroupUnbanResult | 'slow' | undefined> {
    if (p === undefined) return Promise.resolve(undefined);
    return this.within(p);
  }

  /** `p`, or 'slow' when it has not settled within GROUP_ANSWER_MS. */
  private within<T>(p: Promise<T>): Promise<T | 'slow'> {
    let timer: TimerHandle | undefined;
    const late = new Promise<'slow'>((resolve) => {
      timer = this.o.clock.setTimeout(() => resolve('slow'), GROUP_ANSWER_MS);
    });
    return Promise.race([p, late]).finally(() => this.o.clock.clearTimeout(timer!));
  }
}
