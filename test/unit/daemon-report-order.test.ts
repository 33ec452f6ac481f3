/**
 * Bans and unbans are reported (log, metrics, notifications) in the ban book's order: a ban lifted
 * before its batch was reported (queued, being applied, or rejected and waiting for a retry) is
 * reported just before its unban, whatever lifted it; the last word on a lifted address is never
 * "ban". A ban that is not lifted is still reported only once the enforcer holds it.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../src/daemon.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Ban } from '../../src/decide/ban-book.js';
import type { EnforcerBatch } from '../../src/enforce/enforcer.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { ManualClock } from '../fakes/manual-clock.js';
import { RecordingEnforcer } from '../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../fakes/agent-io.js';
import { clf } from '../support/clf.js';

const line = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8"`;
const settle = async () => {
  for (let i = 0; i < 12; i++) await new Promise((r) => setImmediate(r));
};

/** apply() waits while `gate` is set; `failNext` rejects whole batches. */
class GatedEnforcer extends RecordingEnforcer {
  gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  close(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.gate = null;
    this.open?.();
  }
  override async apply(b: EnforcerBatch) {
    if (this.gate) await this.gate;
    return super.apply(b);
  }
}

function agent(env: Record<string, string> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const enforcer = new GatedEnforcer();
  const trace: string[] = [];
  const metrics = createMetrics();
  const { banned, unbanned } = metrics;
  metrics.banned = (rule, n) => (trace.push(`metric ban ${rule}`), banned.call(metrics, rule, n));
  metrics.unbanned = (rule, reason, n) => (trace.push(`metric unban ${rule}`), unbanned.call(metrics, rule, reason, n));
  const notifier = {
    banned: (b: Ban) => void trace.push(`notify ban ${b.ip}`),
    unbanned: (b: Ban) => void trace.push(`notify unban ${b.ip}`),
    close: async () => {},
  };
  const logger = {
    debug() {},
    warn() {},
    error() {},
    info: (o: object, m?: string) => void ((m === 'ban' || m === 'unban') && trace.push(`log ${m} ${(o as { ip: string }).ip}`)),
  };
  let source!: FakeSource;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const mk = (e: Record<string, string>): Config => loadConfig({ env: { BANHAMMER_RULES: 'forbidden', ...e }, hostname: 'unit' });
  let next = mk(env);
  const daemon = new Daemon({ config: next, clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [], metrics, notifier, reloadConfig: () => next });
  const offend = (ip: string) => {
    for (let i = 0; i < 5; i++) source.onLine(line(ip, clock.now()), '/var/log/access.log');
  };
  const reload = (e: Record<string, string>) => {
    next = mk(e);
    daemon.reload();
  };
  /** One channel's events for `ip` (log: `ban`/`unban`; notify likewise; metric by rule). */
  const channel = (kind: 'log' | 'notify', ip: string) => trace.filter((t) => t.startsWith(`${kind} `) && t.endsWith(` ${ip}`)).map((t) => t.split(' ')[1]);
  const metricEvents = () => trace.filter((t) => t.startsWith('metric ')).map((t) => t.split(' ')[1]);
  return { clock, enforcer, daemon, trace, offend, reload, channel, metricEvents };
}

const IP = '198.18.7.1';

/** Told in order: ban, unban, … — alternating, starting with a ban, ending with `last`. */
function told(events: (string | undefined)[], last: 'ban' | 'unban') {
  events.forEach((e, i) => expect(e).toBe(i % 2 === 0 ? 'ban' : 'unban'));
  expect(events.at(-1)).toBe(last);
}

describe('reports follow the ban book, whatever lifts a ban before its batch is reported', () => {
  const lifts: Record<string, (a: ReturnType<typeof agent>) => Promise<unknown> | void> = {
    'manual unban': (a) => a.daemon.unban(IP),
    'unban --all': (a) => a.daemon.unbanAll(),
    'reload allowlist': (a) => a.reload({ BANHAMMER_IGNOREIP: IP }),
    expiry: (a) => a.clock.advance(1_000), // the rule's ban lasts 1 s
  };
  for (const [how, lift] of Object.entries(lifts)) {
    for (const when of ['queued', 'being applied', 'rejected, waiting for its retry'] as const) {
      it(`${how}, ban ${when}`, async () => {
        const a = agent({ BANHAMMER_BANTIME: '1s' });
        await a.daemon.start();
        if (when === 'being applied') a.enforcer.close();
        if (when === 'rejected, waiting for its retry') a.enforcer.failNext = 1;
        a.offend(IP);
        if (when !== 'queued') await settle();
        else expect(a.channel('log', IP)).toEqual([]);
        if (when === 'being applied') expect(a.channel('log', IP)).toEqual([]); // not held yet: not reported yet
        const done = lift(a);
        a.enforcer.release();
        await done;
        a.clock.advance(1_000); // the retry timer
        await settle();
        expect(a.enforcer.held.has(IP)).toBe(false);
        told(a.channel('log', IP), 'unban');
        told(a.metricEvents(), 'unban');
        told(a.channel('notify', IP), 'unban');
        await a.daemon.stop();
      });
    }
  }

  it('a ban replaced before it was reported, then lifted: both bans are told before the unban', async () => {
    const a = agent();
    await a.daemon.start();
    a.enforcer.close();
    const first = a.daemon.ban(IP, { forMs: 60_000 });
    const second = a.daemon.ban(IP, { forMs: 120_000 }); // the same rule and address: replaces the first
    const lifted = a.daemon.unban(IP);
    a.enforcer.release();
    await Promise.all([first, second, lifted]);
    await settle();
    expect(a.channel('log', IP)).toEqual(['ban', 'ban', 'unban']);
    expect(a.channel('notify', IP).at(-1)).toBe('unban');
    await a.daemon.stop();
  });

  it('a ban that is not lifted is reported once the enforcer holds it, once; another address lifted meanwhile does not report it early', async () => {
    const a = agent();
    await a.daemon.start();
    a.enforcer.close();
    a.offend(IP);
    a.offend('198.18.7.2');
    await settle();
    void a.daemon.unban('198.18.7.2');
    await settle();
    expect(a.channel('log', IP)).toEqual([]);
    expect(a.channel('log', '198.18.7.2')).toEqual(['ban', 'unban']);
    a.enforcer.release();
    await settle();
    expect(a.channel('log', IP)).toEqual(['ban']);
    expect(a.channel('notify', IP)).toEqual(['ban']);
    expect(a.enforcer.held.has(IP)).toBe(true);
    // A later batch does not report it again.
    a.offend('198.18.7.3');
    await settle();
    expect(a.channel('log', IP)).toEqual(['ban']);
    await a.daemon.stop({ removeFirewall: false });
  });
});
