/**
 * The live cost per line of hostile lines, against ordinary lines of the same length: every field a
 * client writes (target path and query, method, Basic-auth user, Host, referer, User-Agent,
 * X-Forwarded-For), in every layout the `auto` parser reads (Apache combined, vhost_combined, the
 * host layout, nginx main with a trailing X-Forwarded-For, a first-field X-Forwarded-For list, and
 * each of those wrapped by Docker json-file and by syslog), through the live Pipeline with the
 * default rules and with every preset on, as bench/per-line-cost.ts builds it.
 *
 * Every line of a case is distinct (a counter in the hostile field and another client address), so
 * that no memo answers for an earlier line and no line comes from a client already banned; the cost
 * is the best of ROUNDS rounds of the case's lines, interleaved with its ordinary twin (the same
 * field filled with plain letters, same length).
 *
 * `npx tsx bench/hostile-line-cost.ts [SIZES=8192,65536] [ROUNDS=3] [FILTER]` prints a table:
 * case, µs per line, ratio to the ordinary line of the same layout, field and length.
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { PRESET_NAMES } from '../src/detect/presets.js';
import { Pipeline } from '../src/pipeline/pipeline.js';

export type Field = 'path' | 'query' | 'method' | 'user' | 'host' | 'referer' | 'ua' | 'xff' | 'xff-first';
export type Layout = 'combined' | 'vhost' | 'host' | 'nginx-main' | 'xff-first';
export type Wrapper = 'none' | 'docker' | 'syslog';

/** The fields each layout can carry. */
const FIELDS_OF: Record<Layout, readonly Field[]> = {
  combined: ['path', 'query', 'method', 'user', 'referer', 'ua'],
  vhost: ['host', 'path', 'ua'],
  host: ['host', 'path', 'ua'],
  'nginx-main': ['xff', 'path', 'ua'],
  'xff-first': ['xff-first', 'path'],
};

/** The proxy the nginx-main and first-field-list lines come through (trusted). */
const PROXY = '198.19.255.1';

/**
 * Hostile contents by name. Apache escapes `"` and `\` in %r, %u and headers as `\"` and `\\`, so
 * the text here is as the log holds it.
 */
export const HOSTILE: Record<string, string> = {
  plain: 'abcdefghij',
  percent: '%41%2e%2f%5c',
  double: '%252e%252e%252f',
  dotseg: '/./',
  dotdot: '/../',
  backslash: '\\\\',
  slashes: '//',
  semi: '/.;/x;',
  hash: '#a/',
  qae: '?a=&b&=',
  quotes: '\\"x\\"',
  nearmiss: 'sqlma union selec ${jnd /etc/passw eval-stdin.ph ',
  mixed: 'a%252e%252e/.;x\\\\./',
  x5c: '\\x5c\\x2e',
  nulls: '%00%c0%ae%u002e',
  xffs: '198.18.0.7, ',
  tabs: '%09%0a%0d',
};

const TIME = '07/Dec/2026:00:00:00 +0000';

function fill(unit: string, n: number): string {
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

/** Client address of the nth line: 198.18.x.y (never a proxy). */
const client = (n: number): string => `198.18.${(n >> 8) & 255}.${(n & 255) || 1}`;

/** One access line (unwrapped) with `value` in `field`. */
function accessLine(layout: Layout, field: Field, value: string, n: number, status: number): string {
  const ip = client(n);
  const method = field === 'method' ? `G${value}T` : 'GET';
  const user = field === 'user' ? value : '-';
  const path = field === 'path' ? `/${value}` : '/index.php';
  const query = field === 'query' ? `?${value}` : '';
  const referer = field === 'referer' ? value : 'https://example.org/';
  const ua = field === 'ua' ? value : 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
  const tail = `"${method} ${path}${query} HTTP/1.1" ${status} 512 "${referer}" "${ua}"`;
  switch (layout) {
    case 'combined':
      return `${ip} - ${user} [${TIME}] ${tail}`;
    case 'vhost':
      return `${field === 'host' ? value : 'www.example.org'}:443 ${ip} - - [${TIME}] ${tail}`;
    case 'host':
      return `${field === 'host' ? value : 'www.example.org'} ${ip} - - [${TIME}] ${tail}`;
    case 'nginx-main':
      return `${PROXY} - - [${TIME}] ${tail} "${field === 'xff' ? value : ''}${ip}"`;
    case 'xff-first':
      return `${field === 'xff-first' ? value : ''}${ip}, ${PROXY} - - [${TIME}] ${tail}`;
  }
}

function wrap(wrapper: Wrapper, line: string): string {
  if (wrapper === 'docker') return `{"log":${JSON.stringify(`${line}\n`)},"stream":"stdout","time":"2026-12-07T00:00:00.000000000Z"}`;
  if (wrapper === 'syslog') return `<14>Dec  7 00:00:00 web apache[1]: ${line}`;
  return line;
}

export interface Case {
  readonly name: string;
  readonly lines: readonly string[];
}

/** `count` distinct lines of one case: the field's value is a counter, then `unit` up to `size` characters. */
export function caseLines(layout: Layout, field: Field, wrapper: Wrapper, unit: string, size: number, count: number, status = 404, first = 1): string[] {
  const out: string[] = [];
  for (let i = first; i < first + count; i++) {
    // A counter in the field, so that every line's field is another text (no memo answers).
    const prefix = field === 'xff' || field === 'xff-first' ? '' : `z${i.toString(36)}`;
    const value = prefix + fill(unit, Math.max(0, size - prefix.length));
    out.push(wrap(wrapper, accessLine(layout, field, value, i, status)));
  }
  return out;
}

/** ns per line of `lines` through `p` (one pass). */
function pass(p: Pipeline, lines: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  for (const line of lines) {
    const ev = p.parse(line);
    if (ev !== null) p.observe(ev, ev.time, undefined, undefined, line);
  }
  return Number(process.hrtime.bigint() - t0) / lines.length;
}

export function pipelineFor(rules: string): Pipeline {
  const config = loadConfig({ env: { BANHAMMER_RULES: rules, BANHAMMER_TRUSTED_PROXIES: PROXY }, hostname: 'bench' });
  return new Pipeline({ config, mode: 'live' });
}

/**
 * Best-of-`rounds` ns per line of a case and of its ordinary twin, interleaved. Each round has lines
 * of its own (`hostile[r]`, other clients too): a line that counts bans its client, whose later lines
 * the detector passes over, and the cost measured is that of a client the agent has not banned yet.
 */
function measurePair(p: Pipeline, hostile: readonly (readonly string[])[], ordinary: readonly (readonly string[])[], rounds: number): { hostile: number; ordinary: number } {
  let h = Infinity;
  let o = Infinity;
  pass(p, ordinary[0]!);
  pass(p, hostile[0]!);
  for (let r = 1; r <= rounds; r++) {
    o = Math.min(o, pass(p, ordinary[r]!));
    h = Math.min(h, pass(p, hostile[r]!));
  }
  return { hostile: h, ordinary: o };
}

/** The next client number: no two sets of lines share a client (198.18.0.0/16 holds 65,535). */
let nextClient = 1;

/** `rounds + 1` sets of `count` lines of a case, each set for clients of its own (caseLines' `first`). */
function roundsOf(rounds: number, count: number, make: (first: number) => string[]): string[][] {
  return Array.from({ length: rounds + 1 }, () => {
    const first = nextClient;
    nextClient = (nextClient + count) % 65_000;
    return make(first);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sizes = (process.argv[2] ?? '8192,65536').split(',').map(Number);
  const rounds = Number(process.argv[3] ?? '3');
  const filter = process.argv[4] ?? '';
  const ruleSets: Record<string, string> = Object.fromEntries(Object.entries({ default: 'forbidden,exploit-probes', all: PRESET_NAMES.join(',') }).filter(([k]) => (process.env.H46_SETS ?? 'default,all').split(',').includes(k)));
  const shortLine = accessLine('combined', 'path', 'index.html', 1, 404);
  process.stdout.write('rules\tcase\tus/line\tordinary us/line\tratio\n');
  for (const [setName, rules] of Object.entries(ruleSets)) {
    const p = pipelineFor(rules);
    const short = roundsOf(rounds, 64, (first) => Array.from({ length: 64 }, (_, i) => accessLine('combined', 'path', `index${i}.html`, first + i, 404)));
    const s = measurePair(p, short, short, rounds);
    process.stdout.write(`${setName}\tshort ordinary (${shortLine.length} chars)\t${(s.hostile / 1000).toFixed(2)}\t\t\n`);
    for (const size of sizes) {
      const count = size <= 8192 ? 24 : 6;
      for (const wrapper of ['none', 'docker', 'syslog'] as const) {
        for (const layout of Object.keys(FIELDS_OF) as Layout[]) {
          for (const field of FIELDS_OF[layout]) {
            const units = field === 'xff' || field === 'xff-first' ? ['xffs'] : Object.keys(HOSTILE).filter((k) => k !== 'plain' && k !== 'xffs');
            for (const unitName of units) {
              const name = `${wrapper}/${layout}/${field}/${unitName}/${size}`;
              if (filter !== '' && !name.includes(filter)) continue;
              const hostile = roundsOf(rounds, count, (first) => caseLines(layout, field, wrapper, HOSTILE[unitName]!, size, count, 404, first));
              const ordinary = roundsOf(rounds, count, (first) => caseLines(layout, field === 'xff' || field === 'xff-first' ? 'path' : field, wrapper, HOSTILE.plain!, size, count, 404, first));
              const m = measurePair(p, hostile, ordinary, rounds);
              process.stdout.write(`${setName}\t${name}\t${(m.hostile / 1000).toFixed(1)}\t${(m.ordinary / 1000).toFixed(1)}\t${(m.hostile / m.ordinary).toFixed(1)}\n`);
            }
          }
        }
      }
    }
  }
}
