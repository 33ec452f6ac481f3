/**
 * What the container-script tests share: the shells the images have as /bin/sh (dash on Debian,
 * busybox ash on Alpine) that are installed here, a synchronous script runner, and a sandbox that
 * relocates the scripts' paths into a temporary directory and puts recorders on PATH in place of
 * the s6 programs (and whatever else a test fakes).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const DOCKER = resolve(import.meta.dirname, '../../../docker');

function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const SHELLS: Array<{ name: string; argv: string[] }> = [];
if (which('dash') !== null) SHELLS.push({ name: 'dash', argv: ['dash'] });
if (which('busybox') !== null) SHELLS.push({ name: 'busybox sh', argv: ['busybox', 'sh'] });

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runScript(shell: string[], script: string, args: string[], env: Record<string, string>, cwd?: string): Result {
  const r = spawnSync(shell[0]!, [...shell.slice(1), script, ...args], { env, cwd, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `KEY=value` lines (as `env` prints them) as an object. */
export const envOf = (stdout: string): Record<string, string> =>
  Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

/** A temporary directory with `fakebin/` (first on PATH), `run/` and the recorders' `calls` file. */
export class ScriptSandbox {
  readonly tmp: string;
  readonly fakes: string;
  readonly runDir: string;
  readonly calls: string;
  /** PATH with the fakes first, and the BH_* paths relocated into the sandbox. */
  readonly env: Record<string, string>;

  constructor(prefix: string) {
    this.tmp = mkdtempSync(join(tmpdir(), prefix));
    this.fakes = join(this.tmp, 'fakebin');
    this.runDir = join(this.tmp, 'run');
    this.calls = join(this.tmp, 'calls');
    mkdirSync(this.fakes);
    mkdirSync(this.runDir);
    this.env = {
      PATH: `${this.fakes}:/usr/sbin:/usr/bin:/sbin:/bin`,
      BH_RUN_DIR: this.runDir,
      BH_SCANDIR: join(this.tmp, 'service'),
      BH_LOG_DIR: join(this.tmp, 'log'),
    };
  }

  /** A recorder on PATH: appends "name args" to `calls`, then runs `body` (sh) for its behaviour. */
  fake(name: string, body = 'exit 0'): void {
    const p = join(this.fakes, name);
    writeFileSync(p, `#!/bin/sh\necho "${name} $*" >>"${this.calls}"\n${body}\n`);
    chmodSync(p, 0o755);
  }

  /** The recorders' calls so far, one "name args" each. */
  recorded(): string[] {
    return existsSync(this.calls) ? readFileSync(this.calls, 'utf8').trim().split('\n').filter(Boolean) : [];
  }

  remove(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
