/**
 * `banhammer replay`: a whole log through the enabled rules in log time, like fail2ban-regex but
 * showing the bans. The pipeline is the live agent's (parse → detect → decide); only the clock
 * differs: "now" is the time of the line being replayed, so findtime, bantime and expiry behave as
 * they would have when the log was written.
 */
import type { Config } from '../config/schema.js';
import { SKIP_REASONS, isSkip, type SkipReason } from '../parse/access-event.js';
import { createLineParser } from '../parse/line-parser.js';
import { compileRule, type CompiledRule } from '../detect/rule.js';
import { Detector } from '../detect/detector.js';
import { Allowlist } from '../decide/allowlist.js';
import { BanBook } from '../decide/ban-book.js';
import { BanhammerError } from '../errors.js';
import { readLineRanges } from './read-lines.js';

export interface ReplayBan {
  readonly ip: string;
  readonly rule: string;
  readonly at: number;
  readonly until: number | null;
  readonly failures: number;
}

export interface ReplayReport {
  readonly file: string;
  readonly rules: readonly string[];
  readonly lines: number;
  readonly parsed: number;
  readonly skipped: number;
  readonly skipReasons: Readonly<Record<SkipReason, number>>;
  readonly matches: Readonly<Record<string, number>>;
  readonly evictions: Readonly<Record<string, number>>;
  readonly bans: readonly ReplayBan[];
}

export interface ReplayOptions {
  /** Restrict to these rules (by name); default: the rules enabled in config. */
  readonly rules?: readonly string[];
}

/** Which rules a replay runs: `--rule` names (any defined rule, enabled or not) or the enabled ones. */
export function selectRules(config: Config, names?: readonly string[]): CompiledRule[] {
  if (names && names.length > 0) {
    const unknown = names.filter((n) => config.rules[n] === undefined);
    if (unknown.length > 0) {
      throw new BanhammerError('BH_ERR_USAGE', `unknown rule ${unknown.map((n) => JSON.stringify(n)).join(', ')}`, {
        hint: `defined rules: ${Object.keys(config.rules).join(', ')}`,
      });
    }
    return [...new Set(names)].map((n) => compileRule(n, config.rules[n]!));
  }
  return Object.entries(config.rules)
    .filter(([, s]) => s.enabled)
    .map(([n, s]) => compileRule(n, s));
}

export async function replayFile(path: string, config: Config, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const rules = selectRules(config, opts.rules);
  const allowlist = new Allowlist(config.ignoreip);
  const book = new BanBook(config.rules, allowlist);
  const detector = new Detector(rules, {
    maxTracked: config.maxTracked,
    isExempt: (ip) => allowlist.has(ip),
    isBanned: (ip, rule, t) => book.isBanned(ip, rule, t),
  });
  const parse = createLineParser(config.log.format);

  const skipReasons = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  const bans: ReplayBan[] = [];
  let lines = 0;
  let parsed = 0;

  const onOffense = (o: Parameters<BanBook['consider']>[0]): void => {
    const ban = book.consider(o, o.at);
    if (ban) bans.push({ ip: ban.ip, rule: ban.rule, at: ban.at, until: ban.until, failures: ban.failures });
  };

  try {
    await readLineRanges(path, (text, start, end) => {
      lines++;
      const out = parse.range(text, start, end);
      if (isSkip(out)) {
        skipReasons[out]++;
        return;
      }
      parsed++;
      detector.observe(out, onOffense);
    });
  } catch (err) {
    throw fileError(path, err);
  }

  const matches: Record<string, number> = {};
  const evictions: Record<string, number> = {};
  for (const r of rules) {
    const c = detector.counters(r.name)!;
    matches[r.name] = c.matches;
    evictions[r.name] = c.evictions;
  }
  return {
    file: path,
    rules: rules.map((r) => r.name),
    lines,
    parsed,
    skipped: lines - parsed,
    skipReasons,
    matches,
    evictions,
    bans,
  };
}

function fileError(path: string, err: unknown): BanhammerError {
  const e = err as NodeJS.ErrnoException;
  const why =
    e?.code === 'ENOENT' ? 'no such file'
    : e?.code === 'EACCES' || e?.code === 'EPERM' ? 'permission denied'
    : e?.code === 'EISDIR' ? 'is a directory'
    : (e?.message ?? String(err));
  return new BanhammerError('BH_ERR_FILE', `cannot read ${path}: ${why}`, {
    hint: 'give the path of an access log file',
    data: { path, code: e?.code },
    cause: err,
  });
}
