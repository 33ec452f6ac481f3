/**
 * What the IPv6 network escalation tests share (test/unit/pipeline/network-escalation.test.ts,
 * test/unit/escalation-review/): log lines, an IPv6 client walking its /64, a replay pipeline and a
 * live agent with a log enforcer.
 */
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { LogEnforcer, type LogRecord } from '../../../src/enforce/dry-run.js';
import type { Enforcer } from '../../../src/enforce/enforcer.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

export { clf };
export const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
export const S = 1000;
export const H = 3600_000;

/** Three addresses of 2001:db8:1:2::/64. */
export const WALKER = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff:ffff:ffff:ffff'] as const;

export const line = (ip: string, t: number, status = 403): string => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" ${status} 10 "-" "curl"`;

/** Five 403s from each address in turn, a second apart: each address is banned by `forbidden`. */
export function walk(addresses: readonly string[], start = T0): { lines: string[]; times: number[] } {
  const lines: string[] = [];
  const times: number[] = [];
  let t = start;
  for (const ip of addresses) {
    for (let i = 0; i < 5; i++) {
      lines.push(line(ip, t));
      times.push(t);
      t += S;
    }
  }
  return { lines, times };
}

/** A replay pipeline keeping evidence; `feed` observes lines (optionally in one container's scope). */
export function replayPipeline(env: Record<string, string>, opts: { networkBans?: boolean } = {}) {
  const bans: Ban[] = [];
  const p = new Pipeline({ config: loadConfig({ env, hostname: 'unit' }), mode: 'replay', evidence: true, onBan: (b) => bans.push(b), ...opts });
  const feed = (lines: readonly string[], scope?: string): void => {
    for (const l of lines) {
      const ev = p.parse(l);
      if (ev) p.observe(ev, ev.time, scope, undefined, l);
    }
  };
  return { p, bans, feed, nets: () => bans.filter((b) => b.ip.includes('/')).map((b) => b.ip) };
}

export const settle = async (): Promise<void> => {
  for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
};

/** A live agent on a manual clock, reading lines a test hands it, with a log enforcer by default. */
export function liveAgent(
  env: Record<string, string>,
  opts: { store?: MemoryStore; hosts?: () => readonly string[]; enforcer?: (records: LogRecord[], clock: ManualClock) => Enforcer } = {},
) {
  const clock = new ManualClock(T0);
  const records: LogRecord[] = [];
  const enforcer = opts.enforcer?.(records, clock) ?? new LogEnforcer((r) => records.push(r), clock);
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const warnings: string[] = [];
  const infos: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger = {
    debug() {},
    error() {},
    warn: (_o: object, m?: string) => warnings.push(m ?? ''),
    info: (o: object, m?: string) => infos.push({ obj: o as Record<string, unknown>, msg: m ?? '' }),
  };
  let reloadEnv = env;
  const daemon = new Daemon({
    config: loadConfig({ env, hostname: 'unit' }), clock, logger, enforcer, store: opts.store ?? new MemoryStore(), createSource,
    hostAddresses: opts.hosts ?? [],
    reloadConfig: () => loadConfig({ env: reloadEnv, hostname: 'unit' }),
  });
  return {
    clock, daemon, records, warnings, infos,
    emit: (l: string) => source.onLine(l, '/var/log/access.log'),
    /** Each line at its own time (the clock moved forward to it first). */
    feed(lines: readonly string[], times: readonly number[]): void {
      for (let i = 0; i < lines.length; i++) {
        if (times[i]! > clock.now()) clock.advance(times[i]! - clock.now());
        source.onLine(lines[i]!, '/var/log/access.log');
      }
    },
    setEnv: (e: Record<string, string>) => (reloadEnv = e),
  };
}
