/**
 * Shared by the presets-variants tests: replays log lines with EVERY defined rule (presets on or
 * off, like `banhammer replay --all-rules`) through the replay code the CLI uses, and builds
 * combined-layout lines at given times. Test addresses only (198.18.0.0/15, 2001:db8::/32).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile, type ReplayReport } from '../../../src/replay/replay.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import { isSkip } from '../../../src/parse/access-event.js';
import { compileRule, type CompiledRule } from '../../../src/detect/rule.js';
import { PRESETS } from '../../../src/detect/presets.js';

export async function replayAll(lines: readonly string[], env: Record<string, string> = {}): Promise<ReplayReport> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h1-presets-'));
  const file = join(dir, 'access.log');
  writeFileSync(file, lines.join('\n') + '\n');
  try {
    const config = loadConfig({ env, hostname: 'presets-variants' });
    return await replayFile(file, config, { rules: Object.keys(config.rules), threads: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Seconds since the epoch → `01/Dec/2026:08:00:00 +0000`. */
export function stamp(t: number): string {
  const d = new Date(t * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export const T0 = Date.UTC(2026, 11, 1, 8, 0, 0) / 1000;
export const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
export const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

export function line(ip: string, t: number, request: string, status: number, ua = FIREFOX, referer = '-', bytes = 2048): string {
  return `${ip} - - [${stamp(t)}] "${request}" ${status} ${bytes} "${referer}" "${ua}"`;
}

/** The bans of a report as `ip by rule` strings. */
export const bansOf = (r: ReplayReport): string[] => r.bans.map((b) => `${b.ip} by ${b.rule} (${b.failures} counted)`);

const parse = createLineParser('auto');
const compiled = new Map<string, CompiledRule>();
/** Does preset `name` match this one line (read by the real parser)? */
export function presetMatches(name: string, l: string): boolean {
  let r = compiled.get(name);
  if (r === undefined) compiled.set(name, (r = compileRule(name, PRESETS[name]!)));
  const ev = parse(l);
  if (isSkip(ev)) throw new Error(`skipped (${ev}): ${l}`);
  return r.matches(ev);
}
