/**
 * Issue 3 (`banhammer status`: "... plus the files watched"): two defects found by an audit, fixed.
 * - A configured log path that did not exist yet (the tailer waits for it) was not listed: status said
 *   "Files watched: 0" and an empty File list. Now every configured path or glob is listed, one with no
 *   file yet as `exists: false` ("no such file yet: waiting for it").
 * - With two files, the source's total lag was "spread as 0", so a file 5 MB behind showed
 *   "(up to date)". Now Daemon.status passes the tailer's own per-file account (Tailer.progress(),
 *   which the metrics also read) and each file shows its own lag.
 */
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon, type LineSourceFactory } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { createTailer } from '../../../src/source/tailer.js';
import { formatStatus } from '../../../src/control/format-status.js';
import type { FilePosition, LineSource } from '../../../src/source/line-source.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { Store, NOW } from '../seams-variants/harness.js';

const dirs: string[] = [];
const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const logger = { debug() {}, error() {}, info() {}, warn() {} };
function daemonWith(env: Record<string, string>, createSource: LineSourceFactory): Daemon {
  const config = loadConfig({ env, hostname: 'unit' });
  const d = new Daemon({ config, clock: new ManualClock(NOW), logger, enforcer: new RecordingEnforcer(), store: new Store(), createSource, hostAddresses: [] });
  daemons.push(d);
  return d;
}

describe('status: the files watched (issue 3)', () => {
  it('a log path that does not exist yet is listed (the agent is waiting for it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-arv-'));
    dirs.push(dir);
    const p = join(dir, 'access.log');
    const d = daemonWith({ BANHAMMER_LOG_PATH: p }, (o) => createTailer({ ...o, pollIntervalMs: 60_000 }));
    await d.start();
    const s = d.status();
    expect(s.files.map((f) => f.path)).toEqual([p]);
    expect(formatStatus(s, 'forbidden')).toContain(`File list:\t${p}`);
  });

  it('two files, one 5,000,000 bytes behind: that one is not shown "up to date"', async () => {
    const source: LineSource & { progress(): { path: string; lines: number; unreadBytes: number }[] } = {
      async start() {},
      async stop() {},
      positions: (): FilePosition[] => [
        { path: '/var/log/a.log', dev: '1', ino: '1', offset: 10 },
        { path: '/var/log/b.log', dev: '1', ino: '2', offset: 10 },
      ],
      lagBytes: () => 5_000_000,
      progress: () => [
        { path: '/var/log/a.log', lines: 1, unreadBytes: 5_000_000 },
        { path: '/var/log/b.log', lines: 1, unreadBytes: 0 },
      ],
      stats: () => ({ files: 2, lines: 2, overlongLines: 0, rotations: 0, truncations: 0 }),
    };
    const d = daemonWith({ BANHAMMER_LOG_PATH: '/var/log/a.log,/var/log/b.log' }, () => source);
    await d.start();
    const s = d.status();
    expect(s.files.find((f) => f.path === '/var/log/a.log')?.lagBytes).toBe(5_000_000);
    expect(formatStatus(s)).not.toMatch(/a\.log\t\(up to date\)/);
  });

  it('a real tailer: each file its own lag, a glob matching nothing waits, JSON keeps path and lagBytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-arv-'));
    dirs.push(dir);
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    writeFileSync(a, '');
    writeFileSync(b, '');
    const glob = join(dir, 'later', '*.log');
    const d = daemonWith({ BANHAMMER_LOG_PATH: `${a},${b},${glob}` }, (o) => createTailer({ ...o, pollIntervalMs: 60_000, watchDir: null }));
    await d.start();
    // Written after start, not read yet (no watcher, the poll is a minute away): a is 5000 bytes behind.
    appendFileSync(a, 'x'.repeat(4999) + '\n');
    // What the control socket asks (statusInSlices): it learns the files' sizes first, asynchronously
    // (review H53: a synchronous fstat there blocked the agent on a log mount that hangs).
    const s = await d.statusInSlices();
    expect(s.files).toEqual([
      { path: a, lagBytes: 5000, exists: true },
      { path: b, lagBytes: 0, exists: true },
      { path: glob, lagBytes: 0, exists: false },
    ]);
    const text = formatStatus(s);
    expect(text).toContain('|- Files watched:\t3');
    expect(text).toContain(`|  |- ${a}\t(5000 bytes behind)`);
    expect(text).toContain(`|  |- ${b}\t(up to date)`);
    expect(text).toContain(`|  \`- ${glob}\t(no such file yet: waiting for it)`);
  });
});
