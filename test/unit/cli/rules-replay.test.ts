/**
 * `banhammer rules`, `replay --all-rules` and replay's progress (issue 13), through cli.main with a
 * captured io: the listing names every preset and the user's own rules (rules_dir) with on/off and
 * description; --all-rules replays every rule, on or not, reporting each; progress goes to stderr on
 * a terminal only, never into stdout (--json or not).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, replayProgress, type CliIo } from '../../../src/cli.js';
import { replayFile } from '../../../src/replay/replay.js';
import { loadConfig } from '../../../src/config/load.js';
import { PRESETS } from '../../../src/detect/presets.js';

let dir: string;
let log: string;
let bigLog: string;
let rulesDir: string;

function io(env: Record<string, string> = {}, tty = false) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env, hostname: 'test', stderrIsTTY: tty };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}

const line = (ip: string, sec: number, req: string, status: number, ua = 'Mozilla/5.0'): string =>
  `${ip} - - [02/Dec/2026:10:${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')} +0000] "${req}" ${status} 100 "-" "${ua}"`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-rules-'));
  rulesDir = join(dir, 'rules');
  mkdirSync(rulesDir);
  writeFileSync(
    join(rulesDir, 'secret-probe.yaml'),
    [
      'name: secret-probe',
      'description: Asks for /very-secret twice',
      'match:',
      "  paths: ['^/very-secret$']",
      'maxretry: 2',
      'findtime: 1m',
      'bantime: 1h',
      'samples:',
      `  match: ['${line('198.18.0.9', 0, 'GET /very-secret HTTP/1.1', 404)}']`,
    ].join('\n'),
  );
  writeFileSync(join(rulesDir, 'README.txt'), 'not a rule file');
  log = join(dir, 'access.log');
  const lines: string[] = [];
  for (let i = 0; i < 6; i++) lines.push(line('198.18.0.1', i, 'GET /admin HTTP/1.1', 403));
  lines.push(line('198.18.0.2', 10, 'GET /.env HTTP/1.1', 404), line('198.18.0.2', 11, 'GET /.git/config HTTP/1.1', 404));
  lines.push(line('198.18.0.3', 12, 'GET /very-secret HTTP/1.1', 404), line('198.18.0.3', 13, 'GET /very-secret HTTP/1.1', 404));
  lines.push(line('198.18.0.4', 14, 'GET / HTTP/1.1', 200));
  writeFileSync(log, `${lines.join('\n')}\n`);
  // ~6 MiB, to give progress something to report
  bigLog = join(dir, 'big.log');
  const chunk = `${Array.from({ length: 1000 }, (_, i) => line(`198.18.${(i >> 8) & 255}.${i & 255}`, i % 3600, `GET /page/${i} HTTP/1.1`, 200)).join('\n')}\n`;
  writeFileSync(bigLog, chunk.repeat(60));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('banhammer rules', () => {
  it('lists every preset and the rules of rules_dir, on/off, thresholds and descriptions', async () => {
    const t = io({ BANHAMMER_RULES_DIR: rulesDir });
    expect(await main(['rules'], t.cli)).toBe(0);
    const text = t.out();
    for (const [name, r] of Object.entries(PRESETS)) {
      const row = text.split('\n').find((l) => l.split(/\s+/)[1] === name);
      expect(row, name).toBeDefined();
      expect(row!.startsWith(r.enabled ? 'on ' : 'off'), name).toBe(true);
      expect(row).toContain(r.description.slice(0, 30));
    }
    expect(text).toMatch(/^on +secret-probe +2 in 1m -> 1h +\(yours\) Asks for \/very-secret twice$/m);
  });
  it('--json gives the same as data', async () => {
    const t = io({ BANHAMMER_RULES_DIR: rulesDir, BANHAMMER_RULES: 'sensitive-paths' });
    expect(await main(['rules', '--json'], t.cli)).toBe(0);
    const list = JSON.parse(t.out()) as { name: string; enabled: boolean; source: string; maxretry: number; findtime: number; bantime: number }[];
    expect(list.map((r) => r.name).sort()).toEqual([...Object.keys(PRESETS), 'secret-probe'].sort());
    expect(list.filter((r) => r.enabled).map((r) => r.name)).toEqual(['sensitive-paths']);
    expect(list.find((r) => r.name === 'secret-probe')).toMatchObject({ source: 'user', maxretry: 2, findtime: 60_000, bantime: 3_600_000 });
    expect(list.find((r) => r.name === 'forbidden')).toMatchObject({ source: 'preset', enabled: false });
  });
  it('a broken rule file is a configuration error naming the file (exit 2)', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'oops.yaml'), 'name: oops\ndescription: x\nmatch: { pathz: [a] }\nmaxretry: 1\nfindtime: 1m\nbantime: 1h\n');
    const t = io({ BANHAMMER_RULES_DIR: bad });
    expect(await main(['rules'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/rule file .*oops\.yaml: match: unknown key "pathz"/);
  });
});

describe('banhammer replay --all-rules', () => {
  it('replays every rule, on or not, each reported on its own', async () => {
    const t = io({ BANHAMMER_RULES_DIR: rulesDir });
    expect(await main(['replay', log, '--all-rules', '--json'], t.cli)).toBe(0);
    const r = JSON.parse(t.out()) as { rules: Record<string, { enabled: boolean; matches: number; bans: number; addresses: number }>; bans: { ip: string; rule: string }[] };
    expect(Object.keys(r.rules).sort()).toEqual([...Object.keys(PRESETS), 'secret-probe'].sort());
    expect(r.rules.forbidden).toMatchObject({ enabled: true, matches: 6, bans: 1, addresses: 1 });
    expect(r.rules['sensitive-paths']).toMatchObject({ enabled: false, matches: 2, bans: 1 });
    expect(r.rules['secret-probe']).toMatchObject({ enabled: true, matches: 2, bans: 1 });
    expect(r.bans.map((b) => `${b.rule} ${b.ip}`)).toEqual(expect.arrayContaining(['forbidden 198.18.0.1', 'sensitive-paths 198.18.0.2', 'secret-probe 198.18.0.3']));
    expect(r.bans.some((b) => b.ip === '198.18.0.4' && b.rule !== 'request-flood' && b.rule !== 'crawl-non-static')).toBe(false);
  });
  it('without it only the enabled rules run; text output marks rules that are off', async () => {
    const t = io();
    expect(await main(['replay', log, '--json'], t.cli)).toBe(0);
    const r = JSON.parse(t.out()) as { rules?: unknown; matches: Record<string, number> };
    expect(r.rules).toBeUndefined();
    expect(Object.keys(r.matches)).toEqual(Object.entries(PRESETS).filter(([, s]) => s.enabled).map(([n]) => n));
    const u = io();
    expect(await main(['replay', log, '--all-rules'], u.cli)).toBe(0);
    expect(u.out()).toMatch(/sensitive-paths .*matches 2 +bans 1 +\(off in the configuration\)/);
  });
  it('refuses --rule together with --all-rules', async () => {
    const t = io();
    expect(await main(['replay', log, '--all-rules', '--rule', 'forbidden'], t.cli)).toBe(2);
    expect(t.err()).toMatch(/--rule NAME or --all-rules, not both/);
  });
});

describe('replay progress', () => {
  it('replayFile reports bytes read up to the file size, one thread or several', async () => {
    const config = loadConfig({ env: {}, hostname: 'test' });
    for (const threads of [1, 2]) {
      const seen: [number, number][] = [];
      await replayFile(bigLog, config, { threads, onProgress: (d, t) => seen.push([d, t]) });
      expect(seen.length, `threads ${threads}`).toBeGreaterThan(0);
      const total = seen[0]![1];
      expect(total).toBeGreaterThan(5 << 20);
      for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
      // parsing from TypeScript sources runs on one thread; either way the last report reaches the end
      expect(seen[seen.length - 1]![0]).toBeGreaterThan(total * 0.4);
      expect(seen.every(([d]) => d <= total * 1.01)).toBe(true);
    }
  });
  it('the progress line: shown after half a second, at most every 250 ms, cleared at the end', () => {
    const err: string[] = [];
    let now = 0;
    const p = replayProgress({ stderr: (s) => err.push(s) }, () => now);
    p.update(1 << 20, 10 << 20);
    expect(err).toEqual([]);
    now = 600;
    p.update(2 << 20, 10 << 20);
    now = 700;
    p.update(3 << 20, 10 << 20);
    now = 900;
    p.update(5 << 20, 10 << 20);
    expect(err).toEqual(['\rreplaying:  20 %  2 of 10 MiB  1 s\x1b[K', '\rreplaying:  50 %  5 of 10 MiB  1 s\x1b[K']);
    p.done();
    expect(err[err.length - 1]).toBe('\r\x1b[K');
    const quiet: string[] = [];
    const q = replayProgress({ stderr: (s) => quiet.push(s) }, () => 0);
    q.update(1, 2);
    q.done();
    expect(quiet).toEqual([]);
  });
  it('on a terminal: on stderr, rewritten in place and cleared, never in stdout', { timeout: 60_000 }, async () => {
    const t = io({}, true);
    const start = Date.now();
    expect(await main(['replay', bigLog, '--json', '--all-rules'], t.cli)).toBe(0);
    const out = t.out();
    expect(() => JSON.parse(out)).not.toThrow();
    expect(out).not.toMatch(/replaying|\r|\x1b/);
    // Shown only after half a second; a fast machine may finish first, and then nothing is shown.
    if (Date.now() - start > 1500) expect(t.err()).toMatch(/\rreplaying: +\d+ % +\d+ of \d+ MiB/);
    if (t.err() !== '') expect(t.err().endsWith('\r\x1b[K')).toBe(true);
  });
  it('not a terminal: nothing on stderr', { timeout: 60_000 }, async () => {
    const t = io({}, false);
    expect(await main(['replay', bigLog, '--all-rules'], t.cli)).toBe(0);
    expect(t.err()).toBe('');
  });
});
