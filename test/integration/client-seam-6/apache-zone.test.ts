/**
 * Round 6, against Debian's real Apache in a network namespace (../proxy-variants-5/servers.ts): a
 * link-local IPv6 client (a veth pair in the namespace, fe80::77 on one end) is written by APR with
 * its zone, `fe80::77%cs6z0`, in `%a`, `%{c}a` and REMOTE_ADDR. The parser skipped such a line as
 * 'bad-address' (the neighbour was never banned); it now reads the client as fe80::77, the address
 * the agent bans and the apache-map writes. banhammer-map.conf must then look REMOTE_ADDR up without
 * its zone: with the shipped snippet the map entry never matched (the second test fails until the
 * round-6 patch for docker/apache/banhammer-map.conf is applied; BH_CS6_MAP_SNIPPET=<file> runs it
 * against another copy of the snippet).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { ProcessRunner } from '../../../src/exec/runner.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { APACHE, APACHE_PORT, CURL, createLab, labUnavailable, type Lab } from '../proxy-variants-5/servers.js';

const skip = labUnavailable({ apache: true });
const SHIPPED = fileURLToPath(new URL('../../../docker/apache/banhammer-map.conf', import.meta.url));
const SNIPPET = process.env.BH_CS6_MAP_SNIPPET ?? SHIPPED;
const IF = 'cs6z0';
const LL = 'fe80::77';

describe.skipIf(skip !== null)(`a link-local client with its zone, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let map: string;
  const sh = new ProcessRunner({ timeoutMs: 20_000 });
  const inNs = (args: string[]) => sh.run('ip', ['netns', 'exec', lab.ns, ...args]);
  let seq = 0;
  /** How long a poll waits for Apache (to log a request, to read the map again): generous, it ends as soon as it holds. */
  const DEADLINE_MS = 10_000;
  /** One GET from fe80::77 (the only address on the link) to itself, by zone; the status and the path. */
  const getLinkLocal = async (): Promise<{ status: number | null; path: string }> => {
    const path = `/?zone-${++seq}`;
    const r = await inNs([CURL, '-s', '-g', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '-H', 'Connection: close', `http://[${LL}%25${IF}]:${APACHE_PORT}${path}`]).catch(() => null);
    const code = Number.parseInt(r?.stdout.trim() ?? '', 10);
    return { status: Number.isFinite(code) && code > 0 ? code : null, path };
  };

  beforeAll(async () => {
    lab = await createLab();
    map = join(lab.dir, 'banned.map');
    await inNs(['ip', 'link', 'add', IF, 'type', 'veth', 'peer', 'name', 'cs6z1']);
    await inNs(['ip', 'link', 'set', IF, 'up']);
    await inNs(['ip', 'link', 'set', 'cs6z1', 'up']);
    await inNs(['ip', '-6', 'addr', 'add', `${LL}/64`, 'dev', IF, 'nodad']);
    await new ApacheMapEnforcer({ path: map }).init();
    await lab.startApache(map);
    if (SNIPPET !== SHIPPED) {
      const conf = join(lab.dir, 'httpd.conf');
      await writeFile(conf, (await readFile(conf, 'utf8')).replace(`Include ${SHIPPED}`, `Include ${SNIPPET}`));
      await inNs([APACHE, '-f', conf, '-k', 'graceful']);
      await sleep(1000);
    }
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy(); // the veth pair goes with the namespace
  }, 60_000);

  it('Apache writes the zone; the agent reads the client as the address without it', async () => {
    const r = await getLinkLocal();
    expect(r.status).toBe(200);
    let line: string | undefined;
    // Polled to a deadline, not a count of short sleeps: a loaded machine is slower to log.
    for (const end = Date.now() + DEADLINE_MS; line === undefined && Date.now() < end; ) {
      line = (await readFile(join(lab.dir, 'apache-combined.log'), 'utf8').catch(() => '')).split('\n').find((l) => l.includes(` ${r.path} `));
      if (line === undefined) await sleep(25);
    }
    expect(line?.startsWith(`${LL}%${IF} - - [`)).toBe(true);
    const ev = createLineParser('auto')(line!);
    expect(isSkip(ev) ? ev : ev.ip).toBe(LL);
  }, 30_000);

  it('apache-map: a ban of the address holds for the client Apache names with its zone', async () => {
    const enf = new ApacheMapEnforcer({ path: map });
    await enf.apply({ ban: [{ ip: LL, family: 6, until: Date.now() + 3_600_000 }], unban: [] });
    expect(await readFile(map, 'utf8')).toContain(`${LL} `);
    let last: number | null = null;
    for (const end = Date.now() + DEADLINE_MS; last !== 403 && Date.now() < end; ) {
      last = (await getLinkLocal()).status;
      if (last !== 403) await sleep(100);
    }
    expect(last).toBe(403);
    // Lifted: served again.
    await enf.apply({ ban: [], unban: [{ ip: LL, family: 6 }] });
    for (const end = Date.now() + DEADLINE_MS; last !== 200 && Date.now() < end; ) {
      last = (await getLinkLocal()).status;
      if (last !== 200) await sleep(100);
    }
    expect(last).toBe(200);
  }, 30_000);
});
