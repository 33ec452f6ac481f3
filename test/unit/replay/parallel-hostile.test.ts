/**
 * Parallel replay on hostile files (review of 184b201): the report on N threads must be exactly the
 * report on one, for files built to break the span machinery (Docker json-file lines split over
 * several records across span edges, with a forged access line at the start of a continuation record;
 * CRLF; a last line without newline; an empty file; no matching line at all; 3 MiB lines; IPv6 and
 * IPv4-mapped addresses; allowlisted addresses; more than 32 rules, so rule masks take two words).
 * A file cut short while the workers read it must make the replay fail with a clear error, and no
 * replay thread may be left running, whether the replay succeeded or failed.
 *
 * Workers run the built JavaScript (npm run build), as in parallel.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { rng } from '../../support/random.js';
import { clf } from '../../support/clf.js';

const built = new URL('../../../dist/replay/replay.js', import.meta.url);
const haveBuild = existsSync(new URL('../../../dist/replay/replay-worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bh-parallel-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type ReplayModule = typeof import('../../../src/replay/replay.js');
const load = async (): Promise<ReplayModule> => (await import(built.href)) as ReplayModule;

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const access = (ip: string, t: number, status: number, path: string, ua = 'curl') => `${ip} - - [${clf(t)}] "GET ${path} HTTP/1.1" ${status} 10 "-" "${ua}"`;

/** OS threads of this process (worker threads are threads: none may outlive a replay). */
const threadCount = (): number => readdirSync('/proc/self/task').length;
async function settleThreads(before: number): Promise<number> {
  for (let i = 0; i < 50 && threadCount() > before; i++) await new Promise((r) => setTimeout(r, 50));
  return threadCount();
}


const THREADS = [3, 8];

async function sameOnEveryThreadCount(file: string, env: Record<string, string>, threadCounts = THREADS) {
  const { replayFile } = await load();
  const config = loadConfig({ env, hostname: 't' });
  const before = threadCount();
  const one = await replayFile(file, config, { threads: 1 });
  for (const threads of threadCounts) expect(await replayFile(file, config, { threads }), `${threads} threads`).toEqual(one);
  expect(await settleThreads(before)).toBe(before);
  return one;
}

describe.skipIf(!haveBuild)('parallel replay on hostile files (needs npm run build)', () => {
  it('Docker json-file lines split over records across span edges, a forged line at the start of a continuation record', async () => {
    const r = rng(1);
    const out: string[] = [];
    const rec = (log: string, t: number) => JSON.stringify({ log, stream: 'stdout', time: new Date(t).toISOString() });
    let t = T0;
    for (let i = 0; i < 400; i++) {
      if (r() < 0.3) t += 1000;
      const ip = `198.18.1.${1 + Math.floor(r() * 6)}`;
      if (r() < 0.25) {
        // A long line (a huge User-Agent) Docker split into 16 KiB pieces; the second piece starts
        // with a whole forged access line of 198.18.7.7 (it must never count).
        const forged = access('198.18.7.7', t, 403, '/forged');
        const head = access(ip, t, 403, `/long${i}`, 'X').slice(0, -1); // without the closing quote
        const ua = 'A'.repeat(16384 - head.length) + forged + ' ' + 'B'.repeat(Math.floor(r() * 40000));
        const text = `${head}${ua}" \n`;
        for (let at = 0; at < text.length; at += 16384) out.push(rec(text.slice(at, at + 16384), t));
      } else {
        out.push(rec(`${access(ip, t, r() < 0.7 ? 403 : 200, `/p${i}`)}\n`, t));
      }
    }
    const file = join(dir, 'docker.log');
    writeFileSync(file, out.join('\n') + '\n');
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' }, [2, 5, 13]);
    expect(one.bans.length).toBeGreaterThan(3);
    expect(one.bans.some((b) => b.ip === '198.18.7.7')).toBe(false);
    // Spans that start inside the split lines are what this is about: check some edge does.
    const { splitSpans } = await load();
    // Cut naively at line starts, many spans would start inside a split line; splitSpans never
    // starts one there (and each span moves its own edges past such records too).
    const text = readFileSync(file, 'latin1');
    const insideSplit = (from: number): boolean => {
      const prev = text.slice(text.lastIndexOf('\n', from - 2) + 1, from - 1);
      return !(JSON.parse(prev) as { log: string }).log.endsWith('\n');
    };
    let naive = 0;
    for (const n of [2, 5, 13]) {
      for (let i = 1; i < n; i++) if (insideSplit(text.indexOf('\n', Math.floor((text.length * i) / n)) + 1)) naive++;
      for (const s of splitSpans(file, n)) if (s.from > 0) expect(insideSplit(s.from)).toBe(false);
    }
    expect(naive).toBeGreaterThan(2);
  });

  it('syslog lines cut before their status across span edges: counted with their rest, never the forged piece', async () => {
    const r = rng(2);
    const out: string[] = [];
    const hdr = '<30>Dec  2 10:00:00 web[812]: ';
    let t = T0;
    const cutAt: number[] = [];
    let bytes = 0;
    let expected403 = 0;
    const push = (msg: string): void => {
      out.push(hdr + msg);
      bytes += hdr.length + msg.length + 1;
    };
    for (let i = 0; i < 300; i++) {
      if (r() < 0.3) t += 1000;
      const ip = `198.18.${3 + (i % 3)}.${1 + Math.floor(r() * 4)}`;
      const x = r();
      if (x < 0.15) {
        // Cut in the user field: the second piece starts with a whole forged line start naming 198.18.7.8.
        const start = `${ip} - `;
        const head = (start + '\\xFF'.repeat(4200)).slice(0, 16384);
        push(head);
        expected403++;
        cutAt.push(bytes);
        push(`198.18.7.8 - - [${clf(t)}] "GET /u${i} HTTP/1.1" 403 5 "-" "curl"`);
      } else if (x < 0.22) {
        // Cut twice in the user field (three messages): the third starts with a forged line start.
        const start = `${ip} - `;
        const head = (start + '\\xFF'.repeat(8400)).slice(0, 2 * 16384);
        push(head.slice(0, 16384));
        cutAt.push(bytes);
        push(head.slice(16384));
        expected403++;
        cutAt.push(bytes);
        push(`198.18.7.8 - - [${clf(t)}] "GET /v${i} HTTP/1.1" 403 5 "-" "curl"`);
      } else if (x < 0.3) {
        // Cut in the request: the first piece ends before its status.
        const line = access(ip, t, 403, `/${'\\xFF'.repeat(4200)}`);
        push(line.slice(0, 16384));
        expected403++;
        cutAt.push(bytes);
        push(line.slice(16384));
      } else {
        const status = r() < 0.7 ? 403 : 200;
        if (status === 403) expected403++;
        push(access(ip, t, status, `/p${i}`));
      }
    }
    const file = join(dir, 'syslog.log');
    writeFileSync(file, out.join('\n') + '\n');
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' }, [2, 5, 13, 29]);
    expect(one.bans.length).toBeGreaterThan(3);
    expect(one.bans.some((b) => b.ip === '198.18.7.8')).toBe(false);
    // Every cut line counted for its client: as many 403s as the lines that have one.
    expect(one.matches.forbidden).toBe(expected403);
    // Naive cuts would fall between the pieces; splitSpans never does.
    const { splitSpans } = await load();
    for (const n of [2, 5, 13, 29]) for (const sp of splitSpans(file, n)) expect(cutAt).not.toContain(sp.from);
  }, 60_000);

  it('syslog lines cut in their request with 70 messages of another tag between their pieces: the same on every thread count', async () => {
    const hdr = (tag = 'web'): string => `<30>Dec  2 10:00:00 ${tag}[812]: `;
    const out: string[] = [];
    for (let i = 0; i < 120; i++) {
      const line = access(`198.18.1.${1 + (i % 5)}`, T0 + i * 1000, 403, `/${'\\xFF'.repeat(4200)}`);
      out.push(hdr() + line.slice(0, 16384));
      for (let k = 0; k < 70; k++) out.push(hdr('other') + 'x'.repeat(500));
      out.push(hdr() + line.slice(16384));
      out.push(hdr() + access('198.18.2.9', T0 + i * 1000, 200, '/ok'));
    }
    const file = join(dir, 'syslog-other.log');
    writeFileSync(file, out.join('\n') + '\n');
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' }, [2, 13, 29]);
    expect(one.matches.forbidden).toBe(120);
  });

  it('one Docker line split into a thousand records (16 MiB), span edges deep inside it, forged lines at record starts', async () => {
    // Moving an edge past such a chain once read 2 MiB per record (64 MiB line, 8 threads: 15.8 s
    // against 70 ms on one thread); it is one pass over the chain now (1.9 s).
    const rec = (log: string) => JSON.stringify({ log, stream: 'stdout', time: '2026-12-02T10:00:00.000000000Z' });
    const out: string[] = [];
    for (let i = 0; i < 6; i++) out.push(rec(`${access('198.18.1.9', T0 + i * 1000, 403, `/a${i}`)}\n`));
    out.push(rec(access('198.18.1.10', T0, 403, '/huge', 'start')));
    for (let k = 0; k < 1024; k++) out.push(rec(k % 64 === 0 ? access('198.18.7.9', T0 + k, 403, '/forged') + 'Q'.repeat(16384 - 90) : 'Q'.repeat(16384)));
    out.push(rec('end"\n'));
    for (let i = 0; i < 6; i++) out.push(rec(`${access('198.18.1.11', T0 + i * 1000, 403, `/b${i}`)}\n`));
    const file = join(dir, 'chain.log');
    writeFileSync(file, out.join('\n') + '\n');
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' });
    expect(one.bans.map((b) => b.ip)).toEqual(['198.18.1.9', '198.18.1.11']);
    expect(one.lines).toBe(1038);
  });

  it('CRLF, a last line without newline, IPv6, IPv4-mapped and allowlisted addresses, junk', async () => {
    const r = rng(2);
    const ips = ['198.18.2.1', '198.18.2.2', '2001:db8::5', '2001:db8:0:0:0:0:0:6', '::ffff:198.18.2.3', '::ffff:c612:0203', '198.18.9.9', '::1', '2001:db8::ffff:1'];
    const lines: string[] = [];
    let t = T0;
    for (let i = 0; i < 3000; i++) {
      if (r() < 0.2) t += 1000;
      const x = r();
      if (x < 0.02) lines.push('\u0000\u00ff garbage ' + 'x'.repeat(Math.floor(r() * 200)));
      else if (x < 0.03) lines.push('');
      else lines.push(access(ips[Math.floor(r() * ips.length)]!, t - (r() < 0.1 ? 20_000 : 0), r() < 0.8 ? 403 : 404, `/q${Math.floor(r() * 50)}`));
    }
    const file = join(dir, 'crlf.log');
    writeFileSync(file, lines.join('\r\n')); // no newline after the last line
    const env = { BANHAMMER_RULES: 'forbidden,not-found,crawl-non-static', BANHAMMER_IGNOREIP: '198.18.9.0/24', BANHAMMER_RULE_CRAWL_NON_STATIC_MAXRETRY: '6' };
    const one = await sameOnEveryThreadCount(file, env);
    expect(one.lines).toBe(3000);
    expect(one.bans.some((b) => b.ip.includes(':'))).toBe(true);
    expect(one.bans.some((b) => b.ip === '198.18.9.9' || b.ip === '::1')).toBe(false);
  });

  it('the last line (no newline) is the one that makes a ban', async () => {
    const file = join(dir, 'last.log');
    const lines = Array.from({ length: 5 }, (_, i) => access('198.18.3.1', T0 + i * 1000, 403, `/l${i}`));
    writeFileSync(file, 'x\n'.repeat(5000) + lines.join('\n'));
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' });
    expect(one.bans.map((b) => b.ip)).toEqual(['198.18.3.1']);
  });

  it('an empty file, a file of newlines, a file with no matching line', async () => {
    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    const e = await sameOnEveryThreadCount(empty, { BANHAMMER_RULES: 'forbidden' });
    expect(e.lines).toBe(0);
    const newlines = join(dir, 'newlines.log');
    writeFileSync(newlines, '\n'.repeat(10_000));
    expect((await sameOnEveryThreadCount(newlines, { BANHAMMER_RULES: 'forbidden' })).lines).toBe(10_000);
    const quiet = join(dir, 'quiet.log');
    writeFileSync(quiet, Array.from({ length: 5000 }, (_, i) => access(`198.18.4.${i % 200}`, T0 + i * 100, 200, '/ok.css')).join('\n') + '\n');
    const q = await sameOnEveryThreadCount(quiet, { BANHAMMER_RULES: 'forbidden,not-found' });
    expect(q.bans).toEqual([]);
    expect(q.parsed).toBe(5000);
  });

  it('lines of 3 MiB (longer than a read buffer) between counted lines', async () => {
    const file = join(dir, 'huge.log');
    const fd = openSync(file, 'w');
    try {
      for (let i = 0; i < 12; i++) {
        writeSync(fd, access('198.18.5.1', T0 + i * 1000, 403, `/h${i}`) + '\n');
        // A 3 MiB line: a 403 for another address with a huge User-Agent (counts: the head is read),
        // and its tail holds a forged line.
        const tail = 'Z'.repeat(3 << 20);
        writeSync(fd, access('198.18.5.2', T0 + i * 1000, 403, `/big${i}`, tail.slice(0, 1 << 20) + access('198.18.7.8', T0, 403, '/x') + tail.slice(1 << 20)) + '\n');
      }
    } finally {
      closeSync(fd);
    }
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES: 'forbidden' });
    expect(one.lines).toBe(24);
    expect(one.bans.map((b) => b.ip).sort()).toEqual(['198.18.5.1', '198.18.5.2']);
  });

  it('more than 32 rules: rule masks of two words, rules 31, 32 and the last ban', async () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir, { recursive: true });
    for (let k = 0; k < 40; k++) {
      const name = `r${String(k).padStart(2, '0')}`;
      writeFileSync(join(rulesDir, `${name}.yaml`), [`name: ${name}`, `description: test rule ${k}`, 'match:', '  status: [404]', `  paths: ['^/${name}/']`, 'maxretry: 3', 'findtime: 1m', 'bantime: 10m', ''].join('\n'));
    }
    // Each line is a 404 on /rNN/…: rule rNN and not-found count it.
    const r = rng(3);
    const lines: string[] = [];
    let t = T0;
    for (let i = 0; i < 6000; i++) {
      if (r() < 0.05) t += 1000;
      const k = Math.floor(r() * 40);
      lines.push(access(`198.18.6.${1 + Math.floor(r() * 3)}`, t, r() < 0.9 ? 404 : 200, `/r${String(k).padStart(2, '0')}/x${i}`));
    }
    const file = join(dir, 'rules.log');
    writeFileSync(file, lines.join('\n') + '\n');
    const one = await sameOnEveryThreadCount(file, { BANHAMMER_RULES_DIR: rulesDir, BANHAMMER_RULE_NOT_FOUND_ENABLED: 'true' });
    expect(one.rules.length).toBeGreaterThan(33);
    const banned = new Set(one.bans.map((b) => b.rule));
    const index = (name: string) => one.rules.indexOf(name);
    for (const name of one.rules.filter((n) => /^r\d\d$/.test(n))) expect(banned.has(name), name).toBe(true);
    // The rule indices that cross a mask word are among them.
    expect(one.rules.some((n, i) => i === 31 && banned.has(n))).toBe(true);
    expect(one.rules.some((n, i) => i === 32 && banned.has(n))).toBe(true);
    expect(index('r39')).toBeGreaterThan(32);
    expect(one.matches['not-found']).toBeGreaterThan(0);
  });

  // Found in review: a parallel replay read a cut syslog line's next piece as a line when the cut was
  // far before a span edge. Pieces are now refused by what they are (a request field that starts
  // with a space), whatever comes between them: one thread and several agree at any gap.
  it('the pieces of cut syslog lines, however far apart, with span edges between: partial on any number of threads, never a ban', async () => {
    const T = clf(T0);
    const PIECE = 16 * 1024;
    const out: string[] = [];
    for (let k = 0; k < 5; k++) {
      const start = `198.18.1.${k} - - [${T}] "GET /a HTTP/1.1" 403 5 "`;
      const line = `${start}${'r'.repeat(PIECE - start.length)}198.18.9.9 - - [${T}] " " 403 5"`;
      out.push(`<30>Dec  2 10:00:0${k} web0[812]: ${line.slice(0, PIECE)}`);
      for (let i = 0; i < 10_000; i++) out.push(`<30>Dec  2 10:00:0${k} other[9]: 198.18.3.${i % 50} - - [${T}] "GET /b HTTP/1.1" 200 5 "-" "x"`);
      out.push(`<30>Dec  2 10:00:0${k} web0[812]: ${line.slice(PIECE)}`);
    }
    const file = join(dir, 'syslog-far-cut.log');
    writeFileSync(file, out.join('\n') + '\n');
    const { replayFile } = await load();
    const config = loadConfig({ env: {}, hostname: 't' });
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.skipReasons.partial).toBe(5);
    expect(one.bans.some((b) => b.ip === '198.18.9.9')).toBe(false);
    for (const threads of [3, 8, 13]) expect(await replayFile(file, config, { threads }), `${threads} threads`).toEqual(one);
  });

  it('an absurd thread count (NaN, Infinity, 0, -3) is clamped: same report, no hang', async () => {
    const { replayFile } = await load();
    const file = join(dir, 'threads.log');
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => access(`198.18.3.${i % 7}`, T0 + i * 1000, 403, `/t${i}`)).join('\n') + '\n');
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 't' });
    const before = threadCount();
    const one = await replayFile(file, config, { threads: 1 });
    expect(one.bans.length).toBeGreaterThan(0);
    for (const threads of [Number.NaN, Number.POSITIVE_INFINITY, 0, -3]) expect(await replayFile(file, config, { threads }), String(threads)).toEqual(one);
    expect(await settleThreads(before)).toBe(before);
  });

  it('a file cut short while the workers read it: the replay fails with a clear error and leaves no thread', async () => {
    const { replayFile } = await load();
    const file = join(dir, 'shrinks.log');
    // 24 MiB: at least six spans of 4 MiB, four in flight on two threads at the start.
    const block = Array.from({ length: 1000 }, (_, i) => access(`198.18.8.${i % 250}`, T0 + i * 1000, i % 3 === 0 ? 403 : 200, `/s${i}`)).join('\n') + '\n';
    const fd = openSync(file, 'w');
    try {
      const buf = Buffer.from(block);
      for (let n = 0; n * buf.length < 24 << 20; n++) writeSync(fd, buf);
    } finally {
      closeSync(fd);
    }
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 't' });
    const before = threadCount();
    let cut = false;
    const run = replayFile(file, config, {
      threads: 2,
      onProgress: () => {
        if (!cut) truncateSync(file, 1 << 20);
        cut = true;
      },
    });
    await expect(run).rejects.toThrow(/cannot read .*shrank while it was replayed/);
    expect(cut).toBe(true);
    expect(await settleThreads(before)).toBe(before);
  });

  it('a file removed while the workers read it: the replay fails naming the file, and leaves no thread', async () => {
    const { replayFile } = await load();
    const file = join(dir, 'removed.log');
    const block = Buffer.from(Array.from({ length: 1000 }, (_, i) => access(`198.18.8.${i % 250}`, T0 + i * 1000, 200, `/s${i}`)).join('\n') + '\n');
    const fd = openSync(file, 'w');
    try {
      for (let n = 0; n * block.length < 24 << 20; n++) writeSync(fd, block);
    } finally {
      closeSync(fd);
    }
    const config = loadConfig({ env: { BANHAMMER_RULES: 'forbidden' }, hostname: 't' });
    const before = threadCount();
    let removed = false;
    const run = replayFile(file, config, {
      threads: 2,
      onProgress: () => {
        if (!removed) rmSync(file);
        removed = true;
      },
    });
    await expect(run).rejects.toThrow(/cannot read .*removed\.log.*(ENOENT|no such file)/);
    expect(await settleThreads(before)).toBe(before);
  });
});
