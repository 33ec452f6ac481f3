/**
 * Parse-stage speed: ns/line for createLineParser ('auto' and 'apache-combined') against one regex per
 * line, the floor a minimal "split lines + one regex" loop pays. Lines are generated in memory
 * (bounded: LINES, default 500k), realistic in shape: a few thousand clients (some IPv6), time moving
 * one second every ~40 lines, mixed statuses, query strings, browser User-Agents.
 *
 *   npm run bench:parse -- [lines]   (or: npx tsx bench/parse-speed.ts [lines])
 *
 * Each contender runs ROUNDS times over the same lines, interleaved; the best round is reported, since
 * the machine is shared. A checksum over the results keeps the work from being optimised away and
 * shows both sides read the same statuses.
 */
import { createLineParser } from '../src/parse/line-parser.js';

const LINES = Math.min(Math.max(Number(process.argv[2] ?? 500_000) || 500_000, 1000), 2_000_000);
const ROUNDS = 5;

/** Deterministic PRNG (mulberry32) so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(n: number): string[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const clients: string[] = [];
  for (let i = 0; i < 3000; i++) {
    clients.push(
      i % 10 === 9
        ? `2001:db8:${((i * 7919) % 65536).toString(16)}::${(i % 4096).toString(16)}`
        : `198.${18 + (i & 1)}.${(i >> 1) & 255}.${(i * 37) % 254 + 1}`,
    );
  }
  const paths = ['/', '/index.php', '/wp-login.php', '/static/app.3f9a1c.js', '/api/v1/items?page=2&sort=desc', '/admin/', '/.env', '/images/logo.png', '/search?q=banhammer+403'];
  const statuses = [200, 200, 200, 200, 304, 301, 404, 403, 403, 500];
  const methods = ['GET', 'GET', 'GET', 'POST', 'HEAD'];
  const uas = [
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'curl/8.5.0',
    'python-requests/2.32.3',
  ];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (x: number) => String(x).padStart(2, '0');
  const t0 = Date.UTC(2026, 9, 10, 13, 0, 0);
  const out: string[] = [];
  let attacker = clients[0]!;
  for (let i = 0; i < n; i++) {
    const d = new Date(t0 + Math.floor(i / 40) * 1000);
    const ts = `${pad(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    if (i % 5000 === 0) attacker = pick(clients);
    const flood = r() < 0.3;
    const ip = flood ? attacker : pick(clients);
    const status = flood ? 403 : pick(statuses);
    const bytes = Math.floor(r() * 50_000);
    out.push(`${ip} - - [${ts}] "${pick(methods)} ${pick(paths)} HTTP/1.1" ${status} ${bytes} "https://example.org/" "${pick(uas)}"`);
  }
  // Like a real reader: one big text split into lines (flat strings, not template-literal cons trees).
  return out.join('\n').split('\n');
}

const RE = /^(\S+) \S+ \S+ \[([^\]]+)\] "([^"]*)" (\d{3}) /;

function runRegex(lines: readonly string[]): number {
  let sum = 0;
  for (let i = 0; i < lines.length; i++) {
    const m = RE.exec(lines[i]!);
    if (m !== null) sum += Number(m[4]);
  }
  return sum;
}

function runParser(lines: readonly string[], parse: ReturnType<typeof createLineParser>): number {
  let sum = 0;
  for (let i = 0; i < lines.length; i++) {
    const o = parse(lines[i]!);
    if (typeof o !== 'string') sum += o.status;
  }
  return sum;
}

function time(fn: () => number): { ns: number; sum: number } {
  const t = process.hrtime.bigint();
  const sum = fn();
  return { ns: Number(process.hrtime.bigint() - t), sum };
}

const lines = generate(LINES);
const contenders: Record<string, () => number> = {
  'regex (one per line)': () => runRegex(lines),
  "createLineParser('auto')": () => runParser(lines, createLineParser('auto')),
  "createLineParser('apache-combined')": () => runParser(lines, createLineParser('apache-combined')),
};
const best: Record<string, number> = {};
const sums: Record<string, number> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(contenders)) {
    const { ns, sum } = time(fn);
    best[name] = Math.min(best[name] ?? Infinity, ns / lines.length);
    sums[name] = sum;
  }
}
console.log(`${lines.length} lines, best of ${ROUNDS} rounds (node ${process.version})`);
for (const name of Object.keys(contenders)) {
  console.log(`${name.padEnd(38)} ${best[name]!.toFixed(1).padStart(7)} ns/line  ${(1e3 / best[name]!).toFixed(2)} M lines/s  checksum ${sums[name]}`);
}
const ratio = best['regex (one per line)']! / best["createLineParser('auto')"]!;
console.log(`auto parser speed relative to the regex: ${(ratio * 100).toFixed(0)} %`);
