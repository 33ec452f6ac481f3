/**
 * A compose example run under a per-run project name, with docker-compose (v1) or `docker compose`
 * (v2), whichever is installed. Extra compose files (e.g. a test's override) are written to a temp
 * directory; down() removes the project's containers, networks, volumes and locally built images,
 * then that directory, and is safe to call twice.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './images.js';
import { run, runOk, which, type RunResult } from './run.js';

export interface Composer {
  readonly label: string;
  readonly cmd: string;
  readonly pre: readonly string[];
}

/** docker-compose (v1) or `docker compose` (v2); null when neither is installed. */
export async function findComposer(): Promise<Composer | null> {
  if (which('docker-compose') !== null) return { label: 'docker-compose', cmd: 'docker-compose', pre: [] };
  if (which('docker') !== null && (await run('docker', ['compose', 'version'])).code === 0) return { label: 'docker compose', cmd: 'docker', pre: ['compose'] };
  return null;
}

export interface ComposeRun {
  /** The project name (also the prefix of its networks and volumes: `<project>_<name>`). */
  readonly project: string;
  compose(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Container id of a service. */
  id(service: string): Promise<string>;
  down(): Promise<void>;
}

export function composeRun(c: Composer, example: string, project: string, env: Record<string, string>, overrideYaml?: string): ComposeRun {
  const dir = join(REPO, 'compose.examples', example);
  const name = project.toLowerCase().replace(/[^a-z0-9-]/g, '');
  const files = ['-f', join(dir, 'compose.yaml')];
  let tmp: string | null = null;
  if (overrideYaml !== undefined) {
    tmp = mkdtempSync(join(tmpdir(), 'bh-e2e-compose-'));
    writeFileSync(join(tmp, 'override.yaml'), overrideYaml);
    files.push('-f', join(tmp, 'override.yaml'));
  }
  const fullEnv = { ...process.env, ...env };
  const compose = (args: readonly string[], timeoutMs = 10 * 60_000) =>
    runOk(c.cmd, [...c.pre, '-p', name, '--project-directory', dir, ...files, ...args], { cwd: dir, env: fullEnv, timeoutMs });
  let downDone = false;
  return {
    project: name,
    compose,
    async id(service) {
      const id = (await compose(['ps', '-q', service])).stdout.trim();
      if (id === '') throw new Error(`compose project ${name}: no container for service ${service}`);
      return id;
    },
    async down() {
      if (downDone) return;
      downDone = true;
      try {
        await compose(['down', '-v', '--rmi', 'local', '-t', '20']);
      } finally {
        if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}
