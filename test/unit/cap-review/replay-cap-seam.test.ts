/**
 * Review H27, seam agent vs replay: the live agent sweeps ended bans every second (Daemon's expire
 * tick), so the ban book's cap (BANHAMMER_MAX_BANS) and its pressure (half the cap: a banned IPv6
 * address takes its /64) count the bans in force. `banhammer replay` never called expire(): every
 * ban of a long log stayed in the book, so a log with more distinct offenders than the cap, never
 * more than one banned at a time, had its later offenders refused, and from half the cap on every
 * IPv6 ban took its /64, where the agent reading the same lines would have done neither.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Ban } from '../../../src/decide/ban-book.js';

const H = 3600_000;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const clf = (ms: number): string => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
};
// exploit-probes: one request, one ban of a day.
const probe = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1" 404 10 "-" "curl"`;
const v4 = (i: number) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function logFile(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h27-'));
  dirs.push(dir);
  const file = join(dir, 'access.log');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The live agent's view of the same lines: each at its own time, the book swept as the daemon's 1 s tick sweeps it. */
function live(env: Record<string, string>, lines: { line: string; at: number }[]): Ban[] {
  const bans: Ban[] = [];
  const p = new Pipeline({ config: loadConfig({ env, hostname: 'unit' }), mode: 'live', networkBans: true, onBan: (b) => bans.push(b) });
  for (const { line, at } of lines) {
    p.book.expire(at);
    const ev = p.parse(line);
    if (ev) p.observe(ev, at);
  }
  return bans;
}

describe('replay and the ban book cap (seam with the live agent)', () => {
  it('a long log with more distinct offenders than BANHAMMER_MAX_BANS, one banned at a time, bans every one, as the agent does', async () => {
    const env = { BANHAMMER_MAX_BANS: '1000', BANHAMMER_ENFORCER: 'nftables' };
    // 1,200 offenders, one every 25 hours: each ban (a day) has ended before the next is made.
    const lines = Array.from({ length: 1200 }, (_, i) => ({ line: probe(v4(i), T0 + i * 25 * H), at: T0 + i * 25 * H }));
    const agent = live(env, lines);
    expect(agent).toHaveLength(1200);
    const replayed = await replayFile(logFile(lines.map((l) => l.line)), loadConfig({ env, hostname: 'unit' }), { threads: 1 });
    expect(replayed.bans.map((b) => b.ip)).toEqual(agent.map((b) => b.ip));
  });

  it('ended bans do not put replay under pressure: an IPv6 ban after 600 ended ones takes no /64, as in the agent', async () => {
    const env = { BANHAMMER_MAX_BANS: '1000', BANHAMMER_ENFORCER: 'nftables' };
    const lines = Array.from({ length: 600 }, (_, i) => ({ line: probe(v4(i), T0 + i * 25 * H), at: T0 + i * 25 * H }));
    const t = T0 + 600 * 25 * H;
    lines.push({ line: probe('2001:db8:7:1::1', t), at: t });
    const agent = live(env, lines);
    expect(agent.filter((b) => b.ip.includes('/'))).toEqual([]);
    const replayed = await replayFile(logFile(lines.map((l) => l.line)), loadConfig({ env, hostname: 'unit' }), { threads: 1 });
    expect(replayed.bans.filter((b) => b.ip.includes('/')).map((b) => b.ip)).toEqual([]);
    expect(replayed.bans).toHaveLength(601);
  });

  it('bans in force still count in replay: 1,200 offenders within the same day stop at the cap, as in the agent', async () => {
    const env = { BANHAMMER_MAX_BANS: '1000', BANHAMMER_ENFORCER: 'nftables' };
    const lines = Array.from({ length: 1200 }, (_, i) => ({ line: probe(v4(i), T0 + i * 1000), at: T0 + i * 1000 }));
    const agent = live(env, lines);
    expect(agent).toHaveLength(1000);
    const replayed = await replayFile(logFile(lines.map((l) => l.line)), loadConfig({ env, hostname: 'unit' }), { threads: 1 });
    expect(replayed.bans.map((b) => b.ip)).toEqual(agent.map((b) => b.ip));
  });
});
