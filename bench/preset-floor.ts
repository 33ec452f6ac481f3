/**
 * The floor under "every preset on": per line, only the reads and counts that the presets' own
 * definitions make necessary, with none of the rule machinery (no prefilter, matcher, detector or
 * pipeline), built from the same parts the agent uses:
 *
 * - the agent's line parser (as for `forbidden` alone);
 * - one literal scan of the target and one of the request line, with the necessary literals of every
 *   preset's patterns (the prefilter's scanners; `open-proxy` and `junk-requests` read the raw
 *   request line, the path presets the target), with `crawl-non-static`'s static test and path hash,
 *   once per distinct request line (kept in a TextMemo, as the pipeline keeps them);
 * - the User-Agent, which `bad-user-agents` reads on every line: sliced and compared with the last
 *   one, a Map of scan results when it differs (the prefilter's cache, without its bookkeeping);
 * - the referer and User-Agent payload presets' one native search for `{` after the request;
 * - `request-flood`: one failure window per line;
 * - `crawl-non-static`: one distinct-path window on a non-static path;
 * - the status-only presets (`not-found`, `bad-requests`, `unauthorized`): a window on their lines.
 *
 * No full match runs (on the bench log nearly no line holds a found literal), no allowlist, no ban
 * book, no evidence. So the gap between this and the pipeline with every preset on is what the rule
 * machinery costs, and this over `forbidden` alone is what the presets' reads and counts cost with
 * today's parts (string fields, Map-keyed windows): below it only faster parts go, not leaner rules.
 * Run as its own process:
 * `node bench/dist/bench/preset-floor.js FILE [LINES] [ROUNDS]` prints `{"lines":N,"ns":best,"checksum":N}`.
 */
import { pathToFileURL } from 'node:url';
import { createLineParser } from '../src/parse/line-parser.js';
import { isSkip, type AccessEvent } from '../src/parse/access-event.js';
import { PRESETS } from '../src/detect/presets.js';
import { gateOf, type Gate } from '../src/detect/prefilter.js';
import { LiteralScanner } from '../src/detect/literal-scanner.js';
import { MAX_PATH_TESTED } from '../src/detect/path-pattern.js';
import { SlidingWindows } from '../src/detect/sliding-window.js';
import { DistinctWindows, hashPath } from '../src/detect/distinct-window.js';
import { firstLines } from './per-line-cost.js';
import { TextMemo } from '../src/detect/text-memo.js';

type Headers = AccessEvent & { readonly request?: string; readonly userAgent?: string; headersMayHold?(chars: readonly string[]): boolean };

/** Every preset's necessary literals of one field (the prefilter's gates), as one scanner. */
function scannerOf(field: keyof Gate): LiteralScanner | null {
  const lits = new Set<string>();
  for (const r of Object.values(PRESETS)) for (const l of gateOf(r.match)?.[field] ?? []) lits.add(l);
  return lits.size === 0 ? null : new LiteralScanner([...lits], [...lits].map((_, i) => i));
}

/** `checksum`: a sum of what the loop computed, returned so that none of it can be optimised away. */
export function floorCost(lines: readonly string[], rounds: number): { lines: number; ns: number; checksum: number } {
  const target = scannerOf('target');
  const request = scannerOf('request');
  const agents = scannerOf('userAgent');
  const crawl = PRESETS['crawl-non-static']!;
  const staticPath = new RegExp(crawl.match.noneOf![0]!.paths[0]!, 'i');
  const seen = new Int32Array(4096);
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r <= rounds; r++) {
    const parse = createLineParser('auto');
    const flood = new SlidingWindows(PRESETS['request-flood']!.findtime, 50_000);
    const paths = new DistinctWindows(crawl.findtime, 50_000, crawl.maxretry);
    const byStatus = new Map<number, SlidingWindows>([400, 401, 403, 404].map((s) => [s, new SlidingWindows(60_000, 50_000)]));
    const uaFound = new Map<string, number>();
    const requests = new TextMemo<{ readonly found: number; readonly isStatic: boolean; readonly hash: number }>(4096);
    let lastUa = '';
    let lastUaFound = 0;
    let gen = 0;
    const t0 = process.hrtime.bigint();
    for (const line of lines) {
      const out = parse(line);
      if (isSkip(out)) continue;
      const ev = out as Headers;
      gen++;
      // What depends on the request line alone, worked out once per distinct one (as the pipeline
      // keeps it: TargetFacts and RequestFacts in rule.ts, text-memo.ts).
      const req = ev.request;
      let facts = req === undefined ? undefined : requests.get(req);
      if (facts === undefined) {
        const t = ev.path;
        let found = 0;
        if (target !== null && target.scanTarget(t, MAX_PATH_TESTED, seen, gen)) found++;
        if (request !== null && req !== undefined && request.scan(req, MAX_PATH_TESTED, seen, gen)) found++;
        const q = t.indexOf('?');
        const path = q < 0 ? t : t.slice(0, q);
        facts = { found, isStatic: staticPath.test(path), hash: hashPath(path) };
        if (req !== undefined) requests.set(req, facts);
      }
      sink += facts.found;
      const ua = ev.userAgent;
      if (agents !== null && ua !== undefined) {
        if (ua !== lastUa) {
          let f = uaFound.get(ua);
          if (f === undefined) {
            agents.scan(ua, MAX_PATH_TESTED, seen, gen);
            uaFound.set(ua, (f = agents.foundCount));
          }
          lastUa = ua;
          lastUaFound = f;
        }
        sink += lastUaFound;
      }
      if (ev.headersMayHold?.(['{']) === true) sink++;
      const ip = ev.ip;
      sink += flood.record(ip, ev.time);
      if (!facts.isStatic) sink += paths.record(ip, ev.time, facts.hash);
      const w = byStatus.get(ev.status);
      if (w !== undefined) sink += w.record(ip, ev.time);
    }
    const ns = Number(process.hrtime.bigint() - t0) / lines.length;
    if (r > 0) best = Math.min(best, ns);
  }
  return { lines: lines.length, ns: best, checksum: sink };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, maxLines = '200000', rounds = '5'] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node bench/dist/bench/preset-floor.js FILE [LINES] [ROUNDS]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(`${JSON.stringify(floorCost(firstLines(file, Number(maxLines)), Number(rounds)))}\n`);
  }
}
