/**
 * Parse-stage validation on real logs (issue 13): every log file under the corpus (default
 * ../shared/corpus, read-only, never copied into the repository) is parsed line by line with
 * createLineParser('auto'), and per file the events and skips (by reason) are printed.
 *
 *   npx tsx bench/parse-corpus.ts [--corpus DIR] [--against OTHER/src/parse/line-parser.ts]
 *                                 [--trusted-proxies CIDR,CIDR] [--show N]
 *
 * --against: another checkout's parser (e.g. `git worktree add /tmp/base HEAD~5`), run on the same
 * lines. Then a "regression" is a line the other parser read as an event whose address or status
 * this one reads differently or skips; lines this one newly reads (or reads differently because of a
 * layout the other did not know) are listed as "changed". The exit code is 1 when there is any
 * regression, so the check can gate a change. --show prints up to N examples of each.
 * Files: everything under the corpus except READMEs, YAML and CrowdSec's *.assert files.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isSkip, type ParseOutcome } from '../src/parse/access-event.js';
import { createLineParser, type LineParserOptions } from '../src/parse/line-parser.js';

type Parser = (line: string, stream?: string) => ParseOutcome;
type Factory = (format: 'auto', opts?: LineParserOptions) => Parser;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function logFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...logFiles(p));
    else if (!/\.(ya?ml|assert|md)$/i.test(name) && name !== 'README') out.push(p);
  }
  return out;
}

const key = (o: ParseOutcome): string => (isSkip(o) ? `skip:${o}` : `${o.ip} ${o.status}`);

async function main(): Promise<number> {
  const corpus = resolve(arg('--corpus') ?? join(import.meta.dirname, '../../shared/corpus'));
  if (!existsSync(corpus)) {
    console.log(`no corpus at ${corpus}: nothing to validate`);
    return 0;
  }
  const against = arg('--against');
  const show = Number(arg('--show') ?? 5);
  const tp = arg('--trusted-proxies');
  const opts: LineParserOptions = tp === undefined ? {} : { trustedProxies: tp.split(',').filter((s) => s !== '') };
  let other: Factory | undefined;
  if (against !== undefined) {
    const mod = (await import(pathToFileURL(resolve(against)).href)) as { createLineParser: Factory };
    other = mod.createLineParser;
  }

  const total = { lines: 0, events: 0, otherEvents: 0, regressions: 0, changed: 0 };
  const examples: { regression: string[]; changed: string[] } = { regression: [], changed: [] };
  const rows: string[] = [];
  for (const file of logFiles(corpus)) {
    const name = relative(corpus, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    const p = createLineParser('auto', opts);
    const q = other?.('auto', opts);
    let events = 0;
    let otherEvents = 0;
    let regressions = 0;
    let changed = 0;
    const skips = new Map<string, number>();
    for (const line of lines) {
      const o = p(line, name);
      if (isSkip(o)) skips.set(o, (skips.get(o) ?? 0) + 1);
      else events++;
      if (q === undefined) continue;
      const b = q(line, name);
      if (!isSkip(b)) otherEvents++;
      if (key(o) === key(b)) continue;
      if (!isSkip(b)) {
        regressions++;
        if (examples.regression.length < show) examples.regression.push(`${name}: ${key(b)} → ${key(o)}: ${line.slice(0, 160)}`);
      } else {
        changed++;
        if (examples.changed.length < show) examples.changed.push(`${name}: ${key(b)} → ${key(o)}: ${line.slice(0, 160)}`);
      }
    }
    total.lines += lines.length;
    total.events += events;
    total.otherEvents += otherEvents;
    total.regressions += regressions;
    total.changed += changed;
    const skipText = [...skips].map(([r, n]) => `${r} ${n}`).join(', ');
    const vs = q === undefined ? '' : ` (other: ${otherEvents}; regressions ${regressions}, changed ${changed})`;
    rows.push(`${name.padEnd(64)} ${String(lines.length).padStart(6)} lines ${String(events).padStart(6)} events${vs}${skipText ? `  skipped: ${skipText}` : ''}`);
  }
  for (const r of rows) console.log(r);
  console.log(
    `\n${total.lines} lines, ${total.events} events` +
      (other === undefined ? '' : ` (other parser: ${total.otherEvents}); regressions ${total.regressions}, changed ${total.changed}`),
  );
  for (const [what, list] of Object.entries(examples)) {
    if (list.length > 0) console.log(`\n${what}:\n  ${list.join('\n  ')}`);
  }
  return total.regressions > 0 ? 1 : 0;
}

process.exitCode = await main();
