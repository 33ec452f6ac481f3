/**
 * A minimal Apache configuration for tests that run a real Apache on 127.0.0.1 with the image's
 * apache-map snippet (docker/apache/banhammer-map.conf): the map file, mod_remoteip behind a trusted
 * proxy at 127.0.0.1, and an access log in the given format (banned requests left out, as the image does).
 */
import { fileURLToPath } from 'node:url';

export const APACHE = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';
export const APACHE_MAP_SNIPPET = fileURLToPath(new URL('../../docker/apache/banhammer-map.conf', import.meta.url));

export function apacheMapConf(o: { dir: string; port: number; mapPath: string; logFormat: string }): string {
  const asRoot = process.getuid?.() === 0;
  return [
    `ServerRoot ${o.dir}`,
    `DefaultRuntimeDir ${o.dir}`,
    `PidFile ${o.dir}/httpd.pid`,
    `ErrorLog ${o.dir}/error.log`,
    'LogLevel warn',
    `LoadModule mpm_event_module ${APACHE_MODULES}/mod_mpm_event.so`,
    `LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so`,
    `LoadModule dir_module ${APACHE_MODULES}/mod_dir.so`,
    ...(asRoot ? ['User www-data', 'Group www-data'] : []),
    `Listen 127.0.0.1:${o.port}`,
    'ServerName localhost',
    'KeepAlive Off',
    `DocumentRoot ${o.dir}/www`,
    `<Directory ${o.dir}/www>`,
    '    Require all granted',
    '</Directory>',
    'DirectoryIndex index.html',
    `LogFormat "${o.logFormat}" testlog`,
    `CustomLog ${o.dir}/access.log testlog env=!banhammer_banned`,
    `Define BANHAMMER_MAP_FILE ${o.mapPath}`,
    'Define BANHAMMER_REMOTEIP_HEADER X-Forwarded-For',
    'Define BANHAMMER_TRUSTED_PROXIES "127.0.0.1/32"',
    `Include ${APACHE_MAP_SNIPPET}`,
    '',
  ].join('\n');
}
