/**
 * Review round 6 (H14): the entrypoint's check of each <VirtualHost> for `RewriteEngine On`
 * (BANHAMMER_ENFORCER=apache-map), against the list Debian's real Apache prints (`apache2 -t -D
 * DUMP_VHOSTS`), under dash and busybox sh. Silence must mean every vhost runs the ban check:
 * - a vhost in a file whose path holds parentheses was not checked at all (the file name was cut at
 *   the path's last '(' and the vhost skipped as "not a file"): silence while it served banned clients;
 * - `RewriteEngine Off` followed by an On inside <Location>, or an On inside an <IfDefine> that is
 *   not defined, counted as on: silence again (Apache serves banned clients in both);
 * - a listed vhost whose file cannot be read was skipped without a word;
 * - and the other way, false alarms for blocks that do refuse banned clients: `RewriteEngine "On"`
 *   (quoted), a `\` continuation, an On only inside <Location>, a per-directory `RewriteEngine Off`
 *   after the vhost's On. (What Apache does with each: ../../integration/review-6-enforce/apache-vhost-sections.)
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox, runScript } from '../docker/script-harness.js';

const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const skip = !existsSync(APACHE) || !existsSync(join(MODULES, 'mod_rewrite.so')) ? `${APACHE} with mod_rewrite not installed` : null;
const entry = join(DOCKER, 'bin/banhammer-entrypoint');

const VHOSTS: Record<string, string[]> = {
  plain: ['ServerName plain.test'],
  quoted: ['ServerName quoted.test', 'RewriteEngine "On"'],
  continued: ['ServerName continued.test', 'RewriteEngine \\', '    On'],
  crlf: ['ServerName crlf.test', 'RewriteEngine \\', '    On'],
  comment: ['ServerName comment.test', 'RewriteEngine On # the ban check'],
  location: ['ServerName location.test', '<Location "/">', '  RewriteEngine On', '</Location>'],
  offThenLocationOn: ['ServerName offon.test', 'RewriteEngine Off', '<Location "/">', '  RewriteEngine On', '</Location>'],
  ifdefine: ['ServerName ifdefine.test', '<IfDefine NOT_DEFINED_H14>', '  RewriteEngine On', '</IfDefine>'],
  ifrewrite: ['ServerName ifrewrite.test', '<IfModule mod_rewrite.c>', '  RewriteEngine On', '</IfModule>'],
  dirOff: ['ServerName diroff.test', 'RewriteEngine On', '<Directory "/nonexistent/h14">', '  RewriteEngine Off', '</Directory>'],
  offInIf: ['ServerName offinif.test', 'RewriteEngine On', '<IfModule rewrite_module>', '  RewriteEngine Off', '</IfModule>'],
  ignore: ['ServerName ignore.test', 'RewriteEngine On', 'RewriteOptions "IgnoreInherit"'],
};

describe.skipIf(skip !== null)(`entrypoint: <VirtualHost> check against real Apache${skip ? ` (skipped: ${skip})` : ''}`, () => {
  describe.each(SHELLS)('under $name', ({ argv }) => {
    let box: ScriptSandbox;
    let sites: string;
    const at: Record<string, string> = {};

    beforeEach(() => {
      box = new ScriptSandbox('bh-r6-vhosts-');
      sites = join(box.tmp, 'sites (old): a b');
      mkdirSync(sites);
      for (const [name, body] of Object.entries(VHOSTS)) {
        const file = join(sites, `${name} (1).conf`);
        writeFileSync(file, ['# a site', '<VirtualHost *:18081>', ...body.map((l) => `  ${l}`), '</VirtualHost>', ''].join(name === 'crlf' ? '\r\n' : '\n'));
        at[name] = `${file}:2`;
      }
      const conf = join(box.tmp, 'httpd.conf');
      writeFileSync(
        conf,
        [
          `ServerRoot "${box.tmp}"`,
          `DefaultRuntimeDir "${box.tmp}"`,
          `PidFile "${box.tmp}/httpd.pid"`,
          `ErrorLog "${box.tmp}/error.log"`,
          `LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so`,
          `LoadModule authz_core_module ${MODULES}/mod_authz_core.so`,
          `LoadModule rewrite_module ${MODULES}/mod_rewrite.so`,
          'Listen 18081',
          'ServerName localhost',
          `IncludeOptional "${sites}/*.conf"`,
          '',
        ].join('\n'),
      );
      box.fake('banhammer', "printf 'Define BANHAMMER_MAP_FILE /run/banhammer/banned.map\\n'");
      box.fake('banhammer-apache', `exec ${APACHE} -f '${conf}' "$@"`);
      // Alpine's image has busybox's awk too, not Debian's mawk.
      if (argv[0] === 'busybox') box.fake('awk', 'exec busybox awk "$@"');
    });
    afterEach(() => box.remove());

    const start = () => runScript(argv, entry, ['env'], { ...box.env, BH_SERVICES: join(DOCKER, 's6'), HTTP_PORT: '18081' });
    const warned = (stderr: string) => [...stderr.matchAll(/warning: the <VirtualHost> at (.*) has no `RewriteEngine On`/g)].map((m) => m[1]!).sort();

    it('warns for exactly the vhosts that do not run the ban check, whatever their file is called', () => {
      const r = start();
      expect(r.code).toBe(0);
      expect(warned(r.stderr)).toEqual([at.plain, at.offThenLocationOn, at.ifdefine, at.offInIf, at.ignore].sort());
      expect(r.stderr).not.toMatch(/cannot check/);
    });

    it('names a listed vhost it cannot read instead of keeping silent, and never fails the start', () => {
      const list = ['VirtualHost configuration:', '*:18081                is a NameVirtualHost', '         port 18081 namevhost gone.test (/nonexistent/h14 (x)/gone.conf:3)', "         port 18081 namevhost macro.test (macro 'V' used on line 4 of \"site.conf\":1)"];
      box.fake('banhammer-apache', `cat <<'EOF'\n${list.join('\n')}\nEOF`);
      const r = start();
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('cannot check the <VirtualHost> at /nonexistent/h14 (x)/gone.conf:3');
      expect(r.stderr).toContain(`cannot check the <VirtualHost> at macro 'V' used on line 4 of "site.conf":1`);
      expect(warned(r.stderr)).toEqual([]);
    });
  });
});
