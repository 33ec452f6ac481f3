/**
 * The contract between detect and decide: an address crossed a rule's threshold.
 */
export interface Offense {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly rule: string;
  /** Log time of the event that crossed the threshold (ms since the epoch). */
  readonly at: number;
  /** Matching events counted inside the window when the threshold was crossed. */
  readonly failures: number;
  readonly origin?: string | undefined;
  /** Host mode: the container (id) the failures were counted for; undefined = host-wide. */
  readonly scope?: string | undefined;
}
