/**
 * Review round 6 (H14): which <VirtualHost> blocks run banhammer-map.conf's ban check, asked of
 * Debian's real Apache (the image's banhammer-map.conf, in a namespace: ../proxy-variants-5/servers.ts),
 * and whether the entrypoint's start-up check (docker/bin/banhammer-entrypoint, run for real against
 * this Apache's `-t -D DUMP_VHOSTS`) warns for exactly the blocks that serve a banned client.
 *
 * What Apache does (2.4.71): any mod_rewrite directive inside the block, even in <Location> or
 * <Directory> and even `RewriteEngine Off` there, gives the vhost a mod_rewrite server configuration
 * of its own, which inherits the main server's `RewriteEngine On`; a block without one is served by
 * the main server's configuration and skips the check, as does one whose own server-level
 * RewriteEngine ends Off or that says IgnoreInherit. The entrypoint at HEAD warned only by the last
 * `RewriteEngine` line: it kept silent for `RewriteEngine Off` followed by an On in <Location>, and for
 * an On inside an <IfDefine> that is not defined, both serving banned clients, and warned for quoted,
 * continued, per-directory and RewriteRule-only blocks that refuse them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApacheMapEnforcer } from '../../../src/enforce/apache-map.js';
import { DOCKER, SHELLS, ScriptSandbox, runScript } from '../../unit/docker/script-harness.js';
import { A, APACHE, createLab, labUnavailable, type Lab } from '../proxy-variants-5/servers.js';

const skip = labUnavailable({ apache: true });

const VHOSTS: { port: number; name: string; body: string[]; enforced: boolean }[] = [
  { port: 8081, name: 'no mod_rewrite directive', body: ['ServerName plain.test'], enforced: false },
  { port: 8082, name: 'RewriteEngine On', body: ['RewriteEngine On'], enforced: true },
  { port: 8083, name: 'RewriteEngine "On" (quoted)', body: ['RewriteEngine "On"'], enforced: true },
  { port: 8084, name: 'RewriteEngine \\ continued', body: ['RewriteEngine \\', '  On'], enforced: true },
  { port: 8085, name: 'RewriteEngine On # comment', body: ['RewriteEngine On # the ban check'], enforced: true },
  { port: 8086, name: 'RewriteEngine On in <IfModule mod_rewrite.c>', body: ['<IfModule mod_rewrite.c>', '  RewriteEngine On', '</IfModule>'], enforced: true },
  { port: 8087, name: 'RewriteEngine On in <Location /other>', body: ['<Location "/other">', '  RewriteEngine On', '</Location>'], enforced: true },
  { port: 8088, name: 'RewriteEngine Off in <Location /other> only', body: ['<Location "/other">', '  RewriteEngine Off', '</Location>'], enforced: true },
  { port: 8089, name: 'RewriteEngine On in <If>', body: ['<If "true">', '  RewriteEngine On', '</If>'], enforced: true },
  { port: 8090, name: 'RewriteRule alone', body: ['RewriteRule ^/nothing$ - [L]'], enforced: true },
  { port: 8091, name: 'RewriteBase alone in <Directory>', body: ['<Directory "/nonexistent/h14">', '  RewriteBase /', '</Directory>'], enforced: true },
  { port: 8092, name: 'RewriteEngine On, then Off in <Directory>', body: ['RewriteEngine On', '<Directory "/nonexistent/h14">', '  RewriteEngine Off', '</Directory>'], enforced: true },
  { port: 8093, name: 'RewriteEngine Off, then On in <Location>', body: ['RewriteEngine Off', '<Location "/other">', '  RewriteEngine On', '</Location>'], enforced: false },
  { port: 8094, name: 'RewriteEngine On in <Location>, then Off', body: ['<Location "/other">', '  RewriteEngine On', '</Location>', 'RewriteEngine Off'], enforced: false },
  { port: 8095, name: 'RewriteEngine On in an undefined <IfDefine>', body: ['<IfDefine NOT_DEFINED_H14>', '  RewriteEngine On', '</IfDefine>'], enforced: false },
  { port: 8096, name: 'RewriteEngine On, RewriteOptions IgnoreInherit', body: ['RewriteEngine On', 'RewriteOptions "IgnoreInherit"'], enforced: false },
  { port: 8097, name: 'RewriteEngine On, then Off in <IfModule rewrite_module>', body: ['RewriteEngine On', '<IfModule rewrite_module>', '  RewriteEngine Off', '</IfModule>'], enforced: false },
];

describe.skipIf(skip !== null || SHELLS.length === 0)(`apache-map in <VirtualHost> blocks, real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: Lab;
  let enf: ApacheMapEnforcer;
  let conf: string;

  beforeAll(async () => {
    lab = await createLab();
    const mapPath = join(lab.dir, 'banned.map');
    enf = new ApacheMapEnforcer({ path: mapPath });
    await enf.init();
    const after: string[] = [];
    for (const v of VHOSTS) after.push(`Listen ${v.port}`, `<VirtualHost *:${v.port}>`, ...v.body, '</VirtualHost>');
    await lab.startApache(mapPath, { after });
    conf = join(lab.dir, 'httpd.conf');
    // HOP (a trusted proxy sending no header) is its own client: banned; OTHER is not.
    await enf.apply({ ban: [{ ip: A.hop4, family: 4, until: null }], unban: [] });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 60_000);

  it.each(VHOSTS)('$name: Apache refuses the banned client: $enforced', async ({ port, enforced }) => {
    expect((await lab.get(port, { from: A.other4 })).status).toBe(200);
    expect((await lab.get(port, { from: A.hop4 })).status).toBe(enforced ? 403 : 200);
  });

  it.each(SHELLS)('the entrypoint (under $name) warns for exactly the blocks that serve banned clients', ({ argv }) => {
    const lines = readFileSync(conf, 'utf8').split('\n');
    const portAt = new Map<number, number>();
    lines.forEach((l, i) => {
      const m = /^<VirtualHost \*:(\d+)>$/.exec(l);
      if (m) portAt.set(i + 1, Number(m[1]));
    });
    const box = new ScriptSandbox('bh-r6-vh-');
    try {
      box.fake('banhammer', "printf 'Define BANHAMMER_MAP_FILE /run/banhammer/banned.map\\n'");
      box.fake('banhammer-apache', `exec ${APACHE} -f '${conf}' "$@"`);
      const r = runScript(argv, join(DOCKER, 'bin/banhammer-entrypoint'), ['env'], { ...box.env, BH_SERVICES: join(DOCKER, 's6'), HTTP_PORT: '8080' });
      expect(r.code).toBe(0);
      const warned = [...r.stderr.matchAll(/warning: the <VirtualHost> at (.*):(\d+) has no `RewriteEngine On`/g)].map((m) => {
        expect(m[1]).toBe(conf);
        return portAt.get(Number(m[2]));
      });
      expect(warned.sort()).toEqual(VHOSTS.filter((v) => !v.enforced).map((v) => v.port));
      expect(r.stderr).not.toMatch(/cannot check/);
    } finally {
      box.remove();
    }
  });
});
