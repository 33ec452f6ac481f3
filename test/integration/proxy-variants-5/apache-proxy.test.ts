/**
 * Issue 5, round 5: the apache-map enforcer behind a reverse proxy, against Debian's real Apache with
 * the image's banhammer-map.conf (mod_remoteip with BANHAMMER_TRUSTED_PROXIES, RewriteMap txt:), in
 * a network namespace of its own (servers.ts). The question each test asks: is the address Apache
 * looks up in the map (REMOTE_ADDR after mod_remoteip, which is also `%a`, what the agent reads and
 * bans) always the text the map holds for that ban?
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer, CACHE_REFRESH_MS } from '../../../src/enforce/apache-map.js';
import type { EnforcerBan } from '../../../src/enforce/enforcer.js';
import { clientAddress } from '../../../src/enforce/iptables-args.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { A, APACHE_PORT, TRUSTED, createLab, distMissing, labUnavailable, type Lab } from './servers.js';

const skip = labUnavailable({ apache: true });

describe.skipIf(skip !== null)(`apache-map behind a proxy, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let mapPath: string;
  let enf: ApacheMapEnforcer;
  const until = () => Date.now() + 600_000;

  /** Bans what the agent would ban for this logged client (the canonical address), or throws. */
  const banLogged = async (logged: string) => {
    const c = clientAddress(logged);
    if ('reason' in c) throw new Error(`the agent cannot ban ${logged}: ${c.reason}`);
    const r = await enf.apply({ ban: [{ ip: c.ip, family: c.family, until: until() }], unban: [] });
    expect(r.refused).toEqual([]);
    return c;
  };

  beforeAll(async () => {
    lab = await createLab();
    mapPath = join(lab.dir, 'banned.map');
    enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init(); // Apache refuses to start without the map file
    await lab.startApache(mapPath);
  }, 60_000);

  // Each test starts from an empty map, even after one that failed before its unbans.
  afterEach(async () => {
    await enf?.map.clear();
  });

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  // Every spelling a trusted proxy may put in X-Forwarded-For for one client. Apache (APR) writes
  // REMOTE_ADDR in its own form: lower case, RFC 5952 zero compression, IPv4-mapped as plain IPv4,
  // IPv4-compatible (::/96) as ::a.b.c.d. The agent reads that form from the access log, bans its
  // canonical address, and the map must hold the same text under which Apache looks it up.
  const spellings: { xff: string; from?: string }[] = [
    { xff: '198.18.0.5' },
    { xff: '::ffff:198.18.0.6' },
    { xff: '::FFFF:C612:7' },
    { xff: '2001:DB8:0:0:0:0:0:A' },
    { xff: '2001:0db8:0000:0000:0001:0000:0000:000b' },
    { xff: '2001:db8:0:1:0:0:0:c' },
    { xff: '::198.18.0.8' },
    { xff: '::1:2' },
    { xff: '::ffff:0:198.18.0.9' },
    { xff: '64:ff9b::198.18.0.10' },
    { xff: '198.18.0.11', from: A.proxy6 },
    { xff: '2001:db8::d', from: A.proxy6 },
  ];

  it.each(spellings)('X-Forwarded-For $xff (from ${from}): the banned client gets 403, then 200 after the unban', async ({ xff, from }) => {
    const first = await lab.get(APACHE_PORT, { xff: [xff], ...(from ? { from } : {}) });
    expect(first.status).toBe(200);
    const logged = await lab.loggedClient(lab.apacheLog, first.path);
    expect(logged).not.toBe(from ?? A.proxy4); // mod_remoteip believed the proxy
    const c = await banLogged(logged);
    expect((await lab.get(APACHE_PORT, { xff: [xff], ...(from ? { from } : {}) })).status).toBe(403);
    // Another client behind the same proxy, and the proxy itself, are served.
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.99'], ...(from ? { from } : {}) })).status).toBe(200);
    expect((await lab.get(APACHE_PORT, {})).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: c.ip, family: c.family }] });
    expect((await lab.get(APACHE_PORT, { xff: [xff], ...(from ? { from } : {}) })).status).toBe(200);
  });

  it('an IPv4 ban is one line of the map, and matches both IPv4-mapped spellings: a mapped peer on the dual-stack listener, a mapped address from the proxy', async () => {
    // Apache listens on [::] only (Debian's APR: IPv4-mapped addresses enabled), so an IPv4 peer
    // arrives as ::ffff:198.18.5.2; APR prints REMOTE_ADDR as 198.18.5.2, and a mapped X-Forwarded-For
    // entry as plain IPv4 too. A `::ffff:` line in the map would never be looked up.
    // One socket: ss prints `*` for [::] without IPV6_V6ONLY (`[::]` with it, `0.0.0.0` for IPv4).
    expect(await lab.listening(APACHE_PORT)).toEqual(['*']);
    const first = await lab.get(APACHE_PORT, { from: A.other4 });
    expect(await lab.loggedClient(lab.apacheLog, first.path)).toBe(A.other4);
    await banLogged(A.other4);
    await banLogged('198.18.0.80');
    const lines = (await readFile(mapPath, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['198.18.0.80', A.other4]);
    expect((await lab.get(APACHE_PORT, { from: A.other4 })).status).toBe(403);
    for (const xff of ['198.18.0.80', '::ffff:198.18.0.80', '::FFFF:C612:50', '0:0:0:0:0:ffff:198.18.0.80']) {
      const r = await lab.get(APACHE_PORT, { xff: [xff] });
      expect({ xff, status: r.status }).toEqual({ xff, status: 403 });
    }
    expect((await lab.get(APACHE_PORT, { from: A.other6 })).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: A.other4, family: 4 }, { ip: '198.18.0.80', family: 4 }] });
    expect((await lab.get(APACHE_PORT, { from: A.other4 })).status).toBe(200);
    expect((await lab.get(APACHE_PORT, { xff: ['::ffff:198.18.0.80'] })).status).toBe(200);
  });

  it('a peer that is not a trusted proxy cannot name a client: its header is ignored both ways', async () => {
    await enf.apply({ ban: [{ ip: '198.18.0.20', family: 4, until: until() }], unban: [] });
    // Forging a banned client's address does not get the forger banned, nor the forged one served as banned...
    const forged = await lab.get(APACHE_PORT, { from: A.other4, xff: ['198.18.0.20'] });
    expect(forged.status).toBe(200);
    expect(await lab.loggedClient(lab.apacheLog, forged.path)).toBe(A.other4);
    // ...and a banned peer cannot escape its ban by naming someone else.
    await enf.apply({ ban: [{ ip: A.other6, family: 6, until: until() }], unban: [] });
    expect((await lab.get(APACHE_PORT, { from: A.other6, xff: ['198.18.0.21'] })).status).toBe(403);
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.20'] })).status).toBe(403);
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.20', family: 4 }, { ip: A.other6, family: 6 }] });
  });

  it('several X-Forwarded-For headers and a two-hop chain of trusted proxies: the client the last untrusted entry names', async () => {
    await enf.apply({ ban: [{ ip: '198.18.0.30', family: 4, until: until() }], unban: [] });
    const cases: { xff: string[]; from?: string; banned: boolean; client: string }[] = [
      // What the client wrote itself comes first; the proxy's own header line (or entry) is last.
      { xff: ['198.18.0.31', '198.18.0.30'], banned: true, client: '198.18.0.30' },
      { xff: ['198.18.0.30', '198.18.0.31'], banned: false, client: '198.18.0.31' },
      { xff: ['198.18.0.31, 198.18.0.30'], banned: true, client: '198.18.0.30' },
      // Two hops: the outer proxy (A.hop4, trusted) added the client, the inner one (A.proxy4) added A.hop4.
      { xff: [`198.18.0.30, ${A.hop4}`], banned: true, client: '198.18.0.30' },
      { xff: [`198.18.0.30, 198.18.0.31, ${A.hop4}`], banned: false, client: '198.18.0.31' },
      { xff: ['198.18.0.30', A.hop4], banned: true, client: '198.18.0.30' },
      { xff: [`198.18.0.30, ${A.hop6}`], from: A.proxy6, banned: true, client: '198.18.0.30' },
    ];
    for (const c of cases) {
      const r = await lab.get(APACHE_PORT, { xff: c.xff, ...(c.from ? { from: c.from } : {}) });
      expect({ ...c, status: r.status, logged: await lab.loggedClient(lab.apacheLog, r.path) }).toEqual({ ...c, status: c.banned ? 403 : 200, logged: c.client });
    }
    await enf.apply({ ban: [], unban: [{ ip: '198.18.0.30', family: 4 }] });
  });

  it('an entry mod_remoteip cannot parse (a port, brackets) leaves the request to the proxy: nobody is banned through it', async () => {
    // Some load balancers append `address:port`; mod_remoteip then keeps the proxy as the client, which
    // the agent never bans (a trusted proxy). nginx's realip strips the port (nginx-proxy.test.ts).
    for (const xff of ['198.18.0.40:4711', '[2001:db8::40]:443', '[2001:db8::40]']) {
      const r = await lab.get(APACHE_PORT, { xff: [xff] });
      expect(r.status).toBe(200);
      expect(await lab.loggedClient(lab.apacheLog, r.path)).toBe(A.proxy4);
    }
  });

  it('two writes within the same second (and the same clock tick) are both seen: 40 ban/unban pairs, each answered at once', async () => {
    const wrong: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 40 && Date.now() - t0 < 15_000; i++) {
      const ip = `198.18.1.${i + 1}`;
      await enf.apply({ ban: [{ ip, family: 4, until: until() }], unban: [] });
      const banned = await lab.get(APACHE_PORT, { xff: [ip] });
      await enf.apply({ ban: [], unban: [{ ip, family: 4 }] });
      const lifted = await lab.get(APACHE_PORT, { xff: [ip] });
      if (banned.status !== 403 || lifted.status !== 200) wrong.push(`${ip}: ${banned.status} then ${lifted.status}`);
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('a network ban is refused with a reason, never written, and nobody in it is answered 403', async () => {
    const r = await enf.apply({ ban: [{ ip: '198.18.0.0/24', family: 4, until: until() }, { ip: '2001:db8::/64', family: 6, until: until() }], unban: [] });
    expect(r.refused.map((x) => `${x.ip}: ${x.reason}`)).toEqual([
      '198.18.0.0/24: a network (CIDR) ban is not supported by this enforcer',
      '2001:db8::/64: a network (CIDR) ban is not supported by this enforcer',
    ]);
    expect(await readFile(mapPath, 'utf8')).not.toContain('/');
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.50'] })).status).toBe(200);
  });

  it('10,000 bans: the last entry and the first are answered 403, the others 200', async () => {
    const bans = Array.from({ length: 10_000 }, (_, i) => ({ ip: `198.19.${i >> 8}.${i & 255}`, family: 4 as const, until: until() }));
    await enf.apply({ ban: bans, unban: [] });
    const lines = (await readFile(mapPath, 'utf8')).split('\n').filter((l) => /^[0-9a-f:.]+ \d{14}$/.test(l));
    const last = lines[lines.length - 1]!.split(' ')[0]!;
    const firstKey = lines[0]!.split(' ')[0]!;
    for (const x of [last, firstKey, '198.19.39.15']) expect((await lab.get(APACHE_PORT, { xff: [x] })).status).toBe(403);
    expect((await lab.get(APACHE_PORT, { xff: ['198.19.200.1'] })).status).toBe(200);
    await enf.apply({ ban: [], unban: bans.map((b) => ({ ip: b.ip, family: b.family })) });
    expect((await lab.get(APACHE_PORT, { xff: [last] })).status).toBe(200);
  }, 60_000);

  describe.skipIf(distMissing() !== null)('with the real agent following Apache\'s access log', () => {
    it('a client behind the proxy is banned by what Apache logged, whatever the proxy\'s spelling, and the proxy never', async () => {
      const state = join(lab.dir, 'agent-state');
      const env = {
        BANHAMMER_INSTANCE: `p5a${lab.ns.slice(5, 11)}`,
        BANHAMMER_ENFORCER: 'apache-map',
        BANHAMMER_MAP_FILE: mapPath,
        BANHAMMER_LOG_PATH: join(lab.dir, 'apache-combined.log'),
        BANHAMMER_STATE_DIR: state,
        BANHAMMER_SOCKET: join(lab.dir, 'agent.sock'),
        BANHAMMER_TRUSTED_PROXIES: TRUSTED.join(','),
        BANHAMMER_MAXRETRY: '3',
        BANHAMMER_FINDTIME: '1m',
        BANHAMMER_BANTIME: '1h',
        BANHAMMER_LOG_LEVEL: 'info',
      };
      await writeFile(mapPath, ''); // no bans of the tests above
      const agent = await lab.startAgent(env);
      try {
        // The same two clients spelled differently by the proxy on every request.
        const clients = [
          { spell: ['2001:DB8::E1', '2001:db8:0:0:0:0:0:e1', '2001:0DB8::00E1'], probe: '2001:db8::e1' },
          { spell: ['198.18.0.61', '::ffff:198.18.0.61', '::FFFF:C612:3D'], probe: '::ffff:198.18.0.61' },
        ];
        for (const c of clients) for (const s of c.spell) expect((await lab.get(APACHE_PORT, { xff: [s], path: '/forbidden' })).status).toBe(403);
        let answers: (number | null)[] = [];
        for (let i = 0; i < 100; i++) {
          answers = [];
          for (const c of clients) answers.push((await lab.get(APACHE_PORT, { xff: [c.probe] })).status);
          if (answers.every((s) => s === 403)) break;
          await sleep(100);
        }
        expect(answers).toEqual([403, 403]);
        expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.62'] })).status).toBe(200);
        expect((await lab.get(APACHE_PORT, {})).status).toBe(200);
        const st = await lab.cli(env, ['status', '--json']);
        expect(st.code).toBe(0);
        const banned = (JSON.parse(st.stdout) as { rules: { bannedIps: string[] }[] }).rules.flatMap((r) => r.bannedIps).sort();
        expect(banned).toEqual(['198.18.0.61', '2001:db8::e1']);
      } finally {
        await agent.stop();
      }
    }, 90_000);
  });
});

/**
 * mod_rewrite's per-child cache of txt-map lookups (hits and misses) lives until the map's mtime
 * changes. One Apache child here, so its cache is the only one; the rewrite trace says whether a
 * lookup came from the cache or read the file.
 */
describe.skipIf(skip !== null)(`apache-map and mod_rewrite's lookup cache, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let mapPath: string;
  let clock: ManualClock;
  let enf: ApacheMapEnforcer;
  const book: EnforcerBan[] = [{ ip: '198.18.0.90', family: 4, until: null }];

  /** How often the child read the map file for `key` (a cache miss), from the rewrite trace. */
  const fileLookups = async (key: string): Promise<number> => {
    const log = await readFile(join(lab.dir, 'apache-error.log'), 'utf8').catch(() => '');
    return log.split('\n').filter((l) => l.includes(`map lookup FAILED: map=banhammer[txt] key=${key}`) || l.includes(`map lookup OK: map=banhammer[txt] key=${key} `)).length;
  };

  beforeAll(async () => {
    lab = await createLab();
    mapPath = join(lab.dir, 'banned.map');
    clock = new ManualClock(Date.now());
    enf = new ApacheMapEnforcer({ path: mapPath, clock });
    await enf.init();
    await enf.apply({ ban: book, unban: [] });
    await lab.startApache(mapPath, { singleChild: true, logLevel: 'warn rewrite:trace6' });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  it(`check() gives an unchanged map a new mtime once it is ${CACHE_REFRESH_MS / 1000} s old, so Apache drops what it cached; nothing is reported`, async () => {
    const key = '198.18.0.91';
    for (let i = 0; i < 3; i++) expect((await lab.get(APACHE_PORT, { xff: [key] })).status).toBe(200);
    expect(await fileLookups(key)).toBe(1); // then cached
    const before = (await stat(mapPath, { bigint: true })).mtimeNs;
    clock.advance(CACHE_REFRESH_MS - 1000);
    expect(await enf.check(() => book)).toEqual([]);
    expect((await stat(mapPath, { bigint: true })).mtimeNs).toBe(before); // not yet
    clock.advance(1000);
    const text = await readFile(mapPath, 'utf8');
    expect(await enf.check(() => book)).toEqual([]);
    const after = await stat(mapPath, { bigint: true });
    expect(after.mtimeNs / 1000n).toBeGreaterThan(before / 1000n); // a new version in Apache's eyes (µs)
    expect(await readFile(mapPath, 'utf8')).toBe(text);
    expect((await lab.get(APACHE_PORT, { xff: [key] })).status).toBe(200);
    expect(await fileLookups(key)).toBe(2); // the cache was dropped: the file was read again
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.90'] })).status).toBe(403);
    // The touch is our own: the next checks find nothing to repair and leave the file alone.
    expect(await enf.check(() => book)).toEqual([]);
    expect((await stat(mapPath, { bigint: true })).mtimeNs).toBe(after.mtimeNs);
  });

  it('a flood of new client addresses no longer grows the child for as long as no ban changes: its cache starts afresh every refresh', async () => {
    const rss = async () => [...(await lab.apacheChildrenRss()).values()].reduce((a, b) => a + b, 0);
    const r0 = await rss();
    expect((await lab.flood(APACHE_PORT, 30_000, '2001:db8:71::')).errors).toBe(0);
    const r1 = await rss();
    clock.advance(CACHE_REFRESH_MS);
    expect(await enf.check(() => book)).toEqual([]);
    expect((await lab.flood(APACHE_PORT, 30_000, '2001:db8:72::')).errors).toBe(0);
    const r2 = await rss();
    // 30,000 cached misses take a few MB; after the refresh the same number reuses that memory.
    expect(r1 - r0).toBeGreaterThan(2000);
    expect(r2 - r1).toBeLessThan((r1 - r0) / 2);
  }, 240_000);
});

/**
 * Name-based virtual hosts from a site's snippets. mod_rewrite runs the main server's rules in a
 * vhost only when the vhost turns RewriteEngine on (banhammer-map.conf says so; a vhost without it
 * serves banned clients); with it, RewriteOptions InheritDownBefore runs the ban check before the
 * vhost's own rules, and a vhost that only proxies is covered too.
 */
describe.skipIf(skip !== null)(`apache-map and a site's virtual hosts, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await createLab();
    const mapPath = join(lab.dir, 'banned.map');
    const enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init();
    await enf.apply({ ban: [{ ip: '198.18.0.5', family: 4, until: null }], unban: [] });
    const www = `${lab.dir}/www`;
    await lab.startApache(mapPath, {
      after: [
        `LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so`,
        `LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so`,
        '<VirtualHost *:8080>',
        '  ServerName first.test',
        `  DocumentRoot ${www}`,
        '  RewriteEngine On',
        '</VirtualHost>',
        '<VirtualHost *:8080>',
        '  ServerName own-rules.test',
        `  DocumentRoot ${www}`,
        '  RewriteEngine On',
        '  RewriteRule ^/old$ /new [R=301,L]',
        '</VirtualHost>',
        '<VirtualHost *:8080>',
        '  ServerName proxied.test',
        '  RewriteEngine On',
        `  ProxyPass "/" "http://${A.other4}:8080/"`,
        '</VirtualHost>',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  it.each([
    ['first.test', '/'],
    ['unknown.test', '/'], // the first vhost answers for names nobody declared
    ['own-rules.test', '/'],
    ['own-rules.test', '/old'], // the ban check runs before the vhost's own redirect
    ['proxied.test', '/'],
  ])('%s %s: 403 for the banned client, the site as usual for another', async (host, path) => {
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.5'], host, path })).status).toBe(403);
    expect((await lab.get(APACHE_PORT, { xff: ['198.18.0.6'], host, path })).status).toBe(path === '/old' ? 301 : 200);
  });
});
