/**
 * Validation of the preset library on real logs nobody on this project wrote (issue 13).
 *
 *   npx tsx bench/validate-presets.ts [--corpus DIR] [--strict] [--verbose]
 *   npm run validate:presets
 *
 * Reads ../shared/corpus (or --corpus DIR) when present, never copies it anywhere, and prints:
 *
 * 1. Parse figures for every corpus file: lines read, parsed, skipped by reason, and the lines that
 *    look like access lines to an independent reference recogniser (a loose regex below) but that
 *    banhammer skipped or read with another address or status: parse regressions (target 0).
 * 2. For each CrowdSec hub test (crowdsec-hub/tests/<name>/: config.yaml naming the log, the log,
 *    scenario.assert listing what CrowdSec's scenarios flagged), the log is replayed through banhammer's
 *    own replay code (replayFile: the same pipeline as the live agent, in log time) with EVERY rule
 *    defined (presets and user rules, enabled or not), and each scenario row — one per (test, scenario)
 *    pair of scenario.assert, 67 in all — is reported as
 *      agree          banhammer banned every source the scenario flagged
 *      miss           a banhammer rule that looks at the request (path, query, user agent, referer,
 *                     request line) counted the source's lines but did not ban (threshold or window)
 *      no counterpart no such rule counts any line of the flagged source (rules that count every line
 *                     of a status or method, like not-found or request-flood, are not counterparts)
 *      not access log the flagged sources appear only in lines of another log type (nginx error log,
 *                     mail proxy), which an access-log tool never reads; counted with no counterpart
 *                     (a row with some sources in access lines is judged on those, and says so)
 *    plus every address banhammer banned that the peer did not flag in that test. Note the hub tests
 *    each load one scenario only, so a ban the peer did not flag may be a true attack its scenario was
 *    not about; the tests where the peer flagged nobody (the *-whitelist tests, plain app logs) are
 *    benign traffic and a ban there is a false positive.
 *
 * Addresses: the hub's logs use crafted sources (127.0.0.1, 1.2.3.4, 10.0.0.1, 192.168.x.y …) that a
 * sane allowlist never bans (loopback always is). Every client address of a test's log is therefore
 * mapped, consistently within the test, to a test address (198.18.x.y for IPv4, 2001:db8:ffff::x for
 * IPv6) before replaying, and mapped back in the output. CrowdSec's scenarios are leaky buckets,
 * banhammer counts an exact sliding window: the comparison is about who gets flagged, not when.
 *
 * --strict exits 1 when the target (≥ 50 of 67 rows caught, 0 parse regressions, no ban in a log the
 * peer found clean) is not met.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { isSkip, type AccessEvent } from '../src/parse/access-event.js';
import { createLineParser } from '../src/parse/line-parser.js';
import { replayFile } from '../src/replay/replay.js';
import { selectRules } from '../src/pipeline/pipeline.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
export const CORPUS = resolve(argValue('--corpus') ?? join(ROOT, '..', 'shared', 'corpus'));
const STRICT = args.includes('--strict');
const VERBOSE = args.includes('--verbose');
export const TARGET_ROWS = 50;

/**
 * Reference recogniser of an access line, independent of src/parse: optional syslog prefix
 * (`Mmm dd hh:mm:ss host tag: `), optional vhost field, client, ident, user, [time], "request", status.
 * Group `client` is the client field, `status` the status. Loose on purpose: it says "a server wrote
 * this as an access line", so banhammer skipping one is a regression worth looking at.
 */
const ACCESS_RE =
  /^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:]+: )?(?:\S+ )?(?<client>[0-9A-Fa-f.:]+) \S+ \S+ \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "(?:[^"\\]|\\.)*" (?<status>\d{3})(?: |$)/d;

interface RefLine {
  readonly client: string;
  readonly start: number;
  readonly end: number;
  readonly status: number;
}

function reference(line: string): RefLine | null {
  const m = ACCESS_RE.exec(line);
  const g = m?.indices?.groups?.['client'];
  if (!m || !g || !m.groups) return null;
  const client = m.groups['client']!;
  if (!ipaddr.isValid(client)) return null;
  return { client: canonical(client), start: g[0], end: g[1], status: Number(m.groups['status']) };
}

function canonical(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv6') {
    const v6 = a as ipaddr.IPv6;
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
  }
  return a.toString();
}

function readLines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...listFiles(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// 1. Parse figures

interface ParseFigures {
  lines: number;
  parsed: number;
  skipped: Record<string, number>;
  accessLike: number;
  /** Access-like lines skipped, or read with another address/status than the reference's. */
  regressions: string[];
}

function parseFigures(path: string): ParseFigures {
  const parse = createLineParser('auto');
  const f: ParseFigures = { lines: 0, parsed: 0, skipped: {}, accessLike: 0, regressions: [] };
  for (const line of readLines(path)) {
    f.lines++;
    const out = parse(line, path);
    const ref = reference(line);
    if (ref) f.accessLike++;
    if (isSkip(out)) {
      f.skipped[out] = (f.skipped[out] ?? 0) + 1;
      // A source that can never be a client (0.0.0.0 …) is skipped on purpose.
      if (ref && out !== 'not-client') f.regressions.push(`skipped as ${out}: ${line.slice(0, 160)}`);
      continue;
    }
    f.parsed++;
    if (ref && (out.ip !== ref.client || out.status !== ref.status)) {
      f.regressions.push(`read as ${out.ip} ${out.status}, expected ${ref.client} ${ref.status}: ${line.slice(0, 160)}`);
    }
  }
  return f;
}

// ---------------------------------------------------------------------------------------------------
// 2. CrowdSec hub tests

interface Row {
  readonly test: string;
  readonly scenario: string;
  /** Sources the scenario flagged (as written in scenario.assert). */
  readonly sources: readonly string[];
}

/** One row per (test, scenario) pair; its sources are those of every result of that scenario. */
function readRows(test: string, assertText: string): Row[] {
  const scenarioOf = new Map<string, string>();
  const sourcesOf = new Map<string, Set<string>>();
  for (const m of assertText.matchAll(/results\[(\d+)\]\.Overflow\.Alert\.GetScenario\(\) == "([^"]*)"/g)) scenarioOf.set(m[1]!, m[2]!);
  for (const m of assertText.matchAll(/results\[(\d+)\]\.Overflow\.Sources\["([^"]*)"\]/g)) {
    const set = sourcesOf.get(m[1]!) ?? new Set<string>();
    set.add(m[2]!);
    sourcesOf.set(m[1]!, set);
  }
  const rows = new Map<string, Set<string>>();
  for (const [i, scenario] of scenarioOf) {
    const set = rows.get(scenario) ?? new Set<string>();
    for (const s of sourcesOf.get(i) ?? []) set.add(s);
    rows.set(scenario, set);
  }
  return [...rows].map(([scenario, set]) => ({ test, scenario, sources: [...set].sort() }));
}

/** Consistent per-test mapping of client addresses to test addresses. */
class AddressMap {
  private readonly forward = new Map<string, string>();
  private readonly back = new Map<string, string>();
  private v4 = 0;
  private v6 = 0;
  map(ip: string): string {
    let t = this.forward.get(ip);
    if (t === undefined) {
      if (ip.includes(':')) {
        this.v6++;
        t = `2001:db8:ffff::${this.v6.toString(16)}`;
      } else {
        this.v4++;
        t = `198.18.${(this.v4 >> 8) & 255}.${this.v4 & 255}`;
      }
      this.forward.set(ip, t);
      this.back.set(t, ip);
    }
    return t;
  }
  mapped(ip: string): string | undefined {
    return this.forward.get(ip);
  }
  original(test: string): string {
    return this.back.get(test) ?? test;
  }
}

type Verdict = 'agree' | 'miss' | 'no counterpart' | 'not access log';

interface RowResult extends Row {
  readonly verdict: Verdict;
  readonly detail: string;
}

interface TestResult {
  readonly test: string;
  readonly rows: readonly RowResult[];
  /** Bans of addresses the peer did not flag: original address → rules. */
  readonly extra: ReadonlyMap<string, Set<string>>;
  readonly lines: number;
  readonly parsed: number;
}

function allRulesConfig(): Config {
  // Every defined rule (presets, enabled or not): replayFile is given their names, as --all-rules does.
  return loadConfig({ env: {}, hostname: 'validate' });
}

async function runTest(dir: string, config: Config, tmp: string): Promise<TestResult | null> {
  const test = basename(dir);
  const cfgPath = join(dir, 'config.yaml');
  const assertPath = join(dir, 'scenario.assert');
  if (!existsSync(cfgPath)) return null;
  const cfg = parseYaml(readFileSync(cfgPath, 'utf8')) as { log_file?: unknown };
  const logName = typeof cfg.log_file === 'string' ? cfg.log_file : null;
  if (logName === null || !existsSync(join(dir, logName))) return null;
  const rows = existsSync(assertPath) ? readRows(test, readFileSync(assertPath, 'utf8')) : [];

  // Map every client address of the log's access lines; other lines are left as they are.
  const map = new AddressMap();
  const out: string[] = [];
  for (const line of readLines(join(dir, logName))) {
    const ref = reference(line);
    out.push(ref ? line.slice(0, ref.start) + map.map(ref.client) + line.slice(ref.end) : line);
  }
  const mappedLog = join(tmp, `${test}.log`);
  writeFileSync(mappedLog, out.join('\n') + '\n');

  const names = Object.keys(config.rules);
  const report = await replayFile(mappedLog, config, { rules: names, threads: 1 });
  const bannedBy = new Map<string, Set<string>>();
  for (const b of report.bans) {
    const set = bannedBy.get(b.ip) ?? new Set<string>();
    set.add(b.rule);
    bannedBy.set(b.ip, set);
  }

  // Which rules count each mapped address's lines (for miss vs no counterpart).
  // Rules that count any line of some status or method (request-flood, not-found …) are not a
  // counterpart of a scenario: only rules that look at what was asked for are.
  const rules = selectRules(config, names).filter((r) => isSpecific(r.settings.match));
  const parse = createLineParser('auto');
  const counted = new Map<string, Map<string, number>>();
  for (const line of out) {
    const ev = parse(line, mappedLog);
    if (isSkip(ev)) continue;
    for (const r of rules) {
      if (!ruleMatches(r, ev)) continue;
      const per = counted.get(ev.ip) ?? new Map<string, number>();
      per.set(r.name, (per.get(r.name) ?? 0) + 1);
      counted.set(ev.ip, per);
    }
  }

  const results: RowResult[] = rows.map((row) => {
    // Sources the peer flagged from lines of another log type (an error log) cannot be compared: the
    // row is judged on the sources its access lines show, and says how many it left out.
    const all = row.sources.map((s) => map.mapped(safeCanonical(s)));
    const mapped = all.filter((m): m is string => m !== undefined);
    if (mapped.length === 0) return { ...row, verdict: 'not access log', detail: 'flagged source not in any access line' };
    const outside = all.length - mapped.length;
    const note = outside > 0 ? ` (${outside} of ${all.length} flagged sources only in non-access lines)` : '';
    const banRules = mapped.map((m) => bannedBy.get(m));
    if (banRules.every((s) => s !== undefined)) {
      const by = new Set(banRules.flatMap((s) => [...s!]));
      return { ...row, verdict: 'agree', detail: `banned by ${[...by].sort().join(', ')}${note}` };
    }
    const partly = banRules.some((s) => s !== undefined) ? `${banRules.filter((s) => s !== undefined).length}/${mapped.length} sources banned; ` : '';
    const countedBy = new Map<string, number>();
    for (const m of mapped) for (const [r, n] of counted.get(m) ?? []) countedBy.set(r, (countedBy.get(r) ?? 0) + n);
    if (countedBy.size > 0) {
      return { ...row, verdict: 'miss', detail: `${partly}counted by ${[...countedBy].map(([r, n]) => `${r} (${n})`).join(', ')}, no ban${note}` };
    }
    return { ...row, verdict: partly ? 'miss' : 'no counterpart', detail: `${partly ? `${partly}no rule counts the others` : ''}${note}` };
  });

  const flagged = new Set(rows.flatMap((r) => r.sources.map((s) => map.mapped(safeCanonical(s)))));
  const extra = new Map<string, Set<string>>();
  for (const [ip, set] of bannedBy) if (!flagged.has(ip)) extra.set(map.original(ip), set);
  return { test, rows: results, extra, lines: report.lines, parsed: report.parsed };
}

/** Does a rule's match look at the request (path, query, user agent, referer, raw request line)? */
function isSpecific(match: unknown): boolean {
  if (match === null || typeof match !== 'object') return false;
  for (const [k, v] of Object.entries(match as Record<string, unknown>)) {
    // status and methods say nothing about the request's content; none_of only excludes.
    if (k === 'status' || k === 'methods' || k === 'noneOf' || k === 'none_of') continue;
    if (Array.isArray(v) ? v.length > 0 : v !== null && v !== undefined && typeof v === 'object' && isSpecific(v)) return true;
  }
  return false;
}

function ruleMatches(rule: { matches(ev: AccessEvent): boolean }, ev: AccessEvent): boolean {
  try {
    return rule.matches(ev);
  } catch {
    return false;
  }
}

function safeCanonical(ip: string): string {
  return ipaddr.isValid(ip) ? canonical(ip) : ip;
}

// ---------------------------------------------------------------------------------------------------
// 3. fail2ban's annotated test logs: line by line, does some banhammer rule count the lines fail2ban's
//    filter matches (`"match": true`), and which does it count that the filter leaves alone?

interface Fail2banFigures {
  readonly file: string;
  /** Annotated lines banhammer parsed, by what fail2ban's filter says. */
  failMatch: number;
  failNoMatch: number;
  /** …and how many of them some banhammer rule counts. */
  countedMatch: number;
  countedNoMatch: number;
  /** Which rules counted the lines fail2ban matches. */
  readonly by: Map<string, number>;
}

/** Rules that count every request (request-flood) say nothing about a line, and are left out. */
function countsEverything(match: { status: readonly number[] | null; methods: readonly string[] }): boolean {
  return (match.status === null || match.status.length === 0) && match.methods.length === 0 && !isSpecific(match);
}

function fail2banFigures(path: string, config: Config): Fail2banFigures {
  const rules = selectRules(config, Object.keys(config.rules)).filter((r) => !countsEverything(r.settings.match));
  const parse = createLineParser('auto');
  const f: Fail2banFigures = { file: path, failMatch: 0, failNoMatch: 0, countedMatch: 0, countedNoMatch: 0, by: new Map() };
  let expect: boolean | null = null;
  for (const line of readLines(path)) {
    const note = /^#\s*failJSON:\s*(\{.*\})\s*$/.exec(line);
    if (note) {
      try {
        expect = (JSON.parse(note[1]!) as { match?: unknown }).match === true;
      } catch {
        expect = null;
      }
      continue;
    }
    if (line.trim() === '' || line.startsWith('#') || expect === null) continue;
    const ev = parse(line, path);
    const was = expect;
    expect = null;
    if (isSkip(ev)) continue;
    const hit = rules.filter((r) => ruleMatches(r, ev)).map((r) => r.name);
    if (was) {
      f.failMatch++;
      if (hit.length > 0) f.countedMatch++;
      for (const h of hit) f.by.set(h, (f.by.get(h) ?? 0) + 1);
    } else {
      f.failNoMatch++;
      if (hit.length > 0) f.countedNoMatch++;
    }
  }
  return f;
}

// ---------------------------------------------------------------------------------------------------

export interface ValidationSummary {
  readonly rows: number;
  readonly agree: number;
  readonly miss: number;
  readonly noCounterpart: number;
  readonly notAccessLog: number;
  /** Bans of addresses the peer did not flag, in logs where it flagged someone / nobody. */
  readonly extraInAttackLogs: number;
  readonly extraInCleanLogs: number;
  readonly lines: number;
  readonly parsed: number;
  readonly parseRegressions: number;
  readonly targetMet: boolean;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/**
 * Runs the whole validation on `corpus` and returns its summary; `out` receives the report (nothing
 * when omitted). Null when there is no corpus there.
 */
export async function validate(corpus: string, out: (text: string) => void = () => {}, verbose = false): Promise<ValidationSummary | null> {
  if (!existsSync(corpus)) return null;
  const config = allRulesConfig();
  const ruleNames = Object.keys(config.rules);
  out(`validate-presets: corpus ${corpus}\n`);
  out(`rules (every defined rule, enabled or not): ${ruleNames.length}: ${ruleNames.join(', ')}\n\n`);

  // 1. Parse figures.
  out('== Parse figures (every corpus file; regressions = access-looking lines skipped or misread)\n');
  const totals: ParseFigures = { lines: 0, parsed: 0, skipped: {}, accessLike: 0, regressions: [] };
  const fileRows: string[] = [];
  for (const file of listFiles(corpus)) {
    if (/(?:^|\/)(?:README[^/]*|config\.yaml|parser\.assert|scenario\.assert)$/.test(file)) continue;
    const f = parseFigures(file);
    totals.lines += f.lines;
    totals.parsed += f.parsed;
    totals.accessLike += f.accessLike;
    for (const [k, v] of Object.entries(f.skipped)) totals.skipped[k] = (totals.skipped[k] ?? 0) + v;
    totals.regressions.push(...f.regressions.map((r) => `${relative(corpus, file)}: ${r}`));
    const skipped = Object.entries(f.skipped).map(([k, v]) => `${k} ${v}`).join(', ');
    fileRows.push(`  ${pad(relative(corpus, file), 72)} ${String(f.lines).padStart(6)} read ${String(f.parsed).padStart(6)} parsed${skipped ? `  skipped: ${skipped}` : ''}${f.regressions.length ? `  REGRESSIONS ${f.regressions.length}` : ''}`);
  }
  if (verbose) out(fileRows.join('\n') + '\n');
  const skippedTotal = Object.entries(totals.skipped).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  out(`  files: ${fileRows.length}; lines read ${totals.lines}, parsed ${totals.parsed}, skipped ${totals.lines - totals.parsed} (${skippedTotal || 'none'})\n`);
  out('  (skipped lines are error-log lines, fail2ban\'s annotations and blank lines, which are not access lines)\n');
  out(`  access-looking lines (reference recogniser): ${totals.accessLike}; parse regressions: ${totals.regressions.length} (target 0)\n`);
  for (const r of totals.regressions.slice(0, 40)) out(`    ${r}\n`);
  if (totals.regressions.length > 40) out(`    … ${totals.regressions.length - 40} more\n`);

  // 2. CrowdSec hub tests.
  const results: TestResult[] = [];
  const hub = join(corpus, 'crowdsec-hub', 'tests');
  if (existsSync(hub)) {
    out("\n== CrowdSec hub tests: every rule on, each test's client addresses mapped to 198.18.x.y / 2001:db8:ffff::x\n");
    out('   (crafted sources such as 127.0.0.1 or 1.2.3.4 are never banned by a sane allowlist; output shows the originals)\n');
    const tmp = mkdtempSync(join(tmpdir(), 'banhammer-validate-'));
    try {
      for (const name of readdirSync(hub).sort()) {
        const dir = join(hub, name);
        if (!statSync(dir).isDirectory()) continue;
        const r = await runTest(dir, config, tmp);
        if (r) results.push(r);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } else {
    out('\nno crowdsec-hub/tests in the corpus; no scenario comparison\n');
  }

  const rows = results.flatMap((r) => r.rows);
  const count = (v: Verdict): number => rows.filter((r) => r.verdict === v).length;
  for (const r of rows) out(`  ${pad(r.verdict, 15)} ${pad(r.test, 36)} ${pad(r.scenario, 52)} ${r.detail}\n`);

  out('\n== Bans of addresses the peer did not flag\n');
  out('   (each hub test loads only its own scenario: an attack that scenario is not about goes unflagged there)\n');
  let extraFlagged = 0;
  let extraClean = 0;
  for (const r of results) {
    if (r.extra.size === 0) continue;
    const clean = r.rows.length === 0;
    for (const [ip, set] of r.extra) {
      if (clean) extraClean++;
      else extraFlagged++;
      out(`  ${pad(r.test, 36)} ${pad(ip, 40)} ${[...set].sort().join(', ')}${clean ? '   <- the peer flagged nobody in this log' : ''}\n`);
    }
  }
  if (extraFlagged + extraClean === 0) out('  none\n');

  // 3. fail2ban's annotated logs.
  const f2b = join(corpus, 'fail2ban-tests', 'logs');
  if (existsSync(f2b)) {
    out("\n== fail2ban's annotated test logs (access lines only; line by line, rules that count every request left out)\n");
    for (const file of listFiles(f2b)) {
      const f = fail2banFigures(file, config);
      if (f.failMatch + f.failNoMatch === 0) continue;
      const by = [...f.by].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`).join(', ');
      out(`  ${pad(relative(f2b, file), 22)} fail2ban matches ${String(f.failMatch).padStart(3)}, banhammer counts ${String(f.countedMatch).padStart(3)}${by ? ` (${by})` : ''}; fail2ban leaves ${f.failNoMatch}, banhammer counts ${f.countedNoMatch} of those\n`);
    }
  }

  const agree = count('agree');
  const targetMet = agree >= TARGET_ROWS && totals.regressions.length === 0 && extraClean === 0;
  out('\n== Summary\n');
  out(`  scenario rows: ${rows.length} (one per test and scenario of scenario.assert, ${results.length} tests replayed)\n`);
  out(`  agree ${agree}, miss ${count('miss')}, no counterpart ${count('no counterpart') + count('not access log')} (of which not in an access log ${count('not access log')})\n`);
  out(`  caught ${agree} of ${rows.length} rows (target >= ${TARGET_ROWS})\n`);
  out(`  bans the peer did not flag: ${extraFlagged} in attack logs, ${extraClean} in logs the peer found clean (target 0)\n`);
  out(`  parse: ${totals.lines} lines, ${totals.parsed} parsed, ${totals.regressions.length} parse regressions (target 0)\n`);
  out(`  target ${targetMet ? 'met' : 'NOT met'}\n`);
  return {
    rows: rows.length,
    agree,
    miss: count('miss'),
    noCounterpart: count('no counterpart'),
    notAccessLog: count('not access log'),
    extraInAttackLogs: extraFlagged,
    extraInCleanLogs: extraClean,
    lines: totals.lines,
    parsed: totals.parsed,
    parseRegressions: totals.regressions.length,
    targetMet,
  };
}

async function main(): Promise<void> {
  const summary = await validate(CORPUS, (t) => process.stdout.write(t), VERBOSE);
  if (summary === null) {
    process.stdout.write(`validate-presets: no corpus at ${CORPUS}; nothing to validate (pass --corpus DIR)\n`);
    return;
  }
  if (STRICT && !summary.targetMet) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
