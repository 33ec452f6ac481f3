/**
 * Every error the user can see carries a stable code (BH_ERR_…), the data that explains it, and a
 * hint saying what to do. Only cli.ts turns these into exit codes.
 */
export type ErrorCode =
  | 'BH_ERR_CONFIG'
  | 'BH_ERR_CONFIG_FILE'
  | 'BH_ERR_FILE'
  | 'BH_ERR_USAGE'
  | 'BH_ERR_ADDRESS'
  | 'BH_ERR_EXEC'
  | 'BH_ERR_EXEC_TIMEOUT'
  | 'BH_ERR_NO_NET_ADMIN'
  | 'BH_ERR_MISSING_BINARY'
  | 'BH_ERR_FIREWALL'
  | 'BH_ERR_STATE'
  | 'BH_ERR_CONTROL'
  | 'BH_ERR_DAEMON_NOT_RUNNING'
  | 'BH_ERR_CONTROL_IN_USE'
  | 'BH_ERR_METRICS'
  | 'BH_ERR_INTERNAL';

export class BanhammerError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; data?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BanhammerError';
    this.code = code;
    this.hint = opts.hint;
    this.data = Object.freeze({ ...(opts.data ?? {}) });
  }

  /** One line for a terminal: the message, then what to do about it. */
  toUserString(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

export function isBanhammerError(e: unknown): e is BanhammerError {
  return e instanceof BanhammerError;
}

/** An error as log fields: code, message and hint for ours, the message for anything else. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof BanhammerError) return { code: err.code, message: err.message, hint: err.hint };
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}
