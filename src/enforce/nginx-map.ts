/**
 * NginxMapEnforcer (`nginx-map`): bans at layer 7 through an nginx `geo` block in an include file,
 * rewritten atomically (map-file.ts), followed by a reload of nginx.
 *
 * The file holds the whole block:
 *   geo $banhammer_banned { default 0; 198.18.0.9/32 1; 2001:db8::9/128 1; }
 * and is included at http level; a server answers `if ($banhammer_banned) { return 403; }`. geo
 * matches $remote_addr, which is the real client once ngx_http_realip_module trusts the proxy.
 *
 * nginx reads the file only on (re)load, so every change is followed by the reload command (an argv
 * array run through the Runner, never a shell; default `nginx -s reload`). Reloads are coalesced: at
 * most one starts per second; an apply() made while one is pending joins it, and resolves when the
 * reload that covers its write has finished. A failed reload rejects apply() (the daemon retries the
 * batch) and is retried by check().
 *
 * nginx cannot compare times in a geo block, so an entry stays until the agent removes it (it does
 * within a second of expiry) — if the agent is dead, stale bans last until it is back; s6 restarts
 * it, and init() then rewrites the map from the restored (unexpired) bans at the latest by the first
 * check(). shutdown() writes an empty block and reloads: nginx refuses to (re)load without the file.
 */
import { steadyNow, systemClock, type Clock, type TimerHandle } from '../clock.js';
import { BanhammerError } from '../errors.js';
import { formatCommand, type Runner } from '../exec/runner.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch } from './enforcer.js';
import { MapFile, type MapEntry } from './map-file.js';
import { runSync, STEP_UNITS, type Steps } from '../yielding.js';

export const DEFAULT_NGINX_RELOAD = ['nginx', '-s', 'reload'] as const;
export const DEFAULT_GEO_VARIABLE = 'banhammer_banned';
export const RELOAD_INTERVAL_MS = 1000;

export interface NginxMapEnforcerOptions {
  /** The include file (BANHAMMER_MAP_FILE); its directory must exist. */
  readonly path: string;
  readonly runner: Runner;
  /** argv of the reload command (BANHAMMER_NGINX_RELOAD). */
  readonly reloadCommand?: readonly string[];
  /** Per-reload timeout (ms); default the runner's. */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

export function renderNginxGeo(entries: readonly MapEntry[], variable = DEFAULT_GEO_VARIABLE): string {
  return runSync(renderNginxGeoParts(entries, variable)).join('');
}

/** renderNginxGeo's text in parts (joined: the same text), in pausable steps (yielding.ts): a slice of lines a part. */
export function* renderNginxGeoParts(entries: readonly MapEntry[], variable = DEFAULT_GEO_VARIABLE): Steps<string[]> {
  const parts = [`# banhammer nginx-map: rewritten atomically by the agent; edits are lost.\ngeo $${variable} {\n    default 0;\n`];
  let lines: string[] = [];
  for (const e of entries) {
    lines.push(`    ${e.ip}/${e.family === 4 ? 32 : 128} 1;\n`);
    if (lines.length >= STEP_UNITS) {
      parts.push(lines.join(''));
      lines = [];
      yield;
    }
  }
  parts.push(lines.join(''), '}\n');
  return parts;
}

interface PendingReload {
  readonly promise: Promise<void>;
  waiters: number;
  readonly start: () => void;
  timer: TimerHandle | null;
}

export class NginxMapEnforcer implements Enforcer {
  readonly name = 'nginx-map';
  readonly map: MapFile;
  private readonly clock: Clock;
  private readonly reloadArgv: readonly [string, ...string[]];
  private lastReloadAt = -Infinity;
  private pending: PendingReload | null = null;
  /** The file changed since the last successful reload. */
  private reloadOwed = false;
  /** Reloads started, for tests and status. */
  reloads = 0;

  constructor(private readonly opts: NginxMapEnforcerOptions) {
    this.clock = opts.clock ?? systemClock;
    const argv = opts.reloadCommand ?? DEFAULT_NGINX_RELOAD;
    if (argv.length === 0 || argv.some((a) => typeof a !== 'string' || a.includes('\0')) || argv[0] === '') {
      throw new BanhammerError('BH_ERR_CONFIG', `nginx-map: invalid reload command ${JSON.stringify(argv)}`, {
        hint: 'set BANHAMMER_NGINX_RELOAD to a program and its arguments, e.g. "nginx -s reload"',
        data: { reloadCommand: argv },
      });
    }
    this.reloadArgv = [...argv] as [string, ...string[]];
    this.map = new MapFile({ path: opts.path, render: (e) => renderNginxGeo(e), renderParts: (e) => renderNginxGeoParts(e), clock: this.clock, owner: this.name });
  }

  /** Writes the include file if missing; no reload (nginx may not be running yet). */
  init(): Promise<void> {
    return this.map.init();
  }

  /** Writes the updated map and reloads nginx; refused addresses are left out and returned. */
  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const refused = await this.map.updateYielding(batch);
    await this.map.write();
    this.reloadOwed = true;
    await this.reload();
    return { refused };
  }

  async check(expected: () => readonly EnforcerBan[]): Promise<string[]> {
    const repaired = await this.map.check(expected);
    if (repaired.length > 0) this.reloadOwed = true;
    if (this.reloadOwed) await this.reload();
    return repaired;
  }

  async shutdown(): Promise<void> {
    await this.map.clear();
    this.reloadOwed = true;
    const p = this.reload();
    this.pending?.start(); // do not wait out the coalescing interval on the way out
    await p;
  }

  /** Callers waiting for a scheduled (not yet started) reload. */
  get reloadWaiters(): number {
    return this.pending?.waiters ?? 0;
  }

  /**
   * A reload that starts after this call (so it covers every write made before it), at most one per
   * RELOAD_INTERVAL_MS. Callers arriving while one is scheduled share it.
   */
  reload(): Promise<void> {
    if (this.pending) {
      this.pending.waiters++;
      return this.pending.promise;
    }
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: PendingReload = {
      promise,
      waiters: 1,
      timer: null,
      start: () => {
        if (this.pending !== pending) return;
        this.pending = null;
        if (pending.timer) this.clock.clearTimeout(pending.timer);
        this.lastReloadAt = steadyNow(this.clock);
        this.reloadOwed = false;
        this.reloads++;
        const [cmd, ...args] = this.reloadArgv;
        this.opts.runner
          .run(cmd, args, this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {})
          .then(
            () => resolve(),
            (e: unknown) => {
              this.reloadOwed = true;
              reject(reloadError(this.reloadArgv, e));
            },
          );
      },
    };
    this.pending = pending;
    // On the monotonic clock (the timer's): on the wall clock, set back a day after a reload, the
    // next waited that day, and with it apply() and the whole enforcement queue: no ban reached nginx
    // (review H56).
    const wait = this.lastReloadAt + RELOAD_INTERVAL_MS - steadyNow(this.clock);
    if (wait <= 0) pending.start();
    else pending.timer = this.clock.setTimeout(pending.start, wait);
    return promise;
  }
}

/** Levels of nginx's log lines that say why a command failed (it prints `[notice] signal process started` first). */
const NGINX_FAILURE_RE = /\[(?:emerg|alert|crit|error)\]/;
/** nginx's prefix on stderr: `nginx: ` (before its log is set up) and/or `YYYY/MM/DD HH:MM:SS `, and `pid#tid: ` after the level. */
const NGINX_PREFIX_RE = /^(?:nginx: )?(?:\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d )?(\[[a-z]+\]) (?:\d+#\d+: )?/;
const MAX_DIAGNOSIS_LINES = 3;
const MAX_DIAGNOSIS_LINE = 300;

/**
 * What nginx said was wrong, from the stderr of a failed `nginx -s reload`: its lines at level error
 * or worse (at most three, each cut at 300 characters, control characters blanked), without the
 * timestamp and pid prefixes; null when there is none. nginx prints `[notice] signal process started`
 * (and `[warn]`s, e.g. for `user` when not run as root) before the line that says why: with nginx
 * not running, the reason (`open() "/run/nginx.pid" failed`, `kill(…) failed (3: No such process)`)
 * is the second line, which the first-line summary of a failed command left out.
 */
export function nginxDiagnosis(stderr: string): string | null {
  const lines: string[] = [];
  for (const raw of stderr.slice(0, 64 * 1024).split('\n')) {
    const line = raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
    if (!NGINX_FAILURE_RE.test(line)) continue;
    const short = line.replace(NGINX_PREFIX_RE, '$1 ');
    lines.push(short.length > MAX_DIAGNOSIS_LINE ? `${short.slice(0, MAX_DIAGNOSIS_LINE)}…` : short);
    if (lines.length === MAX_DIAGNOSIS_LINES) break;
  }
  return lines.length > 0 ? lines.join('; ') : null;
}

/** nginx's words when its pid file names no running master: nginx is not running (or not with that pid file). */
const NOT_RUNNING_RE = /open\(\) "[^"]*" failed \(2: |kill\(\d+, \d+\) failed \(3: |invalid PID number/;

function reloadError(argv: readonly string[], e: unknown): BanhammerError {
  const inner = e instanceof BanhammerError ? e : null;
  const data = (inner?.data ?? {}) as { stderr?: unknown; code?: unknown; signal?: unknown };
  const diagnosis = inner?.code === 'BH_ERR_EXEC' && typeof data.stderr === 'string' && typeof data.code === 'number' && !data.signal ? nginxDiagnosis(data.stderr) : null;
  const what = diagnosis !== null ? `${formatCommand(argv[0]!, argv.slice(1))} exited with code ${String(data.code)}: ${diagnosis}` : (inner?.message ?? String(e));
  const retried = `the reload (${argv.join(' ')}) is retried on the next apply or check`;
  return new BanhammerError(inner?.code === 'BH_ERR_MISSING_BINARY' ? 'BH_ERR_MISSING_BINARY' : 'BH_ERR_EXEC', `nginx-map: the map file was written but nginx was not reloaded: ${what}`, {
    hint: inner?.code === 'BH_ERR_MISSING_BINARY'
      ? `${inner.hint ?? 'install nginx'}, or set BANHAMMER_NGINX_RELOAD to the command that reloads it`
      : diagnosis !== null && NOT_RUNNING_RE.test(diagnosis)
        ? `nginx is not running (no master at the pid its pid file names): start it, and it reads the map as it starts; if it runs, make BANHAMMER_NGINX_RELOAD name its configuration (-c) and check its configuration (nginx -t); ${retried}`
        : `check that nginx is running and its configuration is valid (nginx -t); ${retried}`,
    data: { reloadCommand: [...argv], ...(inner?.data ?? {}) },
    cause: e,
  });
}
