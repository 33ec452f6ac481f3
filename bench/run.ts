/**
 * `npm run bench`: the replay benchmark. On one generated log (cached in .bench/ by size and seed) it
 * measures, in one run: banhammer replay (best of N child-process runs, with peak RSS), the minimal
 * Node loop (best of N), fail2ban-regex (one run, possibly on a prefix), and checks banhammer's bans
 * against the independent reference. It prints a table and the targets, PASS or FAIL.
 *
 * Exit status: 1 when the ban sets differ or a tool fails; a missed speed or memory target prints
 * FAIL but exits 0, so the bench stays useful on slow machines.
 *
 * Options: --lines N (default 1,000,000), --seed N (default 1), --runs N (default 3), --quick
 * (200,000 lines, no fail2ban; shorter live phases), --no-fail2ban, --json (figures as JSON on stdout).
 *
 * Then the live-agent benchmark (bench/live/live.ts: detection latency, live growth, ban storm,
 * memory, packet path, against fail2ban where it applies; root and network namespaces needed, else
 * it says why it skipped): --no-live skips it, --live-only runs only it. With --json the replay
 * figures are the top-level object and the live ones are under "live".
 *
 * Then the kernel enforcers side by side (bench/live/kernel.ts: nftables and iptables with the real
 * agent — detect → drop latency against fail2ban, 100,000 bans from the state file at start, the nft
 * packet path with 100,000 bans; root, network namespaces and nft needed): part of the live
 * benchmark (--no-live skips it, --live-only runs it), --no-kernel skips it, --kernel-only runs only
 * it. With --json its figures are under "kernel".
 *
 * Then the shared-bans section (bench/share/share.ts: propagation lag with three replicas, shared-count
 * throughput, a new replica loading 100,000 bans, through its own redis-server; skipped with the reason
 * when redis-server is not installed): --no-share skips it, --share-only runs only it; --no-live and
 * --live-only keep their meaning (replay only, live only), so they skip it too. With --json its figures
 * are under "share".
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BanhammerError, isBanhammerError } from '../src/errors.js';
import { runBanhammerReplay, type ReplayRun } from './banhammer-replay.js';
import { EVERY_LINE_PRESETS, perLineCost, replayAllRules, RULES_TARGETS, type AllRulesReplay, type PerLineCost } from './rules-bench.js';
import { compareBans, formatBan, type BanDiff } from './compare-bans.js';
import { runFail2banRegex, type Fail2banResult } from './fail2ban.js';
import { ensureBenchLog } from './generate-log.js';
import { measure } from './measure.js';
import { referenceFromFile } from './reference.js';
import { formatLive, runLive, type LiveReport } from './live/live.js';
import { formatShare, runShareBench, type ShareReport } from './share/share.js';
import { formatKernel, runKernel, type KernelReport } from './live/kernel.js';

export const TARGETS = Object.freeze({
  linesPerSecond: 1_200_000,
  fractionOfMinimal: 0.7,
  peakRssBytes: 150 * 1_000_000,
});

export interface BenchOptions {
  readonly lines: number;
  readonly seed: number;
  readonly runs: number;
  readonly fail2ban: boolean;
  readonly json: boolean;
}

/** Which parts run: --no-live, --live-only (read apart from parseBenchArgs, which ignores them). */
export interface BenchParts {
  readonly replay: boolean;
  readonly live: boolean;
  /** --quick also shortens the live phases. */
  readonly quick: boolean;
}

const LIVE_FLAGS = ['--live', '--no-live', '--live-only'];
const SHARE_FLAGS = ['--no-share', '--share-only'];
const KERNEL_FLAGS = ['--no-kernel', '--kernel-only'];

/** The kernel enforcers section: runs with the live part unless --no-kernel; --kernel-only runs nothing else. */
export function parseKernelFlags(argv: readonly string[]): { kernel: boolean; only: boolean } {
  const only = argv.includes('--kernel-only');
  return { kernel: only || (parseBenchParts(argv).live && !argv.includes('--no-kernel') && !argv.includes('--share-only')), only };
}

/** The shared-bans section: `share` runs it, `only` runs nothing else (--share-only). --no-live and --live-only skip it. */
export function parseShareFlags(argv: readonly string[]): { share: boolean; only: boolean } {
  const only = argv.includes('--share-only');
  return { share: only || !['--no-share', '--no-live', '--live-only'].some((f) => argv.includes(f)), only };
}

export function parseBenchParts(argv: readonly string[]): BenchParts {
  const liveOnly = argv.includes('--live-only');
  return { replay: !liveOnly, live: liveOnly || !argv.includes('--no-live'), quick: argv.includes('--quick') };
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv.filter((a) => !LIVE_FLAGS.includes(a) && !SHARE_FLAGS.includes(a) && !KERNEL_FLAGS.includes(a)),
    options: {
      lines: { type: 'string' },
      seed: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-fail2ban': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const int = (name: string, raw: string | undefined, dflt: number, min: number): number => {
    if (raw === undefined) return dflt;
    const v = Number(raw.replaceAll('_', ''));
    if (!Number.isInteger(v) || v < min) {
      throw new BanhammerError('BH_ERR_USAGE', `--${name} ${JSON.stringify(raw)} is not an integer ≥ ${min}`, {
        hint: `e.g. --${name} ${dflt}`,
      });
    }
    return v;
  };
  return {
    lines: int('lines', values.lines, values.quick ? 200_000 : 1_000_000, 1),
    seed: int('seed', values.seed, 1, 0),
    runs: int('runs', values.runs, 3, 1),
    fail2ban: !values.quick && !values['no-fail2ban'],
    json: values.json,
  };
}

interface Target {
  readonly name: string;
  readonly pass: boolean;
  readonly value: string;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMB = (b: number): string => (Number.isFinite(b) ? `${(b / 1e6).toFixed(1)} MB` : 'n/a');
const progress = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/**
 * The repository (holding package.json and bin/): the nearest such directory above this module, which
 * runs from bench/ under tsx and from bench/dist/bench/ once compiled (`npm run bench`).
 */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bin', 'banhammer.js'))) return d;
    if (dirname(d) === d) throw new BanhammerError('BH_ERR_USAGE', `no banhammer repository above ${from}`, { hint: 'run the bench from a clone: npm run bench' });
  }
}

export async function runBench(opts: BenchOptions, parts: BenchParts = { replay: true, live: false, quick: false }, share = false, kernel = false): Promise<number> {
  const root = repoRoot();
  let code = 0;
  let replayJson: Record<string, unknown> = {};
  if (parts.replay) {
    const r = await runReplayBench(opts, root);
    code = r.code;
    replayJson = r.json;
  }
  let live: LiveReport | undefined;
  if (parts.live) {
    live = await runLive({ root, fail2ban: opts.fail2ban, quick: parts.quick, progress });
    if (!opts.json) process.stdout.write(formatLive(live));
    if (live.errors.length > 0) code = 1;
  }
  let kern: KernelReport | undefined;
  if (kernel) {
    kern = await runKernel({ root, fail2ban: opts.fail2ban, quick: parts.quick, progress });
    if (!opts.json) process.stdout.write(formatKernel(kern));
    if (kern.errors.length > 0) code = 1;
  }
  let shared: ShareReport | undefined;
  if (share) {
    shared = await runShareBench({ quick: parts.quick, progress });
    if (!opts.json) process.stdout.write(formatShare(shared));
    if (shared.errors.length > 0) code = 1;
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ ...replayJson, ...(live ? { live } : {}), ...(kern ? { kernel: kern } : {}), ...(shared ? { share: shared } : {}) }, null, 2)}\n`);
  return code;
}

async function runReplayBench(opts: BenchOptions, root: string): Promise<{ code: number; json: Record<string, unknown> }> {
  const benchDir = join(root, '.bench');

  const t0 = process.hrtime.bigint();
  const log = ensureBenchLog(benchDir, { lines: opts.lines, seed: opts.seed });
  const genSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const file = log.path;
  const bytes = statSync(file).size;
  progress(`${log.generated ? `generated in ${genSeconds.toFixed(1)} s` : 'reusing'} ${relative(process.cwd(), file)} (${fmtInt(opts.lines)} lines, ${fmtMB(bytes)})`);

  progress('computing the reference ban set');
  const reference = await referenceFromFile(file);
  gc();

  const failures: string[] = [];

  // The minimal loop: best of N.
  const minimal: { seconds: number; maxRssBytes: number; matched: number }[] = [];
  // Compiled beside this module (bench/dist/bench/), run by plain node like banhammer's own bundle.
  const minimalScript = fileURLToPath(new URL('./minimal-loop.js', import.meta.url));
  for (let i = 0; i < opts.runs; i++) {
    progress(`minimal loop, run ${i + 1}/${opts.runs}`);
    const m = await measure(process.execPath, [minimalScript, file]);
    if (m.exitCode !== 0) {
      failures.push(`minimal loop exited with ${m.exitCode}: ${m.stderr.trim().slice(-500)}`);
      break;
    }
    minimal.push({ seconds: m.seconds, maxRssBytes: m.maxRssBytes, matched: (JSON.parse(m.stdout) as { matched: number }).matched });
  }

  // banhammer replay: best of N, every run's bans checked.
  const replays: ReplayRun[] = [];
  let diff: BanDiff | null = null;
  for (let i = 0; i < opts.runs; i++) {
    progress(`banhammer replay, run ${i + 1}/${opts.runs}`);
    try {
      const r = await runBanhammerReplay(root, file);
      replays.push(r);
      const d = compareBans(reference.bans, r.output.bans);
      if (diff === null || !d.identical) diff = d;
    } catch (err) {
      failures.push(isBanhammerError(err) ? `${err.toUserString()}${err.data.stderr ? `\n${String(err.data.stderr)}` : ''}` : String(err));
      break;
    }
  }

  // Issue 13: every preset on, in the same run (bench/rules-bench.ts).
  let allRules: AllRulesReplay | null = null;
  let lineCost: PerLineCost | null = null;
  progress('banhammer replay --all-rules (every preset on), and the per-line cost of all presets vs the default');
  try {
    allRules = await replayAllRules(root, file, reference.lines, opts.runs);
    lineCost = await perLineCost(file);
  } catch (err) {
    failures.push(String(err));
  }

  let f2b: Fail2banResult | null = null;
  if (opts.fail2ban) {
    progress('fail2ban-regex (one run; this takes a while)');
    try {
      f2b = await runFail2banRegex(file, { lines: opts.lines });
    } catch (err) {
      failures.push(isBanhammerError(err) ? err.toUserString() : String(err));
    }
  }

  const best = <T extends { seconds: number }>(xs: readonly T[]): T | undefined =>
    xs.reduce<T | undefined>((a, b) => (a === undefined || b.seconds < a.seconds ? b : a), undefined);
  const bestReplay = best(replays);
  const bestMinimal = best(minimal);
  const lines = reference.lines;
  const bhRate = bestReplay ? lines / bestReplay.seconds : NaN;
  const minRate = bestMinimal ? lines / bestMinimal.seconds : NaN;
  const peakRss = replays.length > 0 ? Math.max(...replays.map((r) => r.maxRssBytes)) : NaN;
  const vsMinimal = bhRate / minRate;
  const vsFail2ban = f2b ? bhRate / f2b.linesPerSecond : NaN;
  const identical = diff !== null && diff.identical;

  const targets: Target[] = [
    { name: `banhammer ≥ ${fmtInt(TARGETS.linesPerSecond)} lines/s`, pass: bhRate >= TARGETS.linesPerSecond, value: `${fmtInt(bhRate)} lines/s` },
    { name: `banhammer ≥ ${TARGETS.fractionOfMinimal * 100} % of the minimal loop`, pass: vsMinimal >= TARGETS.fractionOfMinimal, value: `${(vsMinimal * 100).toFixed(1)} %` },
    { name: `peak RSS < ${fmtMB(TARGETS.peakRssBytes)}`, pass: peakRss < TARGETS.peakRssBytes, value: fmtMB(peakRss) },
    { name: 'ban set identical to the reference', pass: identical, value: diff ? `${diff.actual} vs ${diff.expected} expected` : 'no replay' },
    { name: `every preset on ≥ ${fmtInt(RULES_TARGETS.allPresetsLinesPerSecond)} lines/s`, pass: (allRules?.linesPerSecond ?? 0) >= RULES_TARGETS.allPresetsLinesPerSecond, value: allRules ? `${fmtInt(allRules.linesPerSecond)} lines/s` : 'n/a' },
    { name: `per line, all presets ≤ ${RULES_TARGETS.perLineRatio}× forbidden alone`, pass: (lineCost?.ratio ?? Infinity) <= RULES_TARGETS.perLineRatio, value: lineCost ? `${lineCost.ratio.toFixed(2)}×` : 'n/a' },
  ];
  if (diff !== null && !diff.identical) failures.push(`ban sets differ: ${diff.missing.length} missing, ${diff.unexpected.length} unexpected`);

  let json: Record<string, unknown> = {};
  if (opts.json) {
    json = {
          file: relative(root, file),
          lines,
          bytes,
          seed: opts.seed,
          runs: opts.runs,
          banhammer: bestReplay
            ? {
                linesPerSecond: bhRate,
                seconds: bestReplay.seconds,
                runSeconds: replays.map((r) => r.seconds),
                peakRssBytes: peakRss,
                matches: bestReplay.output.matches,
                parsed: bestReplay.output.parsed,
                skipped: bestReplay.output.skipped,
                bans: bestReplay.output.bans.length,
              }
            : null,
          minimalLoop: bestMinimal
            ? { linesPerSecond: minRate, seconds: bestMinimal.seconds, runSeconds: minimal.map((m) => m.seconds), peakRssBytes: bestMinimal.maxRssBytes, matched: bestMinimal.matched }
            : null,
          allPresets: allRules,
          perLineCost: lineCost,
          fail2ban: f2b,
          reference: { parsed: reference.parsed, matches: reference.matches, bans: reference.bans.length },
          ratios: { banhammerOverFail2ban: vsFail2ban, banhammerOverMinimal: vsMinimal },
          bans: diff ? { identical: diff.identical, expected: diff.expected, actual: diff.actual, missing: diff.missing, unexpected: diff.unexpected } : null,
          targets,
          failures,
        };
  } else {
    const out: string[] = [];
    out.push('', `replay benchmark: ${relative(process.cwd(), file)}  (${fmtInt(lines)} lines, ${fmtMB(bytes)}, seed ${opts.seed})`, '');
    const row = (name: string, rate: number, secs: number | undefined, rss: number, matched: string, note = ''): string =>
      `  ${name.padEnd(22)}${(Number.isFinite(rate) ? fmtInt(rate) : 'n/a').padStart(12)}${(secs === undefined ? 'n/a' : `${secs.toFixed(2)} s`).padStart(11)}${fmtMB(rss).padStart(11)}${matched.padStart(12)}  ${note}`;
    out.push(`  ${'tool'.padEnd(22)}${'lines/s'.padStart(12)}${'wall'.padStart(11)}${'peak RSS'.padStart(11)}${'403 lines'.padStart(12)}`);
    out.push(row('banhammer replay', bhRate, bestReplay?.seconds, peakRss, bestReplay ? fmtInt(bestReplay.output.matches.forbidden ?? NaN) : 'n/a', `best of ${replays.length}`));
    out.push(row('minimal loop', minRate, bestMinimal?.seconds, bestMinimal?.maxRssBytes ?? NaN, bestMinimal ? fmtInt(bestMinimal.matched) : 'n/a', `best of ${minimal.length}; naive regex`));
    if (opts.fail2ban) {
      out.push(row('fail2ban-regex', f2b?.linesPerSecond ?? NaN, f2b?.seconds, f2b?.maxRssBytes ?? NaN, f2b ? fmtInt(f2b.matched) : 'n/a', f2b?.prefix ? `1 run on the first ${fmtInt(f2b.lines)} lines: ${f2b.note}` : '1 run, whole file'));
    } else {
      out.push('  fail2ban-regex         skipped (--quick / --no-fail2ban)');
    }
    out.push(row('reference (oracle)', NaN, undefined, NaN, fmtInt(reference.matches), 'in-process, not timed'));
    out.push(row('replay, every preset on', allRules?.linesPerSecond ?? NaN, allRules?.seconds, allRules?.maxRssBytes ?? NaN, 'n/a', allRules ? `best of ${allRules.runSeconds.length}; --all-rules, ${fmtInt(allRules.bans)} bans` : ''));
    out.push(
      `  per-line cost (live pipeline, parse + detect + decide + evidence, each rule set in its own process): forbidden alone (the seed's default) ${lineCost ? `${lineCost.seedNs.toFixed(0)} ns` : 'n/a'}, default rules ${lineCost ? `${lineCost.defaultNs.toFixed(0)} ns` : 'n/a'}, every preset on ${lineCost ? `${lineCost.allPresetsNs.toFixed(0)} ns` : 'n/a'} → ${lineCost ? `${lineCost.ratio.toFixed(2)}×` : 'n/a'}; every preset but ${EVERY_LINE_PRESETS.join(' and ')} (which count every line) ${lineCost ? `${lineCost.filteredPresetsNs.toFixed(0)} ns → ${(lineCost.filteredPresetsNs / lineCost.seedNs).toFixed(2)}×` : 'n/a'}`,
      `  floor under every preset (bench/preset-floor.ts: the parse, and only the field reads, literal scans and windows the presets need, no rule machinery): ${lineCost ? `${lineCost.floorNs.toFixed(0)} ns → ${(lineCost.floorNs / lineCost.seedNs).toFixed(2)}× forbidden alone` : 'n/a'}`,
    );
    out.push('');
    out.push(`  banhammer / fail2ban-regex: ${Number.isFinite(vsFail2ban) ? `${vsFail2ban.toFixed(1)}×` : 'n/a'}    banhammer / minimal loop: ${Number.isFinite(vsMinimal) ? `${(vsMinimal * 100).toFixed(1)} %` : 'n/a'}`);
    out.push(`  well-formed lines: banhammer ${bestReplay ? fmtInt(bestReplay.output.parsed) : 'n/a'}, reference ${fmtInt(reference.parsed)} (information only)`);
    out.push(`  bans: banhammer ${diff ? diff.actual : 'n/a'}, reference ${reference.bans.length} → ${diff === null ? 'not compared' : identical ? 'IDENTICAL' : 'DIFFERENT'}`);
    if (diff !== null && !diff.identical) {
      for (const b of diff.missing.slice(0, 20)) out.push(`    missing    ${formatBan(b)}`);
      for (const b of diff.unexpected.slice(0, 20)) out.push(`    unexpected ${formatBan(b)}`);
      if (diff.missing.length > 20 || diff.unexpected.length > 20) out.push('    … (--json lists them all)');
    }
    out.push('', '  targets:');
    for (const t of targets) out.push(`    ${t.pass ? 'PASS' : 'FAIL'}  ${t.name.padEnd(42)} ${t.value}`);
    for (const f of failures) out.push(`  ERROR: ${f}`);
    out.push('');
    process.stdout.write(out.join('\n'));
  }
  return { code: failures.length > 0 ? 1 : 0, json };
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${isBanhammerError(err) ? err.toUserString() : String(err)}\n`);
    return 2;
  }
  const parts = parseBenchParts(argv);
  const share = parseShareFlags(argv);
  const kernel = parseKernelFlags(argv);
  if (kernel.only) return runBench(opts, { ...parts, replay: false, live: false }, false, true);
  return runBench(opts, share.only ? { ...parts, replay: false, live: false } : parts, share.share, kernel.kernel);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${isBanhammerError(err) ? err.toUserString() : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
