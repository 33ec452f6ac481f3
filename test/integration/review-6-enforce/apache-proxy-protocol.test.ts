/**
 * Review round 6 (H14): the apache-map enforcer when Apache takes its client from a PROXY protocol
 * header (`RemoteIPProxyProtocol On`, mod_remoteip), with Debian's real Apache and the image's
 * banhammer-map.conf, in a network namespace of its own (../proxy-variants-5/servers.ts).
 *
 * mod_remoteip keeps the text of a PROXY v1 header's source address as REMOTE_ADDR (it does not
 * re-print it through APR, as it does for X-Forwarded-For): a proxy listening dual-stack (HAProxy's
 * `bind :::80 v4v6`) sends `PROXY TCP6 ::ffff:a.b.c.d …` for an IPv4 client, Apache logs `%a` as
 * `::ffff:a.b.c.d`, the agent bans the IPv4 address a.b.c.d and writes one map line for it, and the
 * lookup under `::ffff:a.b.c.d` found nothing: the banned client was served.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { clientAddress } from '../../../src/enforce/iptables-args.js';
import { ProcessRunner } from '../../../src/exec/runner.js';
import { A, APACHE_PORT, createLab, labUnavailable, type Lab } from '../proxy-variants-5/servers.js';

const skip = labUnavailable({ apache: true });
const sh = new ProcessRunner({ timeoutMs: 20_000 });

/** argv: from to port header path. One request after a PROXY v1 header; prints the status code (or 0). */
const SEND = `
const net = require('node:net');
const [from, to, port, header, path] = process.argv.slice(1);
const s = net.connect({ host: to, port: Number(port), localAddress: from });
let got = '';
const t = setTimeout(() => { console.log('0'); process.exit(0); }, 5000);
s.on('connect', () => s.write(header + '\\r\\nGET ' + path + ' HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n'));
s.on('data', (b) => { got += b.toString('latin1'); });
s.on('error', () => {});
s.on('close', () => { clearTimeout(t); const m = /^HTTP\\/1\\.[01] (\\d{3})/.exec(got); console.log(m ? m[1] : '0'); });
`;

describe.skipIf(skip !== null)(`apache-map with RemoteIPProxyProtocol, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let mapPath: string;
  let enf: ApacheMapEnforcer;
  let seq = 0;

  /** One request through the proxy (A.proxy4) announcing `client` in a PROXY v1 header; status and path. */
  const viaProxy = async (family: 'TCP4' | 'TCP6', client: string, dst: string): Promise<{ status: number; path: string }> => {
    const path = `/?r6pp-${++seq}`;
    const header = `PROXY ${family} ${client} ${dst} 40000 ${APACHE_PORT}`;
    const r = await sh.run('ip', ['netns', 'exec', lab.ns, process.execPath, '-e', SEND, A.proxy4, A.proxy4, String(APACHE_PORT), header, path]);
    return { status: Number(r.stdout.trim()), path };
  };

  /** The client Apache logged (`%a`, what the agent reads) for this path. */
  const logged = (path: string) => lab.loggedClient(lab.apacheLog, path);

  beforeAll(async () => {
    lab = await createLab();
    mapPath = join(lab.dir, 'banned.map');
    enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init();
    // Every peer but OTHER must send a PROXY header (OTHER is how servers.ts sees Apache is up).
    await lab.startApache(mapPath, { after: ['RemoteIPProxyProtocol On', `RemoteIPProxyProtocolExceptions ${A.other4} ${A.other6}`] });
  }, 60_000);

  afterEach(async () => {
    await enf?.map.clear();
  });

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  const cases = [
    { name: 'an IPv4 client a dual-stack proxy names as ::ffff:a.b.c.d', family: 'TCP6' as const, client: '::ffff:198.18.6.5', dst: '::ffff:198.18.5.1', logged: '::ffff:198.18.6.5' },
    { name: 'the same, upper case', family: 'TCP6' as const, client: '::FFFF:198.18.6.6', dst: '::ffff:198.18.5.1', logged: '::FFFF:198.18.6.6' },
    { name: 'an IPv4 client as TCP4', family: 'TCP4' as const, client: '198.18.6.7', dst: '198.18.5.1', logged: '198.18.6.7' },
    { name: 'an IPv6 client', family: 'TCP6' as const, client: '2001:db8:6::8', dst: '2001:db8:5::1', logged: '2001:db8:6::8' },
  ];

  it.each(cases)('$name: banned once the agent bans what Apache logged', async ({ family, client, dst, logged: spelled }) => {
    const first = await viaProxy(family, client, dst);
    expect(first.status).toBe(200);
    const seen = await logged(first.path);
    expect(seen).toBe(spelled); // mod_remoteip kept the header's text
    const c = clientAddress(seen);
    if ('reason' in c) throw new Error(`the agent cannot ban ${seen}: ${c.reason}`);
    expect((await enf.apply({ ban: [{ ip: c.ip, family: c.family, until: Date.now() + 600_000 }], unban: [] })).refused).toEqual([]);
    expect((await viaProxy(family, client, dst)).status).toBe(403);
    // Another client through the same proxy is served, and a ::ffff: spelling of a hex address is not mistaken for it.
    expect((await viaProxy('TCP6', '::ffff:198.18.6.99', '::ffff:198.18.5.1')).status).toBe(200);
    expect((await viaProxy('TCP4', '198.18.6.98', '198.18.5.1')).status).toBe(200);
    await enf.apply({ ban: [], unban: [{ ip: c.ip, family: c.family }] });
    expect((await viaProxy(family, client, dst)).status).toBe(200);
  }, 30_000);

  it('the map still holds one line per IPv4 ban', async () => {
    await enf.apply({ ban: [{ ip: '198.18.6.10', family: 4, until: null }], unban: [] });
    const lines = (await readFile(mapPath, 'utf8')).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines).toEqual(['198.18.6.10 99991231235959']);
  });
});
