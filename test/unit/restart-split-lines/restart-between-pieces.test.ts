/**
 * A restart between two pieces of a split line (left open by review H54, closed here). Docker's
 * json-file driver writes a line longer than 16 KiB as several records, its syslog driver as several
 * messages; the parser holds the first pieces until the rest comes (line-parser.ts). The agent saves
 * its read position past the last whole line of the file, which may be a first piece. A restarted
 * agent read on from there with a new parser, so the rest was read alone: when the client wrote the
 * start of a line at the cut (its user field padded past 16 KiB), the rest named any address it
 * liked and counted for it: a ban of an innocent (`exploit-probes`, on by default, bans at one line).
 *
 * Now the source hands the parser the last lines before a saved position when it reads on from it
 * (LineParser.resume): a Docker stream left inside a split line skips that line's rest, and a cut
 * syslog line waits for its rest again. Each test runs the same scenario through a real daemon and a
 * real tailer, stopped and started again on one state store, and first shows what happens when the
 * lines before the position are not handed over (the defect), so that it cannot pass vacuously.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { createTailer } from '../../../src/source/tailer.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { Store, NOW } from '../seams-variants/harness.js';
import { clf } from '../../support/clf.js';

const PIECE = 16 * 1024;
const dirs: string[] = [];
const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const pieces = (text: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += PIECE) out.push(text.slice(i, i + PIECE));
  return out;
};
const record = (log: string, stream = 'stdout'): string => JSON.stringify({ log, stream, time: new Date(NOW).toISOString() });
const syslog = (msg: string): string => `<30>Dec  7 10:00:00 web[812]: ${msg}`;
const plain = (ip: string): string => `${ip} - - [${clf(NOW)}] "GET /private HTTP/1.1" 403 5 "-" "curl/8"`;

/** The attacker's line: its user field (nginx escapes a byte as \xHH) padded so that the cut falls right before a line naming `victim`. */
function attackInUser(client: string, victim: string): string {
  const start = `${client} - `;
  const head = (start + '\\xFF'.repeat(Math.ceil((PIECE - start.length) / 4))).slice(0, PIECE);
  return `${head}${victim} - - [${clf(NOW)}] "GET /private HTTP/1.1" 403 5 "-" "curl"`;
}

const logger = { debug() {}, error() {}, info() {}, warn() {} };
const ENV = { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: '1h' };

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs an agent over `file` until `firstSentinel` is banned (the lines before it, and `before`, are
 * read), stops it, appends `after`, starts a second agent on the same state and waits for
 * `secondSentinel`'s ban. `handOver`: whether the source's onResume reaches the daemon (false: the
 * defect as it was). Returns the addresses the second agent banned (not those it restored).
 */
async function restartBetween(file: string, before: string[], after: string[], sentinels: [string, string], handOver = true): Promise<string[]> {
  const store = new Store();
  const make = (enforcer: RecordingEnforcer): Daemon => {
    const config = loadConfig({ env: { ...ENV, BANHAMMER_LOG_PATH: file }, hostname: 'unit' });
    const createSource: LineSourceFactory = (o) => {
      const { onResume, ...rest } = o;
      return createTailer({ ...rest, ...(handOver && onResume !== undefined ? { onResume } : {}), pollIntervalMs: 20, watchDir: null });
    };
    const d = new Daemon({ config, clock: new ManualClock(NOW), logger, enforcer, store, createSource, hostAddresses: [] });
    running.push(d);
    return d;
  };
  const e1 = new RecordingEnforcer();
  const a = make(e1);
  await a.start();
  appendFileSync(file, before.map((l) => `${l}\n`).join(''));
  await until('the first agent to read', () => e1.held.has(sentinels[0]));
  const first = new Set(e1.held.keys());
  await a.stop();
  running.splice(running.indexOf(a), 1);
  appendFileSync(file, after.map((l) => `${l}\n`).join(''));
  const e2 = new RecordingEnforcer();
  const b = make(e2);
  await b.start();
  await until('the second agent to read', () => e2.held.has(sentinels[1]));
  // The first agent's bans, restored from the state, are not the second's own.
  return [...e2.held.keys()].filter((k) => !first.has(k)).sort();
}

function tempLog(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bh-restart-split-'));
  dirs.push(dir);
  const file = join(dir, 'access.log');
  writeFileSync(file, '');
  return file;
}

describe('a restart between two pieces of a split line', () => {
  it('Docker json-file: the rest of the line is never read as a line of its own', async () => {
    const ps = pieces(`${attackInUser('198.18.0.43', '198.18.7.10')}\n`).map((p) => record(p));
    expect(ps.length).toBe(2);
    const before = [record(`${plain('198.18.9.1')}\n`), ps[0]!];
    const after = [ps[1]!, record(`${plain('198.18.9.2')}\n`)];
    // The defect: the rest, read alone, names the victim.
    expect(await restartBetween(tempLog(), before, after, ['198.18.9.1', '198.18.9.2'], false)).toContain('198.18.7.10');
    const banned = await restartBetween(tempLog(), before, after, ['198.18.9.1', '198.18.9.2']);
    expect(banned).not.toContain('198.18.7.10');
    expect(banned).toEqual(['198.18.9.2']);
  });

  it('Docker json-file: a stderr record between the pieces, and a stderr line split the same way', async () => {
    const out = pieces(`${attackInUser('198.18.0.45', '198.18.7.12')}\n`).map((p) => record(p, 'stdout'));
    const err = pieces(`${attackInUser('198.18.0.46', '198.18.7.13')}\n`).map((p) => record(p, 'stderr'));
    const before = [record(`${plain('198.18.9.5')}\n`), out[0]!, record('AH00558: apache2: could not reliably determine\n', 'stderr'), err[0]!];
    // Each stream's pieces come one after another in that stream (Docker copies a stream in order).
    const after = [err[1]!, out[1]!, record(`${plain('198.18.9.6')}\n`, 'stderr'), record(`${plain('198.18.9.7')}\n`)];
    const banned = await restartBetween(tempLog(), before, after, ['198.18.9.5', '198.18.9.7']);
    expect(banned).toEqual(['198.18.9.6', '198.18.9.7']);
  });

  it('syslog (Docker syslog driver): the cut line waits for its rest again, and counts for its client', async () => {
    const ps = pieces(attackInUser('198.18.0.44', '198.18.7.11')).map(syslog);
    const before = [syslog(plain('198.18.9.3')), ps[0]!];
    const after = [ps[1]!, syslog(plain('198.18.9.4'))];
    expect(await restartBetween(tempLog(), before, after, ['198.18.9.3', '198.18.9.4'], false)).toContain('198.18.7.11');
    const banned = await restartBetween(tempLog(), before, after, ['198.18.9.3', '198.18.9.4']);
    expect(banned).toEqual(['198.18.0.44', '198.18.9.4']);
  });

  it('a restart at a line boundary loses nothing: the lines after the position count as before', async () => {
    const before = [record(`${plain('198.18.9.8')}\n`), syslog(plain('198.18.9.9'))];
    const after = [record(`${plain('198.18.9.10')}\n`), plain('198.18.9.11'), syslog(plain('198.18.9.12'))];
    const banned = await restartBetween(tempLog(), before, after, ['198.18.9.9', '198.18.9.12']);
    expect(banned).toEqual(['198.18.9.10', '198.18.9.11', '198.18.9.12']);
  });
});

describe('a first start at the end of a log whose last line is a first piece', () => {
  it('Docker json-file: the rest written after the start is never read as a line of its own', async () => {
    for (const handOver of [false, true]) {
      const file = tempLog();
      const ps = pieces(`${attackInUser('198.18.0.50', '198.18.7.30')}\n`).map((p) => record(p));
      writeFileSync(file, [record(`${plain('198.18.9.40')}\n`), ps[0]!].map((l) => `${l}\n`).join(''));
      const e = new RecordingEnforcer();
      const config = loadConfig({ env: { ...ENV, BANHAMMER_LOG_PATH: file }, hostname: 'unit' });
      const createSource: LineSourceFactory = (o) => {
        const { onResume, ...rest } = o;
        return createTailer({ ...rest, ...(handOver && onResume !== undefined ? { onResume } : {}), pollIntervalMs: 20, watchDir: null });
      };
      const d = new Daemon({ config, clock: new ManualClock(NOW), logger, enforcer: e, store: new Store(), createSource, hostAddresses: [] });
      running.push(d);
      await d.start();
      appendFileSync(file, [ps[1]!, record(`${plain('198.18.9.41')}\n`)].map((l) => `${l}\n`).join(''));
      await until('the agent to read', () => e.held.has('198.18.9.41'));
      // Started at the end: the line before the start is not read, and (handed over) neither is the rest.
      expect({ handOver, banned: [...e.held.keys()].sort() }).toEqual({ handOver, banned: handOver ? ['198.18.9.41'] : ['198.18.7.30', '198.18.9.41'] });
      await d.stop();
      running.splice(running.indexOf(d), 1);
    }
  });
});

describe('LineParser.resume', () => {
  const victim = '198.18.7.20';
  const ps = pieces(`${attackInUser('198.18.0.47', victim)}\n`).map((p) => record(p));

  it('judges a Docker stream by its last record: a window that starts inside a long split line leaves nothing of it to complete', () => {
    // Four pieces; the window before the saved position holds only the two middle ones.
    const long = pieces(`198.18.0.48 - ${'\\xFF'.repeat(PIECE)}${attackInUser('198.18.0.49', victim).slice(0)}\n`).map((p) => record(p));
    expect(long.length).toBeGreaterThanOrEqual(3);
    const p = createLineParser('auto');
    p.resume(long.slice(1, -1), '/f');
    const outs = [long.at(-1)!, record(`${plain('198.18.9.30')}\n`)].map((l) => p(l, '/f'));
    expect(outs[0]).toBe('partial');
    expect(isSkip(outs[1]!) ? outs[1] : outs[1]!.ip).toBe('198.18.9.30');
  });

  it('is per file: another file`s stream is not touched', () => {
    const p = createLineParser('auto');
    p.resume([ps[0]!], '/a');
    const other = p(record(`${plain('198.18.9.31')}\n`), '/b');
    expect(isSkip(other) ? other : other.ip).toBe('198.18.9.31');
    expect(p(ps[1]!, '/a')).toBe('partial');
  });

  it('a last record that ends its line leaves the stream free: the next record is a line', () => {
    const p = createLineParser('auto');
    p.resume([ps[0]!, ps[1]!], '/a');
    const next = p(record(`${plain('198.18.9.32')}\n`), '/a');
    expect(isSkip(next) ? next : next.ip).toBe('198.18.9.32');
  });
});
