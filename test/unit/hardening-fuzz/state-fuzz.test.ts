/**
 * Issue 9, round 2 audit: the agent's start from a hostile state file (the real StateStore and
 * validateState of run.ts, the daemon's restore). Seeded documents mix valid bans with wrong types,
 * huge and non-finite-looking numbers, times past the date range, addresses that can never be a
 * client, scopes with `/` and `..`, `__proto__`/`constructor` keys, duplicate keys and deep nesting;
 * and whole files that are 100,000 levels deep or 50 MB. Invariants: start never throws or hangs; a
 * file that cannot be read is moved aside; every valid active ban is restored; nothing restored is
 * an address that can never be a client; status and why always format.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { Daemon, type DaemonState, type LineSourceFactory } from '../../../src/daemon.js';
import { StateStore } from '../../../src/decide/state-store.js';
import { validateState } from '../../../src/run.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { canonicalIp, nonClientReason } from '../../../src/parse/ip.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { FakeSource } from '../../fakes/agent-io.js';
import { int, pick, prng } from './gen.js';

const root = mkdtempSync(join(tmpdir(), 'bh-h3-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const H = 3_600_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function startFrom(dir: string, text: string): Promise<{ daemon: Daemon; warnings: string[]; ms: number }> {
  writeFileSync(join(dir, 'state-h3.json'), text);
  const warnings: string[] = [];
  const store = new StateStore<DaemonState>({ dir, name: 'state-h3', version: 1, validate: validateState, onWarning: (m) => warnings.push(m), clock: new ManualClock(NOW) });
  const createSource: LineSourceFactory = (o) => new FakeSource(o.onLine);
  const daemon = new Daemon({ config: loadConfig({ env: {}, hostname: 'h3' }), clock: new ManualClock(NOW), logger: silent, enforcer: new RecordingEnforcer(), store, createSource, hostAddresses: [] });
  const t = performance.now();
  await Promise.race([daemon.start(), new Promise((_, rej) => setTimeout(() => rej(new Error('start hangs')), 10_000))]);
  return { daemon, warnings, ms: performance.now() - t };
}

const HOSTILE_IPS = ['0.0.0.0', '::', '224.0.0.1', '255.255.255.255', 'ff02::1', '::ffff:0.0.0.0', '0.0.0.0/0', '::/0', '198.18.0.0/0', '10.0.0.0/7', '127.0.0.1', '::1', '198.18.0.1%eth0', '198.018.0.1', '0xC6.0x12.0.1', ' 198.18.0.1', '198.18.0.1\n', '', 'x'.repeat(1000), '__proto__', 'constructor'];
const HOSTILE_NUMS: unknown[] = [1e308, -1e308, 8.64e15 + 1, 275760e10, -0, 2 ** 53 + 1, '1e309', 'NaN', null, true, [], {}, '2031-01-01', 1.5];
const HOSTILE_SCOPES: unknown[] = ['../etc', 'a/b', '/', '..', '', '__proto__', 'constructor', 'x'.repeat(500), 42, {}, '\u0000', 'web-1'];

function hostileBan(r: () => number): Record<string, unknown> {
  const b: Record<string, unknown> = { ip: `198.18.0.${1 + int(r, 200)}`, family: 4, rule: 'forbidden', at: NOW - H, until: NOW + H, failures: 5, nth: 1, manual: false };
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) {
    const f = pick(r, ['ip', 'rule', 'at', 'until', 'nth', 'failures', 'scope', 'family', 'evidence', 'extra']);
    if (f === 'ip') b.ip = pick(r, HOSTILE_IPS);
    else if (f === 'rule') b.rule = pick(r, ['constructor', '__proto__', 'toString', '../x', '', 'x'.repeat(300), 'manual', 'nope']);
    else if (f === 'scope') b.scope = pick(r, HOSTILE_SCOPES);
    else if (f === 'evidence') b.evidence = pick(r, [[{ line: 'x'.repeat(100_000), at: 1e308 }], 'x', [null, 1, [[]]], [{ line: '\u001b]0;pwn\u0007', at: NOW }]]);
    else if (f === 'extra') b.__proto__ = { until: null };
    else b[f] = pick(r, HOSTILE_NUMS);
  }
  return b;
}

describe('start from a seeded hostile state file', () => {
  for (let seed = 1; seed <= 24; seed++) {
    it(`seed ${seed}`, async () => {
      const r = prng(seed);
      const dir = mkdtempSync(join(root, 'd-'));
      const good = Array.from({ length: 5 }, (_, i) => ({ ip: `198.18.1.${10 + i + seed * 5}`, family: 4, rule: 'forbidden', at: NOW - H, until: NOW + H, failures: 5, nth: 1, manual: false }));
      const bad = Array.from({ length: 40 }, () => hostileBan(r));
      const bans = [...good, ...bad].sort(() => r() - 0.5);
      const history = Array.from({ length: 10 }, () => ({ ip: pick(r, [...HOSTILE_IPS, '198.18.0.5']), rule: 'forbidden', count: pick(r, HOSTILE_NUMS), last: pick(r, HOSTILE_NUMS), scope: pick(r, [undefined, ...HOSTILE_SCOPES]) }));
      const positions = [{ path: '/var/log/access.log', dev: '1', ino: '2', offset: pick(r, [1e308, -1, 2 ** 53, 0, 12]) }, { path: '../../etc/shadow', dev: '99999999999999999999999', ino: '1', offset: 0 }];
      let text = JSON.stringify({ version: 1, savedAt: NOW, data: { bans, history, ended: bans.slice(0, 10).map((b) => ({ ...b, ended: { reason: 'expired', at: pick(r, HOSTILE_NUMS) } })), positions } });
      // A duplicate key: the last one wins in JSON.parse; a hostile "ip" after a good one.
      if (r() < 0.5) text = text.replace('"ip":"198.18.1.', '"ip":"0.0.0.0","ip":"198.18.1.');
      const { daemon } = await startFrom(dir, text);
      try {
        const st = daemon.status();
        expect(() => formatStatus(st)).not.toThrow();
        const shown = JSON.stringify(st);
        for (const g of good) expect(shown, g.ip).toContain(`"${g.ip}"`);
        const held = st.rules.flatMap((x) => x.bannedIps);
        expect(held.length).toBeGreaterThanOrEqual(good.length);
        for (const ip of held) {
          const c = canonicalIp(ip.split('/')[0]!);
          expect(c, ip).not.toBeNull();
          expect(nonClientReason(c!), ip).toBeNull();
          expect(['127.0.0.1', '::1'], ip).not.toContain(c!.ip);
        }
        for (const g of good) expect(() => daemon.why(g.ip)).not.toThrow();
      } finally {
        await daemon.stop();
      }
    }, 20_000);
  }

  it('a file nested 100,000 levels deep is moved aside, start goes on', async () => {
    const dir = mkdtempSync(join(root, 'deep-'));
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const text of [deep, `{"version":1,"savedAt":0,"data":{"bans":${deep},"history":[],"positions":[]}}`, `{"version":1,"savedAt":0,"data":{"bans":[{"ip":"198.18.0.9","rule":"forbidden","at":${NOW},"until":null,"nth":1,"evidence":${deep}}],"history":[],"positions":[]}}`]) {
      const { daemon } = await startFrom(dir, text);
      expect(() => formatStatus(daemon.status())).not.toThrow();
      await daemon.stop();
    }
  }, 20_000);

  it('a 50 MB file of one huge string is read or set aside within seconds', async () => {
    const dir = mkdtempSync(join(root, 'big-'));
    const text = `{"version":1,"savedAt":0,"data":{"bans":[{"ip":"198.18.0.9","family":4,"rule":"forbidden","at":${NOW},"until":null,"nth":1,"failures":5,"manual":false,"evidence":[{"line":"${'A'.repeat(50 << 20)}","at":${NOW}}]}],"history":[],"positions":[]}}`;
    const { daemon, ms } = await startFrom(dir, text);
    expect(ms).toBeLessThan(8000);
    const st = JSON.stringify(daemon.status());
    expect(st.length).toBeLessThan(1 << 20);
    await daemon.stop();
  }, 30_000);

  it('invalid JSON (NaN, Infinity literals, a BOM, truncation) is moved aside with a warning', async () => {
    for (const text of ['{"version":1,"data":{"bans":[{"until":NaN}]}}', '{"version":1,"data":{"bans":[],"history":[],"positions":[]},"x":Infinity}', '\ufeff{"version":1,"data":{"bans":[],"history":[],"positions":[]}}', '{"version":1,"data":{"bans":[']) {
      const dir = mkdtempSync(join(root, 'bad-'));
      const { daemon, warnings } = await startFrom(dir, text);
      await daemon.stop();
      expect(warnings.join('\n'), text).toMatch(/moved it to/);
      expect(readdirSync(dir).some((n) => n.includes('.corrupt-')), text).toBe(true);
    }
  }, 20_000);
});
