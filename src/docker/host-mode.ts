/**
 * Host mode (enforcer docker-user) helpers for the agent: resolving `--container NAME` and saying
 * clearly when Docker's containers directory is not there.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { BanhammerError } from '../errors.js';
import { containersDirFor, resolveContainerRef, type ContainerResolver, type HeldScope } from './containers.js';

/**
 * Host mode: one agent guards the published ports of a Docker host's containers. The docker-user
 * enforcer is always host mode; nftables (and auto) is when the agent reads Docker's containers (an explicit
 * BANHAMMER_DOCKER_CONTAINERS_DIR, or json-file log paths under one), and bans then go into its own
 * table's forward chain instead of an input chain.
 */
export function isHostMode(config: Config): boolean {
  if (config.enforcer === 'docker-user') return true;
  return (config.enforcer === 'nftables' || config.enforcer === 'auto') && containersDirFor(config.dockerContainersDir, config.log.paths) !== null;
}

/**
 * `--container NAME`: the container's id and name; only in host mode. A container of Docker's
 * directory, else (see resolveContainerRef) one of `held`, the scopes the ban book holds bans for: a
 * container removed since its bans were made (restored at start) has its bans lifted by `unban
 * --container` (use 'unban'), but gets no new ban (use 'ban': refused, saying so). An id prefix that
 * several ids share is refused; a name or id that is neither a container nor held is refused as before.
 */
export function containerFor(config: Config, containers: ContainerResolver | undefined, nameOrId: string, opts: { held?: () => Iterable<HeldScope>; use?: 'ban' | 'unban' } = {}): { id: string; name: string } {
  if (!isHostMode(config) || containers === undefined) {
    throw new BanhammerError('BH_ERR_USAGE', `--container needs host mode (BANHAMMER_ENFORCER=docker-user, or nftables reading Docker's containers); this agent's enforcer is ${config.enforcer}`, {
      hint: 'leave out --container: this agent protects one container only',
    });
  }
  const where = containers.dir ?? "Docker's containers directory";
  const ref = resolveContainerRef(containers, nameOrId, opts.held ?? (() => []));
  switch (ref.kind) {
    case 'container':
      return { id: ref.info.id, name: ref.info.name };
    case 'held':
      if (opts.use === 'unban') return { id: ref.id, name: ref.name };
      throw new BanhammerError('BH_ERR_USAGE', `container ${JSON.stringify(ref.name)} (${ref.id.slice(0, 12)}) is no longer in ${where}: its bans can be lifted, but it gets no new one`, {
        hint: `banhammer unban ADDRESS --container ${ref.id} lifts its bans; ban for a container that runs (docker ps)`,
      });
    case 'ambiguous': {
      const shown = ref.ids.slice(0, 5).join(', ') + (ref.ids.length > 5 ? `, … (${ref.ids.length} in all)` : '');
      throw new BanhammerError('BH_ERR_USAGE', `${JSON.stringify(nameOrId)} names more than one container (${shown}); nothing was done`, {
        hint: 'give the full container id (banhammer status shows each ban\'s containerId; docker ps --no-trunc)',
      });
    }
    case 'none':
      throw new BanhammerError('BH_ERR_USAGE', `no container named ${JSON.stringify(nameOrId)} (by name or id) in ${where}`, {
        hint: 'use a name from docker ps, or the container id (at least 12 characters)',
      });
  }
}

/** Warnings to log at start when Docker's containers directory is unknown or absent (the agent keeps waiting). */
export function containersDirWarnings(config: Config, containers: ContainerResolver | undefined, scoped: boolean): { dir?: string; msg: string }[] {
  const dir = containers?.dir ?? null;
  if (dir === null) {
    if (scoped && !config.log.paths.some((p) => p.endsWith('-json.log'))) {
      return [{ msg: 'host mode: no Docker containers directory is known (set BANHAMMER_DOCKER_CONTAINERS_DIR, e.g. /var/lib/docker/containers mounted read-only); syslog-tagged bans are host-wide' }];
    }
    return [];
  }
  if (!existsSync(dir)) {
    return [{ dir, msg: `host mode: Docker's containers directory ${dir} does not exist (is Docker running, and is the directory mounted read-only into this container?); waiting for containers to appear` }];
  }
  return [];
}
