/**
 * The one edge where banhammer starts other programs (iptables, ipset, …).
 *
 * Contract of Runner.run(cmd, args, opts):
 * - the program is started directly with an argument array (never through a shell), with `input`
 *   written to its stdin and stdin then closed (for `ipset restore`, `iptables-restore`);
 * - it resolves with { stdout, stderr, code } when the exit code is in `okExitCodes` (default [0]);
 * - otherwise it rejects with BanhammerError('BH_ERR_EXEC') whose message names the command line,
 *   the exit code (or signal) and the first line of stderr, with all of them in `data`;
 * - after `timeoutMs` (default 30 s) the child and every process of its group (it is started as a
 *   group of its own: a wrapper script's children, the modprobe iptables starts) are killed with
 *   SIGKILL and the call rejects with BH_ERR_EXEC_TIMEOUT;
 * - the call never waits for the output of processes that outlive the child (a daemon it started
 *   keeps the pipes open): CLOSE_GRACE_MS after the child exited, it settles on the child's exit;
 * - a program that is not installed rejects with BH_ERR_MISSING_BINARY, whose hint names the
 *   Debian/Alpine package that provides it.
 *
 * withPrefix(runner, ['ip', 'netns', 'exec', ns]) runs every command through a prefix, so the same
 * enforcer code runs inside a network namespace in integration tests.
 */
import { spawn } from 'node:child_process';
import { BanhammerError } from '../errors.js';

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  readonly input?: string;
  /** Kill the child (SIGKILL) after this many ms. Default DEFAULT_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Exit codes that count as success. Default [0]. */
  readonly okExitCodes?: readonly number[];
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface Runner {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
/** How long after the child's exit its output may still come (from processes it left behind). */
export const CLOSE_GRACE_MS = 1_000;
/** Output beyond this is an error rather than unbounded memory (an `ipset save` of 1M entries is ~40 MB). */
export const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** Which package provides a binary, for the hint of BH_ERR_MISSING_BINARY. */
const PACKAGES: Readonly<Record<string, string>> = {
  ipset: 'ipset',
  ip: 'iproute2',
};

export function packageFor(binary: string): string {
  const base = binary.slice(binary.lastIndexOf('/') + 1);
  if (/^ip6?tables/.test(base)) return 'iptables';
  return PACKAGES[base] ?? base;
}

/** Renders argv for messages only (quoted when needed); never executed. */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** The error for a command that ran and failed; shared with test fakes so both fail alike. */
export function execError(cmd: string, args: readonly string[], result: RunResult, signal?: string | null): BanhammerError {
  const firstLine = result.stderr.trim().split('\n').find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '';
  const how = signal ? `was killed by ${signal}` : `exited with code ${result.code}`;
  return new BanhammerError('BH_ERR_EXEC', `${formatCommand(cmd, args)} ${how}${firstLine ? `: ${firstLine.trim()}` : ''}`, {
    hint: 'see the command and its error output above; run it by hand to reproduce',
    data: { cmd, args: [...args], code: result.code, signal: signal ?? null, stderr: result.stderr, stdout: result.stdout },
  });
}

export function missingBinaryError(cmd: string, cause?: unknown): BanhammerError {
  const pkg = packageFor(cmd);
  return new BanhammerError('BH_ERR_MISSING_BINARY', `program not found: ${cmd}`, {
    hint: `install the ${pkg} package in the image (apt-get install ${pkg} / apk add ${pkg})`,
    data: { cmd, package: pkg },
    cause,
  });
}

/** Real runner: child_process.spawn without a shell. */
export class ProcessRunner implements Runner {
  constructor(private readonly defaults: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {}

  run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? this.defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const ok = opts.okExitCodes ?? [0];
    return new Promise<RunResult>((resolve, reject) => {
      let child;
      try {
        child = spawn(cmd, [...args], {
          shell: false,
          stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
          // A process group of its own, so a timeout kills what the program started too.
          detached: true,
          // LC_ALL=C so that the error texts we classify (permission denied, …) are English.
          env: { ...(this.defaults.env ?? process.env), LC_ALL: 'C' },
        });
      } catch (e) {
        reject(new BanhammerError('BH_ERR_EXEC', `cannot start ${formatCommand(cmd, args)}: ${(e as Error).message}`, { cause: e, data: { cmd, args: [...args] } }));
        return;
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let settled = false;
      let timedOut = false;
      let overflow = false;
      let grace: NodeJS.Timeout | undefined;
      let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(grace);
        fn();
      };
      const killGroup = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is gone already
        }
        child.kill('SIGKILL');
      };
      // Settles on the child's exit when its pipes stay open (held by a process it left behind).
      const settleSoon = (): void => {
        if (grace !== undefined || settled) return;
        grace = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          settle(exited === null ? null : exited.code, exited === null ? 'SIGKILL' : exited.signal);
        }, CLOSE_GRACE_MS);
        grace.unref?.();
      };
      const collect = (into: Buffer[]) => (b: Buffer): void => {
        size += b.length;
        if (size > MAX_OUTPUT_BYTES) {
          overflow = true;
          killGroup();
          settleSoon();
          return;
        }
        into.push(b);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
        settleSoon();
      }, timeoutMs);
      child.stdout?.on('data', collect(out));
      child.stderr?.on('data', collect(err));
      child.on('error', (e: NodeJS.ErrnoException) => {
        finish(() => reject(e.code === 'ENOENT' ? missingBinaryError(cmd, e) : new BanhammerError('BH_ERR_EXEC', `cannot run ${formatCommand(cmd, args)}: ${e.message}`, { cause: e, data: { cmd, args: [...args] } })));
      });
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        settleSoon();
      });
      const settle = (code: number | null, signal: NodeJS.Signals | null): void =>
        finish(() => {
          const result: RunResult = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 };
          if (timedOut) {
            reject(new BanhammerError('BH_ERR_EXEC_TIMEOUT', `${formatCommand(cmd, args)} did not finish within ${timeoutMs} ms and was killed`, {
              hint: 'the xtables lock may be held by another process, or the system is overloaded',
              data: { cmd, args: [...args], timeoutMs, stderr: result.stderr },
            }));
          } else if (overflow) {
            reject(new BanhammerError('BH_ERR_EXEC', `${formatCommand(cmd, args)} wrote more than ${MAX_OUTPUT_BYTES} bytes and was killed`, { data: { cmd, args: [...args] } }));
          } else if (signal !== null || !ok.includes(result.code)) {
            reject(execError(cmd, args, result, signal));
          } else {
            resolve(result);
          }
        });
      child.on('close', (code, signal) => settle(code, signal));
      if (opts.input !== undefined && child.stdin) {
        // A child that exits before reading all input (e.g. on a syntax error) closes the pipe:
        // EPIPE then is not our error, the exit code and stderr are.
        child.stdin.on('error', () => {});
        child.stdin.end(opts.input);
      }
    });
  }
}

/**
 * A runner that runs every command as `prefix… cmd args…` (e.g. ['ip', 'netns', 'exec', 'ns1']).
 * Errors keep naming the inner command, so messages read the same with and without the prefix.
 */
export function withPrefix(runner: Runner, prefix: readonly string[]): Runner {
  if (prefix.length === 0) return runner;
  const [head, ...rest] = prefix as [string, ...string[]];
  return {
    async run(cmd, args, opts) {
      try {
        return await runner.run(head, [...rest, cmd, ...args], opts);
      } catch (e) {
        if (e instanceof BanhammerError && e.code === 'BH_ERR_EXEC') {
          const stderr = String(e.data['stderr'] ?? '');
          // `ip netns exec` reports a missing inner program on stderr, not as ENOENT.
          if (/exec of "[^"]*" failed: No such file or directory/.test(stderr)) throw missingBinaryError(cmd, e);
          throw execError(cmd, args, { stdout: String(e.data['stdout'] ?? ''), stderr, code: Number(e.data['code']) }, e.data['signal'] as string | null);
        }
        throw e;
      }
    },
  };
}
