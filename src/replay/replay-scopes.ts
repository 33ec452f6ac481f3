/**
 * Host mode in replay (review: helper): the live agent in host mode with bans per container counts an
 * address's failures per container (the container a line came from: its json-file log's directory,
 * or the container its syslog tag names) and bans it for that container only. Replay counted every
 * line in one host-wide window, so three 403s at one container and two at another made a ban that
 * the agent never makes. Replay now scopes each line as the agent would:
 *
 * - on the Docker host (the configuration's containers directory is there), with the agent's own
 *   resolver: exactly the agent's scopes, a tag that names no container included (host-wide), and a
 *   tag several containers may write counted at each of them (all());
 * - elsewhere (a log copied off the host: the directory the configuration names is missing), by the
 *   syslog tag itself, the closest it can know: one tag, one container, as the agent would resolve it;
 * - with no containers directory in the configuration at all, the agent itself can resolve json-file
 *   paths only, and so does replay.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ContainerDirectory, containersDirFor } from '../docker/containers.js';
import { isHostMode } from '../docker/host-mode.js';

/** A tag scope's prefix (never a container id: those are 64 hex digits). */
const TAG_SCOPE = 'tag:';

export interface ReplayScopes {
  /** The scope of a line of the replayed file with this origin (syslog tag, container name), or undefined (host-wide). */
  of(origin: string | undefined): string | undefined;
  /** Every scope a line with this origin counts in, as the agent counts it (ContainerResolver.scopesOf). */
  all(origin: string | undefined): readonly (string | undefined)[];
  /** A scope's display name: the container's name, or the tag. */
  name(scope: string): string;
}

/** The scopes of `file`'s lines under `config`, or null when its agent does not ban per container. */
export function replayScopes(config: Config, file: string): ReplayScopes | null {
  if (!isHostMode(config) || config.banScope !== 'container') return null;
  const dir = containersDirFor(config.dockerContainersDir, config.log.paths);
  const offHost = dir !== null && !existsSync(dir);
  const containers = new ContainerDirectory({ dir: offHost ? null : dir });
  const ofFile = [containers.scopeOf(file, undefined)];
  return {
    of(origin) {
      const scope = containers.scopeOf(file, origin);
      if (scope !== undefined || !offHost || origin === undefined || origin === '') return scope;
      return `${TAG_SCOPE}${origin}`;
    },
    all(origin) {
      if (origin === undefined) return ofFile;
      return offHost ? [this.of(origin)] : containers.scopesOf(file, origin);
    },
    name(scope) {
      if (scope.startsWith(TAG_SCOPE)) return scope.slice(TAG_SCOPE.length);
      return containers.info(scope)?.name ?? scope.slice(0, 12);
    },
  };
}
