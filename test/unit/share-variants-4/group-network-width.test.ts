/**
 * Audit round 4 of issue 11: the widest network the group may ban here (BANHAMMER_SHARE_MIN_PREFIX4/6,
 * default /16 and /48). An IPv6 network that carries IPv4 addresses (NAT64 64:ff9b::/96, SIIT
 * ::ffff:0:0:0/96, IPv4-compatible ::/96) names IPv4 clients, as many as the IPv4 network in its last
 * bits: round 3 held it to the IPv4 width for `ban` and the state file, but the group's limit took it
 * for an IPv6 network, so a value on the group's channel banned a whole IPv4 /8 (16 million clients
 * behind a NAT64 gateway) where the group may ban an IPv4 /16 at most.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { GroupLink } from '../../../src/share/group-link.js';
import type { SharedBan, ShareEvents, ShareStage, ShareStats } from '../../../src/share/share.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { ManualClock } from '../../fakes/manual-clock.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

class FakeShare implements ShareStage {
  events!: ShareEvents;
  readonly connected = true;
  readonly replicaId = 'me';
  async start(e: ShareEvents) { this.events = e; }
  async stop() {}
  failure() {}
  publishBan() {}
  publishUnban() { return Promise.resolve('none' as const); }
  async snapshot() { return []; }
  stats() { return {} as ShareStats; }
}

async function setup(minPrefix?: { 4: number; 6: number }) {
  const clock = new ManualClock(T0);
  const pipeline = new Pipeline({ config: loadConfig({ env: {}, hostname: 'unit' }), mode: 'live' });
  const share = new FakeShare();
  const adopted: Ban[] = [];
  const warned: string[] = [];
  const link = new GroupLink({ share, pipeline, clock, onAdopted: (b) => adopted.push(b), onLifted: () => {}, scoped: false, networks: true, ...(minPrefix ? { minPrefix } : {}), log: { info() {}, warn: (_o: object, msg?: string) => warned.push(msg ?? '') } });
  await link.start();
  return { share, adopted, warned };
}

const net = (ip: string): SharedBan => ({ ip, family: ip.includes(':') ? 6 : 4, rule: 'manual', at: T0, until: T0 + 3600_000, origin: 'other' });

describe('group network bans carrying IPv4 addresses are held to the group’s IPv4 width', () => {
  it('NAT64, IPv4-translated and IPv4-compatible networks wider than an IPv4 /16 are refused from the group (default limits)', async () => {
    const { share, adopted, warned } = await setup();
    for (const ip of ['64:ff9b::c600:0/104', '64:ff9b::c612:0/108', '::ffff:0:c600:0/104', '::c600:0/104']) share.events.onRemoteBan(net(ip));
    expect(adopted.map((b) => b.ip)).toEqual([]);
    expect(warned.some((w) => w.includes('wider than /112') && w.includes('BANHAMMER_SHARE_MIN_PREFIX4'))).toBe(true);
  });

  it('as wide as the IPv4 limit, they are adopted; plain IPv6 networks keep the IPv6 limit', async () => {
    const { share, adopted } = await setup();
    share.events.onRemoteBan(net('64:ff9b::c612:0/112'));
    share.events.onRemoteBan(net('2001:db8:1::/48'));
    share.events.onRemoteBan(net('198.18.0.0/16'));
    expect(adopted.map((b) => b.ip).sort()).toEqual(['198.18.0.0/16', '2001:db8:1::/48', '64:ff9b::c612:0/112']);
  });

  it('the IPv4 limit set by the operator applies to them (BANHAMMER_SHARE_MIN_PREFIX4=24)', async () => {
    const { share, adopted } = await setup({ 4: 24, 6: 48 });
    share.events.onRemoteBan(net('64:ff9b::c612:0/112'));
    share.events.onRemoteBan(net('64:ff9b::c612:100/120'));
    expect(adopted.map((b) => b.ip)).toEqual(['64:ff9b::c612:100/120']);
  });
});
