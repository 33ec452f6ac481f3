/**
 * IPv6 network escalation through the pipeline (BANHAMMER_IPV6_NETWORK_BAN_AFTER): an IPv6 client
 * that takes a new address of its /64 for each ban gets its network banned, in replay and live alike;
 * never where the network may not be banned (allowlisted addresses inside, an overlapping network
 * ban), never for one container's bans, never where the enforcer holds no network.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import type { LogRecord } from '../../../src/enforce/dry-run.js';
import { DryRunEnforcer } from '../../../src/run.js';
import { replayFile } from '../../../src/replay/replay.js';
import type { Ban } from '../../../src/decide/ban-book.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { H, S, T0, WALKER, clf, liveAgent, replayPipeline, settle, walk } from './escalation-fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('IPv6 network escalation in the pipeline', () => {
  it('is off by default: a client walking its /64 gets one ban per address', () => {
    const { bans, feed } = replayPipeline({});
    feed(walk([...WALKER, '2001:db8:1:2::d', '2001:db8:1:2::e']).lines);
    expect(bans.map((b) => b.ip)).toEqual([...WALKER, '2001:db8:1:2::d', '2001:db8:1:2::e']);
  });

  it('bans the /64 at its third banned address, for the rule that made that ban, with their lines as evidence', () => {
    const { p, bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
    const { lines } = walk(WALKER);
    feed(lines);
    expect(bans.map((b) => b.ip)).toEqual([...WALKER, '2001:db8:1:2::/64']);
    const net = bans[3]!;
    const last = bans[2]!;
    expect(net).toMatchObject({ ip: '2001:db8:1:2::/64', family: 6, rule: 'forbidden', at: last.at, until: last.at + H, failures: 3, manual: false, nth: 1 });
    expect(net.evidence?.map((e) => e.line)).toEqual([lines[4], lines[9], lines[14]]);
    // What the enforcer is handed: the network, as a manual network ban would be.
    expect(p.book.changes(last.at + 1).ban.map((b) => b.ip)).toContain('2001:db8:1:2::/64');
    expect(p.book.isBanned('2001:db8:1:2::/64', 'forbidden', last.at + 1)).toBe(true);
  });

  it('takes the rule of the longest of its addresses\' bans: the last request cannot pick a short bantime', () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
    const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
    // Two addresses banned by exploit-probes (a day), the third by forbidden (an hour).
    feed([probe('2001:db8:1:2::a', T0), probe('2001:db8:1:2::b', T0 + S)]);
    feed(walk(['2001:db8:1:2::c'], T0 + 2 * S).lines);
    const net = bans.find((b) => b.ip === '2001:db8:1:2::/64')!;
    expect(bans.map((b) => b.rule)).toEqual(['exploit-probes', 'exploit-probes', 'forbidden', 'exploit-probes']);
    expect(net.until! - net.at).toBe(24 * H);
    expect(net.at).toBe(bans[2]!.at);
  });

  it('does not count addresses of other networks, or bans too far apart, together', () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3', BANHAMMER_IPV6_NETWORK_BAN_WITHIN: '10m' });
    feed(walk(['2001:db8:1:2::a', '2001:db8:1:3::a', '2001:db8:1:2::b']).lines);
    feed(walk(['2001:db8:1:2::c'], T0 + 11 * 60_000).lines);
    expect(bans.map((b) => b.ip).filter((ip) => ip.includes('/'))).toEqual([]);
    // ::b's ban is now out of the window: ::c, ::d and ::e, within 10 minutes, make it.
    feed(walk(['2001:db8:1:2::d', '2001:db8:1:2::e'], T0 + 12 * 60_000).lines);
    expect(bans.map((b) => b.ip).filter((ip) => ip.includes('/'))).toEqual(['2001:db8:1:2::/64']);
  });

  it('bans the configured prefix', () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2', BANHAMMER_IPV6_NETWORK_BAN_PREFIX: '48' });
    feed(walk(['2001:db8:7:1::a', '2001:db8:7:2::a']).lines);
    expect(bans.map((b) => b.ip)).toEqual(['2001:db8:7:1::a', '2001:db8:7:2::a', '2001:db8:7::/48']);
  });

  it('never bans a network holding an allowlisted address', () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2', BANHAMMER_IGNOREIP: '2001:db8:1:2::99' });
    feed(walk(WALKER).lines);
    expect(bans.map((b) => b.ip)).toEqual(WALKER);
  });

  it('never bans a network overlapping a banned one (a wider manual ban already holds it)', () => {
    const { p, bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' });
    p.banManually('2001:db8:1::/48', { forMs: null, now: T0 });
    feed(walk(WALKER).lines);
    expect(bans.map((b) => b.ip)).toEqual(WALKER);
  });

  it("never counts one container's bans (a network ban applies to every container)", () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' });
    feed(walk(WALKER).lines, 'c0ffee0000000000000000000000000000000000000000000000000000000001');
    expect(bans.map((b) => b.ip)).toEqual(WALKER);
    expect(bans.every((b) => b.scope !== undefined)).toBe(true);
  });

  it('makes none where the enforcer holds no network', () => {
    const { bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' }, { networkBans: false });
    feed(walk(WALKER).lines);
    expect(bans.map((b) => b.ip)).toEqual(WALKER);
  });

  it('an address unbanned by hand no longer counts toward its network', () => {
    const { p, bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
    feed(walk(WALKER.slice(0, 2)).lines);
    p.unban('2001:db8:1:2::a');
    feed(walk([WALKER[2]!], T0 + 60_000).lines);
    expect(bans.map((b) => b.ip).filter((ip) => ip.includes('/'))).toEqual([]);
  });

  it('a reload turning it off stops it; turning it on starts it', () => {
    const { p, bans, feed } = replayPipeline({ BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' });
    feed(walk(WALKER.slice(0, 2)).lines);
    p.reconfigure(loadConfig({ env: {}, hostname: 'unit' }));
    feed(walk([WALKER[2]!, '2001:db8:1:2::d'], T0 + 60_000).lines);
    expect(bans.some((b) => b.ip.includes('/'))).toBe(false);
    p.reconfigure(loadConfig({ env: { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' }, hostname: 'unit' }));
    feed(walk(['2001:db8:9:9::a', '2001:db8:9:9::b'], T0 + 120_000).lines);
    expect(bans.filter((b) => b.ip.includes('/')).map((b) => b.ip)).toEqual(['2001:db8:9:9::/64']);
  });

  it("a repeat offence of the network grows its ban as the rule's increment says", () => {
    const yaml = 'ipv6_network_ban:\n  after: 2\nrules:\n  forbidden:\n    bantime: 10m\n    increment: { factor: 2, maxtime: 1d }\n';
    const cfg = loadConfig({ env: { BANHAMMER_CONFIG: '/etc/banhammer.yaml' }, hostname: 'unit', readFile: () => yaml } as Parameters<typeof loadConfig>[0]);
    const bans: Ban[] = [];
    const p = new Pipeline({ config: cfg, mode: 'replay', onBan: (b) => bans.push(b) });
    const feed = (lines: readonly string[]) => {
      for (const l of lines) {
        const ev = p.parse(l);
        if (ev) p.observe(ev, ev.time);
      }
    };
    feed(walk(['2001:db8:4:4::a', '2001:db8:4:4::b']).lines);
    feed(walk(['2001:db8:4:4::c', '2001:db8:4:4::d'], T0 + 2 * H).lines);
    const nets = bans.filter((b) => b.ip.includes('/'));
    expect(nets.map((b) => [b.nth, b.until! - b.at])).toEqual([
      [1, 10 * 60_000],
      [2, 20 * 60_000],
    ]);
  });
});

describe('IPv6 network escalation: agent and replay agree', () => {
  it('replay and a live agent (log enforcer) make the same bans, the network included', async () => {
    const env = { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '3' };
    const { lines, times } = walk([...WALKER, '2001:db8:5:5::1', '198.18.0.7']);
    const dir = mkdtempSync(join(tmpdir(), 'bh-esc-'));
    dirs.push(dir);
    const file = join(dir, 'access.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const replayed = await replayFile(file, loadConfig({ env, hostname: 'unit' }), { threads: 1 });

    const agent = liveAgent(env);
    await agent.daemon.start();
    for (let i = 0; i < lines.length; i++) {
      agent.clock.advance(times[i]! - agent.clock.now());
      agent.emit(lines[i]!);
    }
    await settle();
    const live = agent.infos.filter((r) => r.msg === 'ban').map((r) => `${r.obj.ip as string} ${r.obj.rule as string} ${Date.parse(r.obj.until as string)}`);
    const kernel = agent.records.filter((r) => r.action === 'ban').map((r) => (r as { ip: string }).ip);
    await agent.daemon.stop();
    expect(replayed.bans.map((b) => b.ip)).toEqual([...WALKER, '2001:db8:1:2::/64', '2001:db8:5:5::1', '198.18.0.7']);
    expect(live.sort()).toEqual(replayed.bans.map((b) => `${b.ip} ${b.rule} ${b.until}`).sort());
    expect(kernel).toContain('2001:db8:1:2::/64');
    expect(agent.warnings.filter((w) => w.includes('IPV6_NETWORK'))).toEqual([]);
  });

  it('an agent whose enforcer holds no network makes none, and says so at start and at reload', async () => {
    const env = { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2' };
    const agent = liveAgent(env, { enforcer: (records) => new DryRunEnforcer((r) => records.push(r as LogRecord), 'apache-map') });
    await agent.daemon.start();
    const { lines, times } = walk(WALKER);
    for (let i = 0; i < lines.length; i++) {
      agent.clock.advance(times[i]! - agent.clock.now());
      agent.emit(lines[i]!);
    }
    await settle();
    expect(agent.infos.filter((r) => r.msg === 'ban').map((r) => r.obj.ip)).toEqual(WALKER);
    expect(agent.warnings.filter((w) => w.includes('BANHAMMER_IPV6_NETWORK_BAN_AFTER'))).toHaveLength(1);
    agent.daemon.reload();
    expect(agent.warnings.filter((w) => w.includes('BANHAMMER_IPV6_NETWORK_BAN_AFTER'))).toHaveLength(2);
    await agent.daemon.stop();
  });

  it('replay follows the configured enforcer: none for a layer-7 one', async () => {
    const { lines } = walk(WALKER);
    const dir = mkdtempSync(join(tmpdir(), 'bh-esc-'));
    dirs.push(dir);
    const file = join(dir, 'access.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const withNft = await replayFile(file, loadConfig({ env: { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2', BANHAMMER_ENFORCER: 'nftables' }, hostname: 'unit' }), { threads: 1 });
    expect(withNft.bans.map((b) => b.ip)).toEqual([WALKER[0], WALKER[1], '2001:db8:1:2::/64', WALKER[2]]);
    const withMap = await replayFile(file, loadConfig({ env: { BANHAMMER_IPV6_NETWORK_BAN_AFTER: '2', BANHAMMER_ENFORCER: 'nginx-map' }, hostname: 'unit' }), { threads: 1 });
    expect(withMap.bans.map((b) => b.ip)).toEqual(WALKER);
  });
});
