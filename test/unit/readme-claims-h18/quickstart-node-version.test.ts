/**
 * README (Quick start): "with Node.js … installed (the script does not install them …)", and
 * scripts/quickstart.sh checks the version before it installs anything. The agent runs on any Node
 * 20, but the quick start's second command, `npm test`, does not: vitest 4 runs on vite 8 and
 * rolldown, whose `engines` (package-lock.json) ask for 20.19 or newer on 20 and 22.12 or newer on
 * 22, and vitest's own leave 21 and 23 out. The script let any Node 20 through (Node 20.11, as an
 * older NodeSource pin leaves it, installed everything, built, and then `npm test` failed).
 *
 * The real script runs here in a copy of its directory with stubs: install-deps.sh only says that it
 * ran (nothing is installed), `node` and `npm` are stand-ins on PATH that report a chosen version,
 * and QUICKSTART_NO_DOCKER=1 stops it after the replay. This test also holds the README's stated
 * versions to the lock file's engines.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'bh-quickstart-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

mkdirSync(join(dir, 'scripts'));
mkdirSync(join(dir, 'fakebin'));
copyFileSync(join(ROOT, 'scripts/quickstart.sh'), join(dir, 'scripts/quickstart.sh'));
writeFileSync(join(dir, 'scripts/install-deps.sh'), 'echo INSTALL-DEPS-RAN\n');
// node -v / node -p '…': the chosen version (every -p expression the script may use is answered
// from it); anything else (the replay) only says it ran.
writeFileSync(
  join(dir, 'fakebin/node'),
  [
    '#!/bin/sh',
    'case $1 in',
    '  -v | --version) echo "v$FAKE_NODE_VERSION" ;;',
    '  -p | -e | --print)',
    '    case $2 in',
    '      *"split"*) echo "${FAKE_NODE_VERSION%%.*}" ;;',
    '      *) echo "$FAKE_NODE_VERSION" ;;',
    '    esac ;;',
    '  *) echo "FAKE-NODE-RAN $*" ;;',
    'esac',
    '',
  ].join('\n'),
);
writeFileSync(join(dir, 'fakebin/npm'), '#!/bin/sh\nexit 0\n');
chmodSync(join(dir, 'fakebin/node'), 0o755);
chmodSync(join(dir, 'fakebin/npm'), 0o755);

function quickstart(version: string): { status: number | null; out: string; err: string } {
  const r = spawnSync('bash', [join(dir, 'scripts/quickstart.sh')], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: `${join(dir, 'fakebin')}:/usr/bin:/bin`, FAKE_NODE_VERSION: version, QUICKSTART_NO_DOCKER: '1' },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('quickstart.sh refuses a Node.js the build and tests cannot run on, before installing anything', () => {
  it.each(['18.19.1', '20.11.1', '20.18.3', '21.7.3', '22.11.0', '23.11.1'])('Node %s: exit 2, nothing installed', (v) => {
    const r = quickstart(v);
    expect(r.out).not.toContain('INSTALL-DEPS-RAN');
    expect(r.status).toBe(2);
    expect(r.err).toContain(v);
    expect(r.err).toMatch(/20\.19/);
  });
  it.each(['20.19.0', '20.20.2', '22.12.0', '24.0.0', '26.1.0'])('Node %s: goes on (install, replay)', (v) => {
    const r = quickstart(v);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toContain('INSTALL-DEPS-RAN');
    expect(r.out).toContain('FAKE-NODE-RAN bin/banhammer.js replay examples/access.log');
  });
});

describe('README states the versions the lock file asks for', () => {
  it('20.19 on 20 and 22.12 on 22, as rolldown and vite (under vitest) require', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
    const engines = Object.entries(lock.packages)
      .filter(([k]) => /(?:^|\/)(?:rolldown|vite)$/.test(k))
      .map(([, v]) => v.engines?.node ?? '');
    expect(engines.length).toBeGreaterThan(0);
    for (const e of engines) expect(e).toMatch(/\^20\.19\.0 \|\| >=22\.12\.0/);
    const quick = README.slice(README.indexOf('## Quick start'), README.indexOf('## Choosing a deployment'));
    expect(quick).toMatch(/Node\.js 20\.19 or newer/);
    expect(quick).toMatch(/22\.12/);
  });
});
