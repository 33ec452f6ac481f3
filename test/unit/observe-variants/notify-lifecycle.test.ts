/**
 * Audit (issue 14, notifications): "On ban and unban … A notification goes out only after the ban
 * landed in the kernel, and an unban after the address left it" (README, Notifications), with the
 * unban reasons of the schema (expired, manual, all, allowlisted). Variants through the real daemon:
 * a restart that restores bans from the state file tells nobody again; expiry, `unban`, `unban
 * --all` and a reload that allowlists each tell once, with their reason, after the enforcer let go.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import type { NotifySink } from '../../../src/notify/notifier.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { cleanup, line, NOW, settle, Store } from '../seams-variants/harness.js';

afterEach(cleanup);

function agentWith(store: Store, clock: ManualClock, env: Record<string, string> = {}) {
  const enforcer = new RecordingEnforcer();
  const heard: string[] = [];
  const notifier: NotifySink = {
    banned: (b: Ban) => void heard.push(`ban ${b.ip} ${b.rule} held=${enforcer.held.has(b.ip)}`),
    unbanned: (b: Ban, reason) => void heard.push(`unban ${b.ip} ${reason} held=${enforcer.held.has(b.ip)}`),
    close: async () => {},
  };
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const mk = (e: Record<string, string>): Config => loadConfig({ env: { BANHAMMER_LOG_PATH: '/var/log/access.log', ...e }, hostname: 'unit' });
  let next = mk(env);
  const daemon = new Daemon({ config: next, clock, logger: { debug() {}, info() {}, warn() {}, error() {} }, enforcer, store, createSource, hostAddresses: [], notifier, reloadConfig: () => next });
  const feed = async (ip: string, n = 5): Promise<void> => {
    for (let i = 0; i < n; i++) source!.onLine(line(ip, clock.now()), '/var/log/access.log');
    await settle();
  };
  const reloadWith = async (e: Record<string, string>): Promise<void> => {
    next = mk(e);
    daemon.reload();
    await settle();
  };
  return { daemon, enforcer, heard, feed, reloadWith };
}

async function advance(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(1000);
    await settle();
  }
}

describe('notifications over a ban’s life', () => {
  it('a restart restores bans from the state file and notifies none of them again', async () => {
    const store = new Store();
    const clock = new ManualClock(NOW);
    const a = agentWith(store, clock);
    await a.daemon.start();
    await a.feed('198.18.0.1');
    await a.feed('2001:db8::1');
    expect(a.heard).toEqual(['ban 198.18.0.1 forbidden held=true', 'ban 2001:db8::1 forbidden held=true']);
    await a.daemon.stop({ removeFirewall: false });
    clock.advance(60_000);
    const b = agentWith(store, clock);
    await b.daemon.start();
    await settle();
    expect(b.enforcer.held.size).toBe(2);
    expect(b.heard).toEqual([]);
    await b.daemon.stop();
  });

  it('expiry, unban, unban --all and an allowlisting reload: one notice each, with its reason, after the firewall let go', async () => {
    const clock = new ManualClock(NOW);
    const a = agentWith(new Store(), clock, { BANHAMMER_RULE_FORBIDDEN_BANTIME: '10m' });
    await a.daemon.start();
    await a.feed('198.18.0.1');
    await a.feed('198.18.0.2');
    await a.feed('198.18.0.3');
    await a.feed('198.18.0.4');
    a.heard.length = 0;
    await a.daemon.unban('198.18.0.1');
    await settle();
    expect(a.heard).toEqual(['unban 198.18.0.1 manual held=false']);
    a.heard.length = 0;
    await a.reloadWith({ BANHAMMER_RULE_FORBIDDEN_BANTIME: '10m', BANHAMMER_IGNOREIP: '198.18.0.2' });
    expect(a.heard).toEqual(['unban 198.18.0.2 allowlisted held=false']);
    a.heard.length = 0;
    await a.daemon.unbanAll();
    await settle();
    expect(a.heard.sort()).toEqual(['unban 198.18.0.3 all held=false', 'unban 198.18.0.4 all held=false']);
    a.heard.length = 0;
    await a.feed('198.18.0.5');
    expect(a.heard).toEqual(['ban 198.18.0.5 forbidden held=true']);
    a.heard.length = 0;
    await advance(clock, 11 * 60_000);
    expect(a.heard).toEqual(['unban 198.18.0.5 expired held=false']);
    await a.daemon.stop();
  });
});
