/**
 * Review H33 (differential, seeds 1002, 1027, 1038…): replay counted a ban that had ended toward the
 * pressure (the book half full: a banned IPv6 address takes its /64) when the new ban itself brought
 * the book to half. Replay's book sweeps ended bans only once the book holds half its cap, and asked
 * that before the new ban was put; the pressure is read after. The agent, whose tick sweeps every
 * second, counts only the bans in force: replay reported a /64 ban the agent never makes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
const dir = mkdtempSync(join(tmpdir(), 'bh-h33-p-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('replay: pressure counts the bans in force, the new one included', () => {
  it('cap 8: one ban ended, two in force, a third (IPv6) makes half only with the ended one: no /64 in replay, as in the agent', async () => {
    const yaml = join(dir, 'c.yaml');
    writeFileSync(yaml, 'rules:\n  exploit-probes: { bantime: 1m }\n');
    // Below loadConfig's floor of 1000 (a cap of 8 keeps the test small; the sweep's arithmetic is the same at any cap).
    const config = { ...loadConfig({ env: { BANHAMMER_CONFIG: yaml, BANHAMMER_ENFORCER: 'nftables' }, hostname: 'unit' }), maxBans: 8 };
    const lines = [
      { ip: '198.18.0.1', t: T0 }, // ends at +60 s
      { ip: '198.18.0.2', t: T0 + 100_000 },
      { ip: '198.18.0.3', t: T0 + 101_000 },
      { ip: '2001:db8:7:1::1', t: T0 + 103_000 }, // the third in force: half of 8 only with the ended one
    ];
    // The agent: its tick sweeps ended bans before each line.
    const agent: string[] = [];
    const live = new Pipeline({ config, mode: 'live', networkBans: true, onBan: (b) => agent.push(b.ip) });
    for (const l of lines) {
      live.book.expire(l.t);
      const ev = live.parse(probe(l.ip, l.t));
      if (ev) live.observe(ev, l.t);
    }
    expect(agent).toEqual(lines.map((l) => l.ip));
    const file = join(dir, 'access.log');
    writeFileSync(file, lines.map((l) => probe(l.ip, l.t)).join('\n') + '\n');
    const rep = await replayFile(file, config, { threads: 1 });
    expect(rep.bans.map((b) => b.ip)).toEqual(agent);
  });

  it('three in force and a fourth (IPv6): half of 8, the /64 is banned (the pressure itself still works in replay)', async () => {
    const yaml = join(dir, 'c2.yaml');
    writeFileSync(yaml, 'rules:\n  exploit-probes: { bantime: 1m }\n');
    const config = { ...loadConfig({ env: { BANHAMMER_CONFIG: yaml, BANHAMMER_ENFORCER: 'nftables' }, hostname: 'unit' }), maxBans: 8 };
    const ips = ['198.18.0.1', '198.18.0.2', '198.18.0.3', '2001:db8:7:1::1'];
    const file = join(dir, 'access2.log');
    writeFileSync(file, ips.map((ip, i) => probe(ip, T0 + i * 1000)).join('\n') + '\n');
    const rep = await replayFile(file, config, { threads: 1 });
    expect(rep.bans.map((b) => b.ip)).toEqual([...ips, '2001:db8:7:1::/64']);
  });
});
