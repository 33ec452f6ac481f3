// A copytruncate rotation scenario driven by hand (the follower reads only when poked, so each run
// is deterministic): a writer (O_APPEND, or without it: NULs up to its offset after each
// truncation), logrotate's copytruncate with numbered (`rotate N`) or dated (`dateext`) copies,
// optionally gzip for copies past the first (`compress` + `delaycompress`), reads at chosen points,
// restarts of the agent (positions saved and handed to a new follower) and copies deleted. Every
// line carries a unique number; the result says what was lost, what came twice and what came that
// was never written.
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { systemClock } from '../../../src/clock.js';
import { FileFollower } from '../../../src/source/file-follower.js';
import type { FilePosition } from '../../../src/source/line-source.js';

export const line = (i: number): string => `198.18.${(i >> 8) & 255}.${i & 255} - - [06/Dec/2026:10:00:00 +0000] "GET /wp-login.php?n=${i} HTTP/1.1" 403 199 "-" "curl/8.0"`;
/** The line every generation starts with in `sameHead` runs (a health check right after rotation). */
export const HEALTH = '198.19.255.254 - - [06/Dec/2026:10:00:00 +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"';
/** The same probe at generation g's own second (a generation's first bytes differ by their time). */
const healthAt = (g: number): string => HEALTH.replace('10:00:00', `10:${String(Math.floor(g / 60) % 60).padStart(2, '0')}:${String(g % 60).padStart(2, '0')}`);

export interface Scenario {
  gens: number;
  per: (g: number) => number;
  writer: 'append' | 'nulgap';
  naming: 'numbered' | 'dateext';
  /** Copies kept (numbered: older ones removed). */
  keep: number;
  /** gzip every copy but the newest (compress + delaycompress). */
  compress: boolean;
  /** Health-check lines at the start of each generation. */
  sameHead: number;
  /** The health-check lines are byte-identical in every generation (else each has its own second). */
  identicalHealth?: boolean;
  /** Read after generation g's lines were written (before its copy). */
  readAfter: ReadonlySet<number>;
  /** Read right after generation g's health-check lines (when sameHead > 0). */
  headRead?: ReadonlySet<number>;
  /** Read in the middle of generation g's lines. */
  midRead: ReadonlySet<number>;
  /** Restart the agent (positions saved, a new follower) after the read after generation g. */
  restartAfter: ReadonlySet<number>;
  /** Delete the newest copy right after generation g's copytruncate. */
  deleteCopyAfter: ReadonlySet<number>;
  /** Wait past the file system's clock tick between copies (distinct modification times). */
  spaced: boolean;
}

export interface Outcome {
  missing: number;
  firstMissing: string[];
  twice: number;
  foreign: number;
  errors: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A follower of `path` from its start (or from `saved`), as the tests here drive it: reads only when
 * poked, lines into `got`, errors into `errors`; init() done.
 */
export async function startFollower(path: string, saved: FilePosition[], got: string[], errors: string[]): Promise<FileFollower> {
  const f = new FileFollower({
    path,
    startAt: 'start',
    saved,
    onLine: (l) => got.push(l),
    onError: (e) => errors.push(e.message),
    onWarning: () => undefined,
    clock: systemClock,
    maxLineBytes: 64 * 1024,
    rotateWaitMs: 60_000,
    counters: { lines: 0, rotations: 0, truncations: 0 },
  });
  await f.init();
  return f;
}

export async function runScenario(dir: string, s: Scenario): Promise<Outcome & { wantLines: number }> {
  const p = join(dir, 'access.log');
  writeFileSync(p, '');
  const got: string[] = [];
  const errors: string[] = [];
  let follower: FileFollower | null = null;
  const make = (saved: FilePosition[]): Promise<FileFollower> => startFollower(p, saved, got, errors);
  follower = await make([]);
  const read = async (): Promise<void> => {
    follower!.poke();
    await follower!.idle();
  };
  const fd = s.writer === 'nulgap' ? openSync(p, 'r+') : openSync(p, 'a');
  let pos = 0;
  const write = (t: string): void => {
    const b = Buffer.from(t);
    if (s.writer === 'nulgap') pos += writeSync(fd, b, 0, b.length, pos);
    else writeSync(fd, b);
  };
  const want: string[] = [];
  const copies: string[] = []; // dateext names, oldest first
  let i = 0;
  try {
    for (let g = 0; g < s.gens; g++) {
      for (let h = 0; h < s.sameHead; h++) write(`${s.identicalHealth === false ? healthAt(g) : HEALTH}\n`);
      if (s.headRead?.has(g)) await read();
      const per = s.per(g);
      for (let j = 0; j < per; j++, i++) {
        write(`${line(i)}\n`);
        want.push(line(i));
        if (s.midRead.has(g) && j === per >> 1) await read();
      }
      if (s.readAfter.has(g)) await read();
      if (s.restartAfter.has(g)) {
        await read();
        const saved = follower.positions();
        await follower.stop();
        follower = await make(saved);
      }
      if (s.spaced) await sleep(12);
      // logrotate copytruncate
      if (s.naming === 'numbered') {
        for (let k = s.keep; k >= 1; k--) {
          for (const ext of ['', '.gz']) {
            if (!existsSync(`${p}.${k}${ext}`)) continue;
            if (k === s.keep) rmSync(`${p}.${k}${ext}`);
            else renameSync(`${p}.${k}${ext}`, `${p}.${k + 1}${ext}`);
          }
        }
        if (s.compress && existsSync(`${p}.2`)) {
          writeFileSync(`${p}.2.gz`, gzipSync(readFileSync(`${p}.2`)));
          rmSync(`${p}.2`);
        }
        copyFileSync(p, `${p}.1`);
        copies.push(`${p}.1`);
      } else {
        const name = `${p}-2026120${String(g).padStart(4, '0')}`;
        if (s.compress && copies.length > 0) {
          const prev = copies[copies.length - 1]!;
          if (existsSync(prev)) {
            writeFileSync(`${prev}.gz`, gzipSync(readFileSync(prev)));
            rmSync(prev);
          }
        }
        copyFileSync(p, name);
        copies.push(name);
        while (copies.length > s.keep) rmSync(copies.shift()!, { force: true });
        for (const c of copies.slice(0, -s.keep)) rmSync(c, { force: true });
      }
      truncateSync(p, 0);
      if (s.deleteCopyAfter.has(g)) rmSync(copies[copies.length - 1]!, { force: true });
    }
    for (let k = 0; k < 3; k++) await read();
  } finally {
    closeSync(fd);
    await follower.stop();
  }
  const counts = new Map<string, number>();
  for (const l of got) if (!l.includes('/healthz')) counts.set(l, (counts.get(l) ?? 0) + 1);
  const wantSet = new Set(want);
  const missing = want.filter((l) => !counts.has(l));
  return {
    wantLines: want.length,
    missing: missing.length,
    firstMissing: missing.slice(0, 2),
    twice: [...counts.values()].filter((n) => n > 1).length,
    foreign: got.filter((l) => !l.includes('/healthz') && !wantSet.has(l)).length,
    errors,
  };
}
