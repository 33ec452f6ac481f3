/**
 * The CLI's check of what the daemon answered, before anything is printed from it.
 *
 * parseResponse (protocol.ts) checks the envelope only; the result went to the formatters as it came.
 * A result of another shape (a daemon of another version, a half-written answer, an impostor the
 * socket check did not catch) then ended the CLI with a TypeError and a stack trace (exit 70), or was
 * printed as `lifted null bans` / `Failures: <escape sequence>`. Here each op's result is held to the
 * fields the CLI reads, with their types; extra fields are fine (newer daemons only ever add fields),
 * so the answer is either printable as it is or refused as malformed (BH_ERR_CONTROL, exit 2). Only
 * what the CLI formats is checked: `--json` prints the answer as it came (terminalJson), as before.
 * Pure and bounded: one pass over the arrays the formatters would walk anyway.
 */
import { BanhammerError } from '../errors.js';
import type { ControlOp } from './protocol.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): boolean => typeof v === 'string';
const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const opt = (check: (v: unknown) => boolean) => (v: unknown): boolean => v === undefined || check(v);
const list = (check: (v: unknown) => boolean) => (v: unknown): boolean => Array.isArray(v) && v.every(check);
const shape = (fields: Readonly<Record<string, (v: unknown) => boolean>>) => (v: unknown): boolean =>
  isObj(v) && Object.entries(fields).every(([k, check]) => check(Object.hasOwn(v, k) ? v[k] : undefined));

const banStatus = shape({ ip: str, container: strOrNull, containerId: strOrNull, until: strOrNull, from: opt(strOrNull), firewall: opt(str) });
const statusReport = shape({
  instance: str,
  enforcer: str,
  since: str,
  files: list(shape({ path: str, lagBytes: num, exists: opt((v) => typeof v === 'boolean') })),
  rules: list(
    shape({
      name: str,
      enabled: (v) => typeof v === 'boolean',
      currentlyFailed: count,
      totalFailed: count,
      evicted: opt(count),
      currentlyBanned: count,
      totalBanned: count,
      bannedIps: list(str),
      withEvidence: opt(count),
      bans: opt(list(banStatus)),
    }),
  ),
  health: opt(
    shape({
      stateError: strOrNull,
      stateRefused: opt(str),
      enforceFailing: count,
      refused: count,
      repairs: count,
      checkFailing: opt(count),
      skewedLines: count,
      staleLines: opt(count),
      logBehind: opt(shape({ lines: count, newestLine: str, behindSeconds: count })),
      shareConnected: opt((v) => typeof v === 'boolean'),
      unbansPending: opt(list(str)),
      forwardedClients: opt(shape({ lines: count, note: str })),
    }),
  ),
});

const whyLine = shape({ at: strOrNull, file: strOrNull, line: str });
const whyBan = shape({
  ip: str,
  rule: str,
  jail: str,
  source: str,
  from: strOrNull,
  at: strOrNull,
  until: strOrNull,
  failures: count,
  nth: count,
  container: strOrNull,
  containerId: strOrNull,
  origin: strOrNull,
  evidence: list(whyLine),
  evidenceOmitted: num,
  ended: (v) => v === null || shape({ reason: str, at: strOrNull, by: strOrNull })(v),
  firewall: opt(str),
});
const whyReport = shape({
  ip: str,
  instance: str,
  allowlisted: (v) => typeof v === 'boolean',
  active: list(whyBan),
  failing: list(shape({ rule: str, container: strOrNull, containerId: strOrNull, lines: list(whyLine) })),
  ended: list(whyBan),
  historySize: count,
  unbanPending: opt((v) => typeof v === 'boolean'),
  group: opt(list(shape({ ip: str, rule: str, from: str, at: strOrNull, until: strOrNull, containerId: strOrNull }))),
});
const time = (v: unknown): boolean => v === null || num(v);
const banReply = shape({ ip: str, rule: str, until: time, container: opt(strOrNull), heldUntil: opt(time), firewall: opt(str) });

const CHECKS: Readonly<Record<ControlOp, (v: unknown) => boolean>> = {
  status: statusReport,
  why: whyReport,
  ban: banReply,
  unban: count,
  'unban-all': count,
  reload: () => true,
};

/** Whether `result` has the shape the CLI reads for `op` (extra fields allowed). Never throws. */
export function resultFits(op: ControlOp, result: unknown): boolean {
  try {
    return CHECKS[op](result);
  } catch {
    return false;
  }
}

/** `result` as the CLI reads it for `op`; a BH_ERR_CONTROL (malformed answer) when it does not fit. */
export function readableResult<T>(op: ControlOp, result: T, socketPath: string): T {
  if (resultFits(op, result)) return result;
  throw new BanhammerError('BH_ERR_CONTROL', `malformed answer from banhammer on ${socketPath}: not a ${op} result this CLI can read`, {
    hint: 'is the CLI the same version as the daemon? (--json prints the answer as it came)',
    data: { socketPath, op },
  });
}
