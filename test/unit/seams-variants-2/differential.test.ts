/**
 * Issue 10 audit, round 2 (differential): seeded random logs through every road must give the same
 * bans (ip, rule, at, until, failures) and the same evidence: replay on 1, 2 and 3 threads (built
 * code), replay --explain, the live Pipeline with a clock at each line's time, and a real Daemon
 * (manual clock, recording enforcer).
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { replayFile as srcReplay } from '../../../src/replay/replay.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { agent, cleanup, settle } from '../seams-variants/harness.js';
import { cleanupTmp, genLog, T0, writeLog, writeYaml } from './gen.js';

afterAll(cleanupTmp);
afterAll(cleanup);
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));
type B = { ip: string; rule: string; at: number; until: number | null; failures: number; evidence?: readonly { at: number; line: string }[] };
const key = (b: B) => `${b.ip} ${b.rule} ${b.at} ${b.until} ${b.failures}`;
const withEvidence = (b: B) => `${key(b)} ${JSON.stringify((b.evidence ?? []).map((e) => [e.at, e.line]))}`;

function live(config: ReturnType<typeof loadConfig>, lines: readonly string[], withEv: boolean): string[] {
  const out: string[] = [];
  const p = new Pipeline({ config, mode: 'live', onBan: (b) => out.push(withEv ? withEvidence(b as B) : key(b as B)) });
  for (const l of lines) {
    const ev = p.parse(l);
    if (ev !== null) p.observe(ev, ev.time, undefined, undefined, l);
  }
  return out;
}

describe('differential: replay threads, --explain, live pipeline', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: lines up to 4 s out of order, every road gives the same bans and evidence`, async () => {
      const config = loadConfig({ env: { BANHAMMER_CONFIG: writeYaml() }, hostname: 'h4' });
      const { lines } = genLog({ seed, lines: 3000, skewMs: 4000 });
      const f = writeLog(lines);
      const one = await srcReplay(f, config, { threads: 1 });
      expect(one.bans.length).toBeGreaterThan(50);
      expect(new Set(one.bans.map((b) => b.rule)).size).toBeGreaterThanOrEqual(6);
      expect(one.bans.some((b) => b.ip.includes(':'))).toBe(true);
      expect(one.bans.some((b) => b.ip.startsWith('198.18.9.') || b.ip.startsWith('2001:db8:99:') || b.ip === '198.18.100.1')).toBe(false);
      const base = one.bans.map(key);
      if (haveBuild) {
        const dist = (await import(new URL('../../../dist/replay/replay.js', import.meta.url).href)) as typeof import('../../../src/replay/replay.js');
        for (const threads of [1, 2, 3]) expect((await dist.replayFile(f, config, { threads })).bans.map(key)).toEqual(base);
      }
      const explained = await srcReplay(f, config, { explain: true });
      expect(explained.bans.map(key)).toEqual(base);
      expect(live(config, lines, true)).toEqual(explained.bans.map((b) => withEvidence(b as B)));
    });
  }
});

describe('differential: replay vs a real Daemon (manual clock at each line time)', () => {
  for (const [seed, extra] of [[11, {}], [12, {}], [13, { BANHAMMER_MAX_TRACKED: '3' }]] as const) {
    it(`seed ${seed}: in-order log ${JSON.stringify(extra)}, the daemon's logged bans equal replay's`, async () => {
      const yaml = writeYaml();
      const env = { BANHAMMER_CONFIG: yaml, ...extra };
      const config = loadConfig({ env, hostname: 'unit' });
      const { lines, times } = genLog({ seed, lines: 1500 });
      const rep = await srcReplay(writeLog(lines), config, { threads: 1 });
      const d = agent({ env, clock: new ManualClock(T0 - 1000) });
      await d.daemon.start();
      for (let i = 0; i < lines.length; i++) {
        const t = Math.floor(times[i]! / 1000) * 1000;
        if (t > d.clock.now()) d.clock.advance(t - d.clock.now());
        d.emit(lines[i]!);
        await settle();
      }
      const bans = d.infos.filter((x) => x.msg === 'ban').map((x) => `${x.obj.ip} ${x.obj.rule} ${x.obj.until} ${x.obj.failures}`);
      await d.daemon.stop();
      expect(bans.length).toBeGreaterThan(30);
      expect(bans).toEqual(rep.bans.map((b) => `${b.ip} ${b.rule} ${b.until === null ? 'permanent' : new Date(b.until).toISOString()} ${b.failures}`));
    }, 60_000);
  }
});

describe('differential host mode: replay of each container log vs the daemon fed both, interleaved', () => {
  it('json-file logs of two containers, out of order by up to 2 s: the same scoped bans', async () => {
    const { A, B, jsonLine } = await import('../seams-variants/harness.js');
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { prng } = await import('./gen.js');
    const r = prng(77);
    const d = agent({ host: true, env: { BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true', BANHAMMER_BANTIME: '3m' }, clock: new ManualClock(T0 - 1000) });
    const root = d.root!;
    const per: Record<string, string[]> = { [A]: [], [B]: [] };
    const feed: { id: string; line: string; t: number }[] = [];
    let t = T0;
    for (let i = 0; i < 1500; i++) {
      t += Math.floor(r() * 3000);
      const id = r() < 0.5 ? A : B;
      const ip = `198.18.${Math.floor(r() * 2)}.${1 + Math.floor(r() * 6)}`;
      const stamp = Math.floor((t - (r() < 0.2 ? Math.floor(r() * 2000) : 0)) / 1000) * 1000;
      const l = jsonLine(ip, stamp, r() < 0.5 ? '/private' : r() < 0.5 ? '/.env' : '/ok');
      per[id]!.push(l);
      feed.push({ id, line: l, t });
    }
    for (const id of [A, B]) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, `${id}-json.log`), `${per[id]!.join('\n')}\n`);
    }
    const config = d.mk({ BANHAMMER_RULE_SENSITIVE_PATHS_ENABLED: 'true', BANHAMMER_BANTIME: '3m' });
    const replayed: string[] = [];
    for (const id of [A, B]) {
      const rep = await srcReplay(join(root, id, `${id}-json.log`), config, { threads: 1 });
      for (const b of rep.bans) replayed.push(`${b.ip} ${b.rule} ${b.container} ${b.failures}`);
    }
    await d.daemon.start();
    for (const f of feed) {
      const at = Math.floor(f.t / 1000) * 1000;
      if (at > d.clock.now()) d.clock.advance(at - d.clock.now());
      d.emit(f.line, f.id);
      await settle();
    }
    const live = d.infos.filter((x) => x.msg === 'ban').map((x) => `${x.obj.ip} ${x.obj.rule} ${x.obj.container} ${x.obj.failures}`);
    await d.daemon.stop();
    expect(replayed.length).toBeGreaterThan(20);
    expect(live.sort()).toEqual(replayed.sort());
  }, 60_000);
});
