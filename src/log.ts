/**
 * The agent's own log: pino, one JSON object per line (stdout unless a destination is given), with
 * an ISO `time` and the level as a word, so `docker logs` is readable by people and by jq.
 *
 * Bans and unbans are the events users grep for; logBan/logUnban write exactly one info line each,
 * always with the same fields: ip, rule, failures, until (ISO 8601, or 'permanent'), nth (and for
 * unbans, reason), with msg 'ban' / 'unban'.
 */
import { pino, type DestinationStream, type LevelWithSilent, type Logger } from 'pino';
import type { Ban } from './decide/ban-book.js';
import { formatUntil } from './format-time.js';
import type { UnbanReason } from './metrics/registry.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Where lines go; stdout when omitted. */
  destination?: DestinationStream;
  /**
   * Fields on every line. Defaults to pino's (pid, hostname: the container id inside Docker);
   * null drops them (tests).
   */
  base?: Record<string, unknown> | null;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = {
    level: opts.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    ...(opts.base !== undefined ? { base: opts.base } : {}),
  };
  return opts.destination === undefined ? pino(options) : pino(options, opts.destination);
}

/** The fields shared by ban and unban lines (host mode adds the container of a scoped ban). */
export function banFields(ban: Ban): { ip: string; rule: string; failures: number; until: string; nth: number; container?: string; containerId?: string; from?: string } {
  return {
    ip: ban.ip,
    rule: ban.rule,
    failures: ban.failures,
    until: formatUntil(ban.until),
    nth: ban.nth,
    ...(ban.scope !== undefined ? { container: ban.scopeName ?? ban.scope.slice(0, 12), containerId: ban.scope } : {}),
    ...(ban.from !== undefined ? { from: ban.from } : {}),
  };
}

/** Anything with pino's info(obj, msg) shape. */
export type InfoLogger = Pick<Logger, 'info'> | { info(obj: object, msg?: string): void };

export function logBan(logger: InfoLogger, ban: Ban): void {
  logger.info(banFields(ban), 'ban');
}

export function logUnban(logger: InfoLogger, ban: Ban, reason: UnbanReason): void {
  logger.info({ ...banFields(ban), reason }, 'unban');
}
