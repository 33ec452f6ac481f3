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
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { BanhammerError } from '../errors.js';
import type { Runner } from '../exec/runner.js';
import type { ApplyResult, Enforcer, EnforcerBan, EnforcerBatch } from './enforcer.js';
import { MapFile, type MapEntry } from './map-file.js';

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
  const lines = [
    '# banhammer nginx-map: rewritten atomically by the agent; edits are lost.',
    `geo $${variable} {`,
    '    default 0;',
  ];
  for (const e of entries) lines.push(`    ${e.ip}/${e.family === 4 ? 32 : 128} 1;`);
  lines.push('}');
  return lines.join('\n') + '\n';
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
    this.map = new MapFile({ path: opts.path, render: (e) => renderNginxGeo(e), clock: this.clock, owner: this.name });
  }

  /** Writes the include file if missing; no reload (nginx may not be running yet). */
  init(): Promise<void> {
    return this.map.init();
  }

  /** Writes the updated map and reloads nginx; refused addresses are left out and returned. */
  async apply(batch: EnforcerBatch): Promise<ApplyResult> {
    const refused = this.map.update(batch);
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
        this.lastReloadAt = this.clock.now();
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
    const wait = this.lastReloadAt + RELOAD_INTERVAL_MS - this.clock.now();
    if (wait <= 0) pending.start();
    else pending.timer = this.clock.setTimeout(pending.start, wait);
    return promise;
  }
}

function reloadError(argv: readonly string[], e: unknown): BanhammerError {
  const inner = e instanceof BanhammerError ? e : null;
  return new BanhammerError(inner?.code === 'BH_ERR_MISSING_BINARY' ? 'BH_ERR_MISSING_BINARY' : 'BH_ERR_EXEC', `nginx-map: the map file was written but nginx was not reloaded: ${inner?.message ?? String(e)}`, {
    hint: inner?.code === 'BH_ERR_MISSING_BINARY'
      ? `${inner.hint ?? 'install nginx'}, or set BANHAMMER_NGINX_RELOAD to the command that reloads it`
      : `check that nginx is running and its configuration is valid (nginx -t); the reload (${argv.join(' ')}) is retried on the next apply or check`,
    data: { reloadCommand: [...argv], ...(inner?.data ?? {}) },
    cause: e,
  });
}
