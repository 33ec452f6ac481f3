/**
 * Issue 5, round 3 (host mode): a syslog tag names "the one container whose hostconfig.json says its
 * syslog driver writes exactly that tag" (README, Host mode). A tenant that sets its own container's
 * tag to a look-alike of another's (`/shop`, or `shop: x`, whose lines a syslog reader takes as tagged
 * `shop`) must not have its lines (and the bans it forges with them) counted for that container.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../../src/docker/containers.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { containerConfig } from '../docker/container-fixtures.js';

const SHOP = 'a1'.repeat(32);
const TENANT = 'c3'.repeat(32);
const ACCESS = '198.18.0.5 - - [10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 403 199 "-" "M"';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function host(tenantTag: string): ContainerDirectory {
  const root = mkdtempSync(join(tmpdir(), 'bh-pv3-'));
  roots.push(root);
  const mk = (id: string, name: string, addr: string, tag: string): void => {
    mkdirSync(join(root, id));
    writeFileSync(join(root, id, 'config.v2.json'), containerConfig(id, name, { bridge: { v4: addr } }));
    writeFileSync(join(root, id, 'hostconfig.json'), JSON.stringify({ LogConfig: { Type: 'syslog', Config: { tag } } }));
  };
  mk(SHOP, 'shop', '198.19.151.2', '{{.Name}}');
  mk(TENANT, 'tenant', '198.19.151.4', tenantTag);
  return new ContainerDirectory({ dir: root });
}

/** The origin the agent reads from a line Docker's syslog driver writes with this tag (RFC 3164 and 5424). */
function originsOf(tag: string): string[] {
  const p = createLineParser('syslog');
  return [`<30>Nov 23 09:35:48 host ${tag}[812]: ${ACCESS}`, `<30>1 2026-11-23T09:35:48.123Z host ${tag} 812 ${tag} - ${ACCESS}`].map((l) => {
    const r = p(l);
    return isSkip(r) ? r : String(r.origin);
  });
}

describe('a look-alike syslog tag never names another container', () => {
  it('shop\'s own tag still names shop', () => {
    const d = host('tenant-{{.Name}}');
    for (const o of originsOf('shop')) expect(d.scopeOf('/var/log/syslog', o)).toBe(SHOP);
  });

  for (const tenantTag of ['/shop', 'shop: {{.Name}}', 'shop: x', 'shop: 198.18.0.9']) {
    it(`a tenant tagged ${JSON.stringify(tenantTag)}: its lines are not counted for shop`, () => {
      const d = host(tenantTag);
      const origins = originsOf(tenantTag).filter((o) => o !== 'bad-wrapper');
      expect(origins.length).toBeGreaterThan(0);
      for (const o of origins) expect(d.scopeOf('/var/log/syslog', o), `${tenantTag} read as ${o}`).not.toBe(SHOP);
    });
  }
});
