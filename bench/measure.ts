/**
 * Runs one child process under GNU time (`/usr/bin/time`, Debian package `time`) and reports its wall
 * clock and peak resident set size along with its output. Arguments are passed as an array (no
 * shell); GNU time writes its figures to a temporary file so they never mix with the child's stderr.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BanhammerError } from '../src/errors.js';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  /** Wall clock of the whole child process, seconds (measured here with hrtime). */
  readonly seconds: number;
  /** Peak RSS of the child, bytes (GNU time's %M). */
  readonly maxRssBytes: number;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface MeasureOptions {
  /** Kill the child after this many ms (SIGKILL); the result then has timedOut = true. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) {
    throw new BanhammerError('BH_ERR_MISSING_BINARY', `${GNU_TIME} not found`, {
      hint: 'install GNU time: apt-get install time',
      data: { path: GNU_TIME },
    });
  }
}

/** Runs `command args…` under GNU time; resolves when it exits (whatever its exit code). */
export function measure(command: string, args: readonly string[], opts: MeasureOptions = {}): Promise<Measurement & { timedOut: boolean }> {
  requireGnuTime();
  const dir = mkdtempSync(join(tmpdir(), 'banhammer-bench-'));
  const out = join(dir, 'time.txt');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(GNU_TIME, ['-f', '%M', '-o', out, '--', command, ...args], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout kills GNU time and the measured command together.
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(new BanhammerError('BH_ERR_EXEC', `cannot run ${GNU_TIME} ${command}: ${err.message}`, { cause: err, data: { command } }));
    });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (timer) clearTimeout(timer);
      let maxRssBytes = Number.NaN;
      try {
        // GNU time writes "Command exited with non-zero status N" before the format line on failure.
        const lines = readFileSync(out, 'utf8').trim().split('\n');
        maxRssBytes = Number(lines[lines.length - 1]) * 1024;
      } catch {
        // no figures (killed before GNU time could write them)
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({
        seconds,
        maxRssBytes,
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
  });
}
