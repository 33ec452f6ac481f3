/**
 * DockerUserEnforcer (host mode): bans for the containers of a Docker host, in the DOCKER-USER chain,
 * which forwarded traffic to published ports passes after Docker's DNAT and before Docker's own
 * ACCEPT rules — so bans hold for ports that bypass INPUT and ufw. Layout and names:
 * docker-user-args.ts.
 *
 * - init(): resolves the backend (the one holding Docker's chains, see backend-mode.ts), creates the
 *   host-wide sets (-exist: entries survive a restart), fills our chain in one iptables-restore
 *   transaction (the RETURN for replies to the containers' own connections, then the host-wide rules
 *   only: the daemon re-applies every active ban right after init, which brings the containers back;
 *   a chain an older version left, without the RETURN, is replaced whole), removes
 *   per-container sets a previous run left (their bans come back with that re-apply), creates
 *   DOCKER-USER if Docker has not (yet), adds our FORWARD jump only while FORWARD has no jump to
 *   DOCKER-USER (Docker adds its own when it starts: ours then steps aside), and inserts our jump at
 *   the top of DOCKER-USER.
 * - apply(batch): makes sure each container named by a scoped ban has its sets and its chain rules,
 *   then feeds the whole batch to one `ipset -exist restore`, isolating any element the kernel
 *   refuses (returned in ApplyResult.refused; the rest is applied), like the iptables enforcer.
 * - check(expected) (every 2 s): re-creates missing sets, rebuilds the chain when it lost a rule or
 *   holds one we did not put there, re-creates DOCKER-USER and the jumps after Docker (or anyone)
 *   rebuilt the chains, moves our jump back to the top of DOCKER-USER when rules were inserted
 *   above it (FirewallCommands.keepOnTop), re-reads each banned container's addresses (a restarted container's new
 *   address replaces the old one in the chain, reported through onNote), and compares every set
 *   with the ban book's unexpired bans (entry counts first, members only when they differ or every
 *   FULL_COMPARE_EVERY checks): missing bans are re-added, strays removed.
 * - shutdown(): removes our jump from DOCKER-USER, our FORWARD jump, our chain, any copy of it renamed
 *   with `iptables -E` (renamed-copies.ts) and our sets, then the empty filter tables iptables-nft
 *   made for them where there were none (filter-table-leftover.ts). It never
 *   deletes DOCKER-USER unless this process created it and nothing else uses it.
 */
import { systemClock, type Clock } from '../clock.js';
import { canonicalIp } from '../parse/ip.js';
import { execError } from '../exec/runner.js';
import type { ContainerInfo } from '../docker/containers.js';
import type { Backend } from './backend-mode.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch, KernelReading, RefusedEntry } from './enforcer.js';
import { FirewallCommands, TeardownSteps, describeChainRepair, familyLabel, retiredTargets, wantedBySet, type FirewallCommandOptions, type TopState } from './firewall-commands.js';
import { classifyFirewallError, isTransientFirewallError } from './firewall-errors.js';
import { FULL_COMPARE_EVERY, REPAIR_SET_RECREATED } from './iptables.js';
import { destroyOwnSet } from './renamed-copies.js';
import { FilterTableLeftover } from './filter-table-leftover.js';
import { InstanceClaim } from './instance-claim.js';
import {
  checkRuleArgs,
  deleteChainArgs,
  deleteRuleArgs,
  flushChainArgs,
  insertRuleArgs,
  listChainArgs,
  listSetNamesArgs,
  restoreArgs,
  type BlockAction,
  type Family,
  type SetEntry,
} from './iptables-args.js';
import {
  DOCKER_USER,
  banSet,
  chainRestoreText,
  chainSpecs,
  containerSetName,
  dockerUserBatch,
  dockerUserJumpSpec,
  dockerUserNames,
  forwardJumpSpec,
  hasRules,
  jumpsTo,
  newChainArgs,
  parseForwardJumps,
  siblingForwardJumps,
  type ContainerTarget,
  type DockerUserNames,
} from './docker-user-args.js';

/** What the enforcer needs to know about containers: their current addresses. */
export interface ContainerAddresses {
  info(id: string): ContainerInfo | null;
}

export interface DockerUserEnforcerOptions extends FirewallCommandOptions {
  readonly instance: string;
  readonly containers: ContainerAddresses;
  readonly blockAction?: BlockAction;
  readonly clock?: Clock;
  /** Things the operator should know that are not repairs (a container's address changed). */
  readonly onNote?: (msg: string) => void;
  /** Problems the operator should see that do not stop the agent (Docker not running at start). */
  readonly onWarning?: (msg: string) => void;
  /** check() compares set members even when the counts agree every this many checks; 0 = never. Default 30. */
  readonly fullCompareEvery?: number;
  /**
   * Claim the instance name in this network namespace first (instance-claim.ts): a second agent with
   * the same name is refused at start, and one refused never tears down. The agent sets it; tests
   * that run several enforcers from one process into other namespaces leave it off.
   */
  readonly claimInstance?: boolean;
}

const short = (id: string): string => id.slice(0, 12);
const canonicalFamily = (ip: string): Family | null => canonicalIp(ip)?.family ?? null;

export class DockerUserEnforcer implements Enforcer {
  readonly name = 'docker-user';
  readonly names: DockerUserNames;
  readonly families: readonly Family[];
  private readonly action: BlockAction;
  private readonly clock: Clock;
  private readonly cmd: FirewallCommands;
  /** Containers with sets in the kernel, and the addresses their chain rules were written for. */
  private readonly targets = new Map<string, ContainerTarget>();
  /** Containers let go (no ban in force) whose sets are still to be destroyed: tried at every check until gone. */
  private readonly retiring = new Set<string>();
  /** Families whose DOCKER-USER chain this process created (it may delete them again at shutdown). */
  private readonly createdDockerUser = new Set<Family>();
  /** `<container id>/<family>` already reported as holding bans it has no address of that family for. */
  private readonly familyGapsReported = new Set<string>();
  private checks = 0;
  lastReading: KernelReading | undefined;
  private readonly top: Record<Family, TopState> = { 4: { moves: 0, gaveUp: false }, 6: { moves: 0, gaveUp: false } };
  /** The same for our own FORWARD jump to DOCKER-USER (while Docker has none). */
  private readonly forwardTop: Record<Family, TopState> = { 4: { moves: 0, gaveUp: false }, 6: { moves: 0, gaveUp: false } };

  /** The instance name claimed in this namespace (option claimInstance), or null. */
  private readonly claim: InstanceClaim | null;
  /**
   * The filter tables iptables-nft makes for our FORWARD jump and chains where there were none
   * (Docker's nftables backend has no `ip filter` table), removed again at shutdown when they hold
   * nothing else (filter-table-leftover.ts).
   */
  private readonly leftover: FilterTableLeftover;

  constructor(private readonly opts: DockerUserEnforcerOptions) {
    this.leftover = new FilterTableLeftover(opts.runner);
    this.claim = opts.claimInstance === true ? new InstanceClaim(opts.instance) : null;
    this.names = dockerUserNames(opts.instance);
    this.action = opts.blockAction ?? 'drop';
    this.cmd = new FirewallCommands(opts);
    this.families = this.cmd.families;
    this.clock = opts.clock ?? systemClock;
  }

  get backend(): Backend | undefined {
    return this.cmd.backend;
  }

  async init(): Promise<void> {
    await this.claim?.acquire();
    const backend = await this.cmd.ensureBackend();
    // Before the first write: which filter tables iptables-nft is about to make for us (shutdown removes them again).
    if (backend.mode === 'nft') await this.leftover.note(this.families);
    for (const f of this.families) await this.cmd.createOrReplaceSet(this.names.sets[f], f, 'hash:ip', () => this.releaseSets(f, backend));
    this.targets.clear();
    this.retiring.clear();
    this.familyGapsReported.clear();
    for (const f of this.families) await this.fillChain(f, backend);
    // Sets of a previous run are no longer referenced by the chain: their bans come back with the
    // daemon's re-apply (from the state file), with the containers' current addresses.
    for (const set of await this.ourContainerSets()) await this.cmd.destroySet(set);
    for (const f of this.families) {
      const hooks = await this.ensureHooks(f, backend);
      if (hooks.some((h) => h.startsWith(`chain (${familyLabel(f)}): ${DOCKER_USER} was missing`))) {
        this.opts.onWarning?.(
          `${DOCKER_USER} did not exist (${familyLabel(f)}): Docker is not running here, or not yet, or uses another iptables backend; banhammer created it and jumps to it from FORWARD until Docker adds its own jump`,
        );
      }
    }
  }

  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const b = dockerUserBatch(batch, this.names, this.clock.now(), this.families, (id) => this.targets.has(id));
    const added = [...b.containers].filter((id) => !this.targets.has(id));
    for (const id of added) await this.addContainer(id, false);
    // The new containers' chain rules without waiting out a held xtables lock (after iptables' own
    // 2 s): the batch's bans need only ipset, and a batch retrying for up to a minute would keep
    // them, and every later ban, out of the kernel. The next check that gets the lock adds the rules
    // (the chain then lacks them).
    if (added.length > 0) {
      try {
        await this.cmd.hurried(async () => {
          const backend = await this.cmd.ensureBackend();
          for (const f of this.families) await this.fillChain(f, backend);
        });
      } catch (e) {
        if (!isTransientFirewallError(e)) throw e;
        this.opts.onWarning?.(`the chain rules of ${added.length} newly banned container(s) (first ${short(added[0]!)}) wait for the xtables lock another program holds (${e instanceof Error ? e.message : String(e)}); their bans are in their sets, and the next check adds the rules`);
      }
    }
    const refused: RefusedEntry[] = [...b.rejected];
    refused.push(...(await this.cmd.applyLines(b.lines, 'applying bans to the docker-user ipsets')));
    this.reportFamilyGaps(batch);
    return { refused };
  }

  /** Hurried (FirewallCommands.hurried): a lock held by another program fails the check at once, never holding back bans. */
  check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    return this.cmd.hurried(() => this.checkNow(expected));
  }

  private async checkNow(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    const backend = await this.cmd.ensureBackend();
    const repaired: string[] = [];
    const now = this.clock.now();
    // Without the ban book's view (a caller from before the contract) set contents are not compared:
    // an empty list would make every ban a stray.
    const compare = typeof expected === 'function';
    const book = compare ? expected() : [];
    const want = wantedBySet(book, now, (ban, family) => (this.families.includes(family) ? banSet(this.names, family, ban.scope) : null));
    // A container the ban book has bans for but the kernel has no sets for (lost, or never applied).
    for (const ban of book) {
      if (ban.scope === undefined || this.targets.has(ban.scope) || (ban.until !== null && !(ban.until > now))) continue;
      const c = canonicalFamily(ban.ip);
      if (c === null || !this.families.includes(c) || !want.has(banSet(this.names, c, ban.scope) ?? '')) continue;
      await this.addContainer(ban.scope);
      repaired.push(`container ${short(ban.scope)}: its sets and chain rules were missing and were added`);
    }
    // Containers none of whose bans is in force any more: their chain rules, then their sets go (the
    // next ban brings them back). A host that runs many short-lived containers would otherwise keep,
    // and check every 2 s, two sets and a rule for every container ever banned.
    const idle = retiredTargets(this.targets.keys(), compare ? book : null, now);
    if (idle.length > 0) {
      for (const id of idle) {
        this.targets.delete(id);
        this.retiring.add(id);
        this.familyGapsReported.delete(`${id}/4`);
        this.familyGapsReported.delete(`${id}/6`);
      }
      for (const f of this.families) await this.fillChain(f, backend);
    }
    // A destroy can fail while the kernel still holds a reference to the set (iptables-nft lets go
    // of it late): the container stays in `retiring` and is tried again at the next check.
    for (const id of [...this.retiring]) {
      if (this.targets.has(id)) {
        this.retiring.delete(id);
        continue;
      }
      try {
        for (const f of this.families) await this.cmd.destroySet(containerSetName(this.names, id, f));
        this.retiring.delete(id);
      } catch {
        // tried again at the next check
      }
    }
    // Each set missing, or re-created by someone else in a shape that cannot hold our bans (no
    // timeouts, the other family, another type, too small), is made ours again before the chain
    // (which refers to them) is checked.
    const headers = await this.cmd.setHeaders();
    for (const f of this.families) {
      const release = () => this.releaseSets(f, backend);
      const set = this.names.sets[f];
      const r = await this.cmd.ensureSet(set, f, 'hash:ip', headers, `${REPAIR_SET_RECREATED} (${familyLabel(f)}): ${set} was missing and was re-created; its bans are re-added`, release);
      if (r !== null) repaired.push(r);
      for (const id of this.targets.keys()) {
        const cset = containerSetName(this.names, id, f);
        const missing = `${REPAIR_SET_RECREATED} (${familyLabel(f)}): ${cset} (container ${short(id)}) was missing and was re-created; its bans are re-added`;
        const c = await this.cmd.ensureSet(cset, f, 'hash:ip', headers, missing, release);
        if (c !== null) repaired.push(c);
      }
    }
    const counts = new Map([...headers].map(([name, h]) => [name, h.count]));
    const moved = this.refreshAddresses();
    for (const f of this.families) {
      const chain = this.names.chain;
      if (moved.length > 0) {
        // Rewritten anyway for the new addresses.
        await this.fillChain(f, backend);
      } else {
        const bin = f === 4 ? backend.iptables : backend.ip6tables;
        const st = await this.cmd.chainState(bin, chain, chainSpecs(this.names, f, this.action, [...this.targets.values()]), backend);
        if (st.state !== 'ok') {
          await this.fillChain(f, backend);
          repaired.push(describeChainRepair(familyLabel(f), chain, st, 'rules'));
        }
      }
      for (const r of await this.ensureHooks(f, backend)) repaired.push(r);
    }
    for (const m of moved) this.opts.onNote?.(m);
    if (!compare) return repaired;
    const full = (this.opts.fullCompareEvery ?? FULL_COMPARE_EVERY) > 0 && ++this.checks % (this.opts.fullCompareEvery ?? FULL_COMPARE_EVERY) === 0;
    const reading = { held: 0, missing: 0, stray: 0 };
    for (const f of this.families) {
      const sets = [this.names.sets[f], ...[...this.targets.keys()].map((id) => containerSetName(this.names, id, f))];
      for (const set of sets) {
        const r = await this.cmd.repairSet(set, f, want.get(set) ?? new Map(), counts.get(set) ?? 0, full, now);
        if (r.repaired !== null) repaired.push(r.repaired);
        for (const x of r.refused) repaired.push(`set (${familyLabel(f)}): ${set}: could not re-add ${x.ip}: ${x.reason}`);
        reading.held += counts.get(set) ?? 0;
        reading.missing += r.missing;
        reading.stray += r.stray;
      }
    }
    this.lastReading = reading;
    return repaired;
  }

  async shutdown(): Promise<void> {
    // Refused the instance name at start: the chains and sets are another agent's.
    if (this.claim !== null && !this.claim.held) return;
    const backend = await this.cmd.ensureBackend();
    const steps = new TeardownSteps();
    const chain = this.names.chain;
    for (const f of this.families) {
      const bin = f === 4 ? backend.iptables : backend.ip6tables;
      await steps.attempt(async () => {
        const du = await this.cmd.exec(bin, listChainArgs(DOCKER_USER), `listing ${DOCKER_USER}`, backend, { okExitCodes: [0, 1] });
        if (du.code === 0) {
          for (const spec of jumpsTo(du.stdout, DOCKER_USER, chain)) {
            await this.cmd.exec(bin, deleteRuleArgs(DOCKER_USER, spec), `removing the ${DOCKER_USER} jump to ${chain}`, backend);
          }
        }
      });
      await steps.attempt(async () => {
        const fw = await this.cmd.exec(bin, listChainArgs('FORWARD'), 'listing FORWARD', backend);
        for (const spec of parseForwardJumps(fw.stdout, this.names).ours) {
          await this.cmd.exec(bin, deleteRuleArgs('FORWARD', spec), `removing our FORWARD jump to ${DOCKER_USER}`, backend);
        }
      });
      await steps.attempt(() => this.cmd.exec(bin, flushChainArgs(chain), `flushing chain ${chain}`, backend, { okExitCodes: [0, 1] }));
      await steps.attempt(() => this.cmd.exec(bin, deleteChainArgs(chain), `deleting chain ${chain}`, backend, { okExitCodes: [0, 1] }));
      if (this.createdDockerUser.has(f)) {
        await steps.attempt(async () => {
          // Ours to remove only while empty and unreferenced (Docker may have adopted it meanwhile).
          const du = await this.cmd.exec(bin, listChainArgs(DOCKER_USER), `listing ${DOCKER_USER}`, backend, { okExitCodes: [0, 1] });
          const fw = await this.cmd.exec(bin, listChainArgs('FORWARD'), 'listing FORWARD', backend);
          if (du.code === 0 && !hasRules(du.stdout, DOCKER_USER) && parseForwardJumps(fw.stdout, this.names).others === 0) {
            await this.cmd.exec(bin, deleteChainArgs(DOCKER_USER), `deleting the ${DOCKER_USER} chain it created`, backend, { okExitCodes: [0, 1] });
          }
          this.createdDockerUser.delete(f);
        });
      }
    }
    await steps.attempt(async () => {
      const sets = [...this.families.map((f) => this.names.sets[f]), ...(await this.ourContainerSets())];
      // A copy of our chain renamed with `iptables -E` still names our sets: it goes first (renamed-copies.ts).
      const bins = this.families.map((f) => (f === 4 ? backend.iptables : backend.ip6tables));
      for (const set of sets) await destroyOwnSet(() => this.cmd.destroySet(set), (...a) => this.cmd.exec(...a), bins, backend, sets, chain);
    });
    this.targets.clear();
    this.familyGapsReported.clear();
    if (backend.mode === 'nft') await this.leftover.removeIfLeftover();
    await this.claim?.release();
    steps.throwFirst();
  }

  /** What the kernel holds in a host-wide set, or in a container's set (for status and tests). */
  async listSet(family: Family, containerId?: string): Promise<SetEntry[]> {
    const set = containerId === undefined ? this.names.sets[family] : containerSetName(this.names, containerId, family);
    return this.cmd.listSet(set);
  }

  // ── internals ──────────────────────────────────────────────────────────────

  /** A container gets its sets, then (with `fill`) its chain rules (the rules reference the sets). */
  private async addContainer(id: string, fill = true): Promise<void> {
    const backend = await this.cmd.ensureBackend();
    this.retiring.delete(id);
    for (const f of this.families) await this.cmd.createSet(containerSetName(this.names, id, f), f);
    const info = this.opts.containers.info(id);
    this.targets.set(id, { id, v4: info?.v4 ?? [], v6: info?.v6 ?? [] });
    if (info === null || info.v4.length + info.v6.length === 0) {
      this.opts.onNote?.(`container ${short(id)} has no known address yet: its bans are held and take effect once Docker gives it one`);
    }
    if (fill) for (const f of this.families) await this.fillChain(f, backend);
  }

  /**
   * A scoped ban of an IPv6 client at a container with only IPv4 addresses (or the reverse) is in
   * the container's set, but no chain rule names the container in that family, so it blocks nothing
   * until the container gets such an address. Says so once per container and family.
   */
  private reportFamilyGaps(batch: EnforcerBatch): void {
    for (const ban of batch.ban) {
      if (ban.scope === undefined) continue;
      const t = this.targets.get(ban.scope);
      if (t === undefined || t.v4.length + t.v6.length === 0) continue; // "no known address yet" was said
      const family = ban.family;
      if (!this.families.includes(family) || (family === 4 ? t.v4 : t.v6).length > 0) continue;
      const key = `${t.id}/${family}`;
      if (this.familyGapsReported.has(key)) continue;
      this.familyGapsReported.add(key);
      const name = this.opts.containers.info(t.id)?.name ?? short(t.id);
      this.opts.onNote?.(
        `container ${name} (${short(t.id)}) has no ${familyLabel(family)} address: its ${familyLabel(family)} bans (first ${ban.ip}) are held and take effect once Docker gives it one`,
      );
    }
  }

  /** Re-reads each banned container's addresses; returns one note per container whose addresses changed. */
  private refreshAddresses(): string[] {
    const notes: string[] = [];
    for (const [id, t] of this.targets) {
      const info = this.opts.containers.info(id);
      const v4 = info?.v4 ?? [];
      const v6 = info?.v6 ?? [];
      if (v4.join() === t.v4.join() && v6.join() === t.v6.join()) continue;
      this.targets.set(id, { id, v4, v6 });
      this.familyGapsReported.delete(`${id}/4`);
      this.familyGapsReported.delete(`${id}/6`);
      const was = [...t.v4, ...t.v6].join(' ') || 'none';
      const now = [...v4, ...v6].join(' ') || 'none';
      notes.push(`container ${info?.name ?? short(id)} (${short(id)}) addresses changed from ${was} to ${now}; its bans now apply to the new addresses`);
    }
    return notes;
  }

  private async ourContainerSets(): Promise<string[]> {
    const out = (await this.cmd.exec(this.cmd.ipset, listSetNamesArgs(), 'listing ipsets')).stdout;
    return out.split('\n').map((l) => l.trim()).filter((n) => n.startsWith(this.names.containerSetPrefix));
  }

  /** Empties our chain of family `f`, so that its sets can be destroyed (check() refills it). */
  private releaseSets(f: Family, backend: Backend): Promise<unknown> {
    const bin = f === 4 ? backend.iptables : backend.ip6tables;
    return this.cmd.exec(bin, flushChainArgs(this.names.chain), `flushing chain ${this.names.chain} to replace its set`, backend, { okExitCodes: [0, 1] });
  }

  private fillChain(f: Family, backend: Backend): Promise<unknown> {
    const bin = f === 4 ? backend.iptablesRestore : backend.ip6tablesRestore;
    const specs = chainSpecs(this.names, f, this.action, [...this.targets.values()]);
    return this.cmd.exec(bin, restoreArgs(), `filling chain ${this.names.chain} (${familyLabel(f)})`, backend, { input: chainRestoreText(this.names.chain, specs) });
  }

  /**
   * DOCKER-USER exists, FORWARD jumps to it (Docker's jump, or ours while Docker has none), and our
   * jump is in DOCKER-USER. Returns one line per repair.
   */
  private async ensureHooks(f: Family, backend: Backend): Promise<string[]> {
    const bin = f === 4 ? backend.iptables : backend.ip6tables;
    const repaired: string[] = [];
    const du = await this.cmd.exec(bin, listChainArgs(DOCKER_USER), `listing ${DOCKER_USER}`, backend, { okExitCodes: [0, 1] });
    if (du.code !== 0) {
      const r = await this.cmd.exec(bin, newChainArgs(DOCKER_USER), `creating the ${DOCKER_USER} chain`, backend, { okExitCodes: [0, 1] });
      if (r.code === 0) {
        this.createdDockerUser.add(f);
        repaired.push(`chain (${familyLabel(f)}): ${DOCKER_USER} was missing (Docker not running, or not yet) and was created`);
      } else if (!/already exists/i.test(r.stderr)) {
        // Anything but a race with Docker creating it at the same moment.
        throw classifyFirewallError(execError(bin, newChainArgs(DOCKER_USER), r), `creating the ${DOCKER_USER} chain`, backend.mode);
      }
    }
    const forward = (await this.cmd.exec(bin, listChainArgs('FORWARD'), 'listing FORWARD', backend)).stdout;
    const fw = parseForwardJumps(forward, this.names);
    // Another banhammer agent's jump (another instance) is no reason to step aside: it goes when that
    // agent stops, and ours must then already be there. Only Docker's own jump is.
    const siblings = siblingForwardJumps(forward, this.names);
    const docker = fw.others - siblings;
    // A DOCKER-USER that another banhammer agent made (only banhammer jumps to it): whichever of us
    // stops last removes it, once empty and unreferenced.
    if (du.code === 0 && docker === 0 && siblings > 0) this.createdDockerUser.add(f);
    if (docker === 0 && fw.ours.length === 0) {
      await this.cmd.exec(bin, insertRuleArgs('FORWARD', forwardJumpSpec(this.names)), `adding a FORWARD jump to ${DOCKER_USER}`, backend);
      repaired.push(`jump (${familyLabel(f)}): FORWARD had no jump to ${DOCKER_USER}; banhammer added its own`);
    } else if (docker > 0) {
      // Docker has its own jump now: ours steps aside (traversing DOCKER-USER twice is pointless).
      for (const spec of fw.ours) await this.cmd.exec(bin, deleteRuleArgs('FORWARD', spec), `removing our FORWARD jump to ${DOCKER_USER}`, backend);
    } else {
      for (const spec of fw.ours.slice(1)) await this.cmd.exec(bin, deleteRuleArgs('FORWARD', spec), `removing a duplicate FORWARD jump to ${DOCKER_USER}`, backend);
      // Our FORWARD jump is the way into DOCKER-USER (Docker has none): an ACCEPT inserted above it
      // would let every banned client through, as above our jump in DOCKER-USER. Another jump to
      // DOCKER-USER above it (another agent's) leads through our jump too.
      const top = await this.cmd.keepOnTop('FORWARD', [forwardJumpSpec(this.names)], f, backend, this.forwardTop[f], forward, (rule) => / -j DOCKER-USER$/.test(rule));
      if (top !== null) repaired.push(...top);
    }
    const jump = dockerUserJumpSpec(this.names);
    const top = du.code === 0 ? await this.cmd.keepOnTop(DOCKER_USER, [jump], f, backend, this.top[f], du.stdout) : null;
    if (top !== null) return [...repaired, ...top];
    const c = await this.cmd.exec(bin, checkRuleArgs(DOCKER_USER, jump), `checking ${DOCKER_USER}`, backend, { okExitCodes: [0, 1, 2] });
    if (c.code !== 0) {
      await this.cmd.exec(bin, insertRuleArgs(DOCKER_USER, jump), `adding the ${DOCKER_USER} jump to ${this.names.chain}`, backend);
      repaired.push(`jump (${familyLabel(f)}): ${DOCKER_USER} -j ${this.names.chain} was missing and was re-added`);
    }
    return repaired;
  }
}
