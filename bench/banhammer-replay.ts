/**
 * Runs `banhammer replay FILE --json` as a child process (`node bin/banhammer.js …`, so startup is
 * part of the measurement) and reads its documented JSON output:
 * `{"lines":N,"parsed":N,"skipped":N,"matches":{"rule":N},"bans":[{"ip","rule","at":ISO,"failures"}]}`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BanhammerError } from '../src/errors.js';
import type { BanRecord } from './compare-bans.js';
import { measure } from './measure.js';

export interface ReplayOutput {
  readonly lines: number;
  readonly parsed: number;
  readonly skipped: number;
  readonly matches: Readonly<Record<string, number>>;
  readonly bans: readonly BanRecord[];
}

export interface ReplayRun {
  readonly seconds: number;
  readonly maxRssBytes: number;
  readonly output: ReplayOutput;
}

/** Validates and converts the CLI's JSON (ISO `at` → ms). Throws BH_ERR_EXEC naming what is off. */
export function parseReplayJson(text: string): ReplayOutput {
  const bad = (what: string): BanhammerError =>
    new BanhammerError('BH_ERR_EXEC', `banhammer replay --json printed unexpected output: ${what}`, {
      hint: 'the replay JSON contract is {"lines","parsed","skipped","matches":{},"bans":[{"ip","rule","at","failures"}]}',
      data: { output: text.slice(0, 500) },
    });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw bad('not an object');
  const d = doc as Record<string, unknown>;
  for (const k of ['lines', 'parsed', 'skipped']) if (typeof d[k] !== 'number') throw bad(`"${k}" is not a number`);
  if (typeof d.matches !== 'object' || d.matches === null) throw bad('"matches" is not an object');
  if (!Array.isArray(d.bans)) throw bad('"bans" is not an array');
  const bans = d.bans.map((b: unknown, i: number): BanRecord => {
    const o = b as Record<string, unknown>;
    const at = typeof o?.at === 'string' ? Date.parse(o.at) : NaN;
    if (typeof o?.ip !== 'string' || typeof o.rule !== 'string' || typeof o.failures !== 'number' || Number.isNaN(at)) {
      throw bad(`bans[${i}] is not {ip, rule, at: ISO time, failures}`);
    }
    return { ip: o.ip, rule: o.rule, at, failures: o.failures };
  });
  return {
    lines: d.lines as number,
    parsed: d.parsed as number,
    skipped: d.skipped as number,
    matches: d.matches as Record<string, number>,
    bans,
  };
}

/** One timed replay of `file`; `root` is the repository (holding bin/ and dist/). */
export async function runBanhammerReplay(root: string, file: string): Promise<ReplayRun> {
  const bin = join(root, 'bin', 'banhammer.js');
  // What bin/banhammer.js runs: the bundle, not tsc's per-module output.
  const bundle = join(root, 'dist', 'banhammer.js');
  if (!existsSync(bundle)) {
    throw new BanhammerError('BH_ERR_MISSING_BINARY', `${bundle} not found`, {
      hint: 'build banhammer first: npm run build (npm run bench does it)',
    });
  }
  const m = await measure(process.execPath, [bin, 'replay', file, '--rule', 'forbidden', '--json'], { cwd: root });
  if (m.exitCode !== 0) {
    throw new BanhammerError('BH_ERR_EXEC', `banhammer replay exited with ${m.exitCode}`, {
      hint: 'run it by hand to see why: node bin/banhammer.js replay FILE --json',
      data: { stderr: m.stderr.slice(-2000) },
    });
  }
  return { seconds: m.seconds, maxRssBytes: m.maxRssBytes, output: parseReplayJson(m.stdout) };
}
