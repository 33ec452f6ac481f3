/**
 * Issues 5 and 10, round 6: a ban the enforcer can never match was listed by `status` as held while
 * the client was served. With a layer-7 enforcer (nginx-map, apache-map) the map is looked up by the
 * server's own peer; when the agent reads the client from X-Forwarded-For past a trusted proxy, that
 * peer is the proxy (the server was not told to believe it: no realip / mod_remoteip). The agent now
 * says so once in its log and for as long as it runs in `status` (health.forwardedClients), naming
 * what to configure; with a kernel enforcer (the packets' source is the proxy unless the proxy is on
 * this host) it warns as well; with the `log` enforcer, or when no client was forwarded, it says nothing.
 */
import { describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { clf } from '../../support/clf.js';

const NOW = Date.UTC(2026, 11, 5, 10, 0, 0);
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
type Health = { forwardedClients?: { lines: number; note: string } };

async function agent(enforcerName: string, env: Record<string, string> = { BANHAMMER_TRUSTED_PROXIES: '10.0.0.0/8,2001:db8:ffff::/48' }) {
  const clock = new ManualClock(NOW);
  const enforcer = new RecordingEnforcer();
  Object.defineProperty(enforcer, 'name', { value: enforcerName });
  let source: FakeSource | undefined;
  const createSource: LineSourceFactory = (o) => (source = new FakeSource(o.onLine));
  const warnings: { obj: object; msg: string | undefined }[] = [];
  const logger = { debug() {}, info() {}, warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }), error() {} };
  const daemon = new Daemon({ config: loadConfig({ env, hostname: 'unit' }), clock, logger, enforcer, store: new MemoryStore(), createSource, hostAddresses: [] });
  await daemon.start();
  const feed = async (lines: string[]): Promise<void> => {
    for (const l of lines) source!.onLine(l, '/var/log/access.log');
    await settle();
  };
  const health = (): Health => (daemon.status().health ?? {}) as Health;
  const notes = () => warnings.filter((w) => /X-Forwarded-For past a trusted proxy/.test(w.msg ?? ''));
  return { daemon, feed, health, notes, enforcer };
}

const viaProxy = (client: string, n: number, proxy = '10.0.0.1') =>
  Array.from({ length: n }, (_, i) => `${proxy} - - [${clf(NOW + i)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8" "${client}"`);
const direct = (client: string, n: number) => Array.from({ length: n }, (_, i) => `${client} - - [${clf(NOW + i)}] "GET /private HTTP/1.1" 403 10 "-" "curl/8" "${client}"`);

describe('forwarded clients under a layer-7 map enforcer', () => {
  it('nginx-map: the ban is made, the log warns once, status carries the note with set_real_ip_from for each trusted proxy', async () => {
    const a = await agent('nginx-map');
    expect(a.health().forwardedClients).toBeUndefined();
    await a.feed(viaProxy('198.18.0.7', 5));
    await a.feed(viaProxy('2001:db8::8', 5, '2001:db8:ffff::1'));
    // The ban stands (the agent cannot know whether nginx was fixed since): the note says what to do.
    expect(a.daemon.status().rules.flatMap((r) => r.bannedIps).sort()).toEqual(['198.18.0.7', '2001:db8::8']);
    const f = a.health().forwardedClients;
    expect(f?.lines).toBe(10);
    expect(f?.note).toContain('such as 198.18.0.7');
    expect(f?.note).toContain('$remote_addr');
    expect(f?.note).toContain('set_real_ip_from 10.0.0.0/8; set_real_ip_from 2001:db8:ffff::/48;');
    expect(f?.note).toContain('real_ip_header X-Forwarded-For');
    expect(a.notes()).toHaveLength(1);
    expect(a.notes()[0]!.obj).toMatchObject({ enforcer: 'nginx-map', client: '198.18.0.7' });
    await a.feed(viaProxy('198.18.0.9', 3));
    expect(a.notes()).toHaveLength(1); // once
    expect(a.health().forwardedClients?.lines).toBe(13);
    await a.daemon.stop();
  });

  it('apache-map: the note names mod_remoteip with the trusted proxies', async () => {
    const a = await agent('apache-map');
    await a.feed(viaProxy('198.18.0.7', 1));
    const note = a.health().forwardedClients?.note ?? '';
    expect(note).toContain('REMOTE_ADDR');
    expect(note).toContain('RemoteIPHeader X-Forwarded-For');
    expect(note).toContain('RemoteIPInternalProxy (or RemoteIPTrustedProxy) 10.0.0.0/8 2001:db8:ffff::/48');
    expect(a.notes()).toHaveLength(1);
    await a.daemon.stop();
  });

  it('a server that resolves the client itself (realip, mod_remoteip) logs it first: nothing is said', async () => {
    const a = await agent('nginx-map');
    await a.feed(direct('198.18.0.7', 5));
    expect(a.daemon.status().rules.flatMap((r) => r.bannedIps)).toEqual(['198.18.0.7']);
    expect(a.health().forwardedClients).toBeUndefined();
    expect(a.notes()).toHaveLength(0);
    await a.daemon.stop();
  });
});

describe('forwarded clients under the other enforcers', () => {
  for (const name of ['iptables', 'nftables', 'docker-user']) {
    it(`${name}: warned (a ban holds only if the client's own packets pass this firewall), not refused`, async () => {
      const a = await agent(name);
      await a.feed(viaProxy('198.18.0.7', 5));
      expect(a.daemon.status().rules.flatMap((r) => r.bannedIps)).toEqual(['198.18.0.7']);
      expect(a.enforcer.held.has('198.18.0.7')).toBe(true);
      const note = a.health().forwardedClients?.note ?? '';
      expect(note).toContain(`the ${name} enforcer drops packets by their source`);
      expect(note).toContain('BANHAMMER_ENFORCER=nginx-map or apache-map');
      expect(a.notes()).toHaveLength(1);
      await a.daemon.stop();
    });
  }

  it('log (dry run): holds nothing, says nothing', async () => {
    const a = await agent('log');
    await a.feed(viaProxy('198.18.0.7', 5));
    expect(a.health().forwardedClients).toBeUndefined();
    expect(a.notes()).toHaveLength(0);
    await a.daemon.stop();
  });
});
