/**
 * What the live agent (daemon.ts) is built from: its dependencies, each a small interface so the
 * wiring is tested with fakes (manual clock, recording enforcer, memory store) and run for real.
 */
import type { Clock } from './clock.js';
import type { Config } from './config/schema.js';
import type { BanBookSnapshot } from './decide/ban-book.js';
import type { Enforcer } from './enforce/enforcer.js';
import type { FilePosition, LineSource } from './source/line-source.js';
import type { Metrics } from './metrics/registry.js';
import type { ContainerResolver } from './docker/containers.js';
import type { ShareStage } from './share/share.js';
import type { NotifySink } from './notify/notifier.js';

/** What the daemon persists under BANHAMMER_STATE_DIR. */
export interface DaemonState {
  readonly bans: BanBookSnapshot['bans'];
  readonly history: BanBookSnapshot['history'];
  /** Recent ended bans with their evidence (absent in state files written before it). */
  readonly ended?: BanBookSnapshot['ended'];
  readonly positions: FilePosition[];
}

export interface StateStoreLike {
  load(): Promise<DaemonState | null>;
  save(doc: DaemonState): Promise<void>;
  /** Why the last load() restored nothing from a file that was there (set aside: StateStore.refused), or null. */
  readonly refused?: string | null;
}

export type DaemonLogger = Record<'debug' | 'info' | 'warn' | 'error', (obj: object, msg?: string) => void>;

export interface LineSourceFactory {
  (opts: {
    paths: string[];
    onLine: (line: string, file: string) => void;
    /** Before the first line of a file read on from a saved position: the lines before it (source/tailer.ts). */
    onResume?: (before: string[], file: string) => void;
    startPositions: FilePosition[];
    onError: (err: unknown) => void;
    onWarning: (msg: string) => void;
  }): LineSource;
}

export interface DaemonDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: DaemonLogger;
  readonly enforcer: Enforcer;
  readonly createSource: LineSourceFactory;
  readonly store: StateStoreLike;
  readonly metrics?: Metrics | undefined;
  /**
   * The host's own addresses (never banned), or how to read them; default: every interface address,
   * read at start, on reload and every HOST_ADDRESS_INTERVAL_MS (an interface or a Docker network's
   * gateway may come later).
   */
  readonly hostAddresses?: readonly string[] | (() => readonly string[]);
  readonly checkIntervalMs?: number;
  /** Host mode: Docker's container directory (default: one built from the config). */
  readonly containers?: ContainerResolver;
  /** SIGHUP and `banhammer reload`: reads the configuration again (throws when it is invalid). */
  readonly reloadConfig?: () => Config;
  /** A reload changed settings that apply live beyond the pipeline (the log level). */
  readonly onReloaded?: (config: Config) => void;
  /** The replicas' shared failures and bans (Redis); absent = this agent alone. */
  readonly share?: ShareStage | undefined;
  /** Notifications (src/notify): told of each ban once the enforcer holds it, and of each unban. */
  readonly notifier?: NotifySink | undefined;
  /**
   * Called once, when the agent first has work: saved bans to restore, a Redis group to load bans
   * from, or its first log line (heap-policy.ts keeps V8's optimizing compiler off until then, so an
   * idle agent answering status and scrapes does not page it in).
   */
  readonly onBusy?: (() => void) | undefined;
}
