/**
 * The comparison point: Debian's `fail2ban-regex` on the benchmark log, with a filter (written to a
 * temporary folder) that matches 403s in Apache combined lines, an explicit date pattern (fail2ban's
 * fastest setting: no template search), `-r` (no DNS), and nothing printed per line. Measures the
 * whole process's wall clock and reads fail2ban's own line and match counts from its summary.
 *
 * fail2ban-regex handles some tens of thousands of lines per second, so a full run on a large log is
 * skipped when a probe on the first `probeLines` lines projects it beyond `boundSeconds`; it is then
 * measured on the first `prefixLines` lines instead, and the result says so.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BanhammerError } from '../src/errors.js';
import { measure } from './measure.js';
import { copyPrefixLines } from './prefix-file.js';

export const FAIL2BAN_REGEX = '/usr/bin/fail2ban-regex';

/**
 * fail2ban removes the matched date from the line before applying failregex, so `[…]` becomes `[]`.
 * The request line may contain Apache's `\"` escapes; the status must follow it. `%` is doubled
 * because filter files go through ConfigParser interpolation.
 */
export const FILTER_CONF = `[Definition]
failregex = ^<ADDR> \\S+ \\S+ \\[\\] "(?:[^"\\\\]|\\\\.)*" 403(?= |$)
datepattern = ^[^\\[]*\\[(%%d/%%b/%%Y:%%H:%%M:%%S %%z)
`;

export interface Fail2banOptions {
  /** Lines in the file (known to the caller). */
  readonly lines: number;
  readonly boundSeconds?: number;
  readonly probeLines?: number;
  readonly prefixLines?: number;
}

export interface Fail2banResult {
  /** Lines fail2ban-regex read (the whole file, or the prefix). */
  readonly lines: number;
  readonly matched: number;
  readonly seconds: number;
  readonly linesPerSecond: number;
  readonly maxRssBytes: number;
  /** True when measured on a prefix of the file. */
  readonly prefix: boolean;
  /** Why a prefix was used, if it was. */
  readonly note?: string;
}

const SUMMARY_RE = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed/;

/** Runs fail2ban-regex once on `file` with our filter; throws unless it exits 0 with a summary. */
async function runOnce(file: string, filter: string, timeoutMs: number) {
  const m = await measure(FAIL2BAN_REGEX, ['-r', '--print-no-missed', '--print-no-ignored', file, filter], { timeoutMs });
  if (m.timedOut) return null;
  const s = SUMMARY_RE.exec(m.stdout);
  if (m.exitCode !== 0 || s === null) {
    throw new BanhammerError('BH_ERR_EXEC', `fail2ban-regex failed on ${file} (exit ${m.exitCode})`, {
      hint: 'check that fail2ban is installed (apt-get install fail2ban) and runs: fail2ban-regex --version',
      data: { stderr: m.stderr.slice(-2000), stdout: m.stdout.slice(-2000) },
    });
  }
  return { lines: Number(s[1]), matched: Number(s[3]), seconds: m.seconds, maxRssBytes: m.maxRssBytes };
}

export async function runFail2banRegex(file: string, opts: Fail2banOptions): Promise<Fail2banResult> {
  const bound = opts.boundSeconds ?? 600;
  const probeLines = opts.probeLines ?? 50_000;
  const prefixLines = opts.prefixLines ?? 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'banhammer-f2b-'));
  try {
    const filter = join(dir, 'banhammer-403.conf');
    writeFileSync(filter, FILTER_CONF);

    const onPrefix = async (note: string): Promise<Fail2banResult> => {
      const part = join(dir, 'prefix.log');
      copyPrefixLines(file, part, prefixLines);
      const r = await runOnce(part, filter, bound * 1000);
      if (r === null) {
        throw new BanhammerError('BH_ERR_EXEC_TIMEOUT', `fail2ban-regex took over ${bound} s on the first ${prefixLines} lines`, {
          hint: 'the machine is very slow or busy; run the bench again with --quick',
        });
      }
      return { ...r, linesPerSecond: r.lines / r.seconds, prefix: true, note };
    };

    if (opts.lines > prefixLines) {
      const probeFile = join(dir, 'probe.log');
      copyPrefixLines(file, probeFile, probeLines);
      const probe = await runOnce(probeFile, filter, bound * 1000);
      const projected = probe === null ? Infinity : (probe.seconds * opts.lines) / probe.lines;
      if (projected > bound) {
        return onPrefix(`full run projected at ${projected.toFixed(0)} s (> ${bound} s bound) from a ${probeLines}-line probe`);
      }
    }
    const full = await runOnce(file, filter, bound * 1000);
    if (full === null) return onPrefix(`full run exceeded the ${bound} s bound`);
    return { ...full, linesPerSecond: full.lines / full.seconds, prefix: false };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
