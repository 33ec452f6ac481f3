/**
 * A reader that goes away (`banhammer … | head -1`) must stop the built CLI quietly, as SIGPIPE stops
 * a Unix tool: no stack trace on stderr and exit status 141 (128 + SIGPIPE, EXIT_CLOSED_PIPE in
 * src/cli.ts), for every command, on stdout and on stderr, whether the pipe closed before the first
 * write or in the middle of a large output. Other write errors (ENOSPC on /dev/full) are still
 * reported as before. The guard itself (onClosedPipe: exit, ignore for the agent, rethrow) is tested
 * with a fake stream.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CLOSED_PIPE, onClosedPipe } from '../../../src/cli.js';

const ROOT = join(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin/banhammer.js');

let dir: string;
let log: string;

/** 2000 addresses (198.18.0.0/15) with 8 403s each: 2000 forbidden bans, megabytes with --explain. */
function writeLog(path: string): void {
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const ip = `198.18.${i >> 8}.${i & 255}`;
    for (let k = 0; k < 8; k++) {
      const sec = (i % 50) + k;
      lines.push(`${ip} - - [02/Dec/2026:10:${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')} +0000] "GET /private/${i}/${k} HTTP/1.1" 403 100 "-" "Mozilla/5.0"`);
    }
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-pipe-'));
  log = join(dir, 'access.log');
  writeLog(log);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdoutBytes: number;
}

/**
 * Runs the built CLI with `close` ('stdout' or 'stderr') a pipe whose read side the test destroys:
 * at once (`when: 'before'`, before the child wrote anything) or after its first chunk arrived
 * (`'during'`: the child is then blocked in the middle of a large write).
 */
function runClosed(args: string[], close: 'stdout' | 'stderr', when: 'before' | 'during'): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    const closed = close === 'stdout' ? child.stdout : child.stderr;
    const other = close === 'stdout' ? child.stderr : child.stdout;
    let text = '';
    let stdoutBytes = 0;
    other.on('data', (b: Buffer) => {
      if (close === 'stdout') text += b.toString();
      else stdoutBytes += b.length;
    });
    if (when === 'before') closed.destroy();
    else closed.once('data', (b: Buffer) => {
      if (close === 'stdout') stdoutBytes += b.length;
      closed.destroy();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`banhammer ${args.join(' ')} did not stop within 60 s`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr: text, stdoutBytes });
    });
  });
}

function expectQuiet(r: Result): void {
  expect(r.signal).toBeNull();
  expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at |Unhandled|internal error/);
  expect(r.code).toBe(EXIT_CLOSED_PIPE);
}

describe('a closed pipe stops the CLI quietly (exit 141)', () => {
  it('is the conventional status of a tool killed by SIGPIPE: 128 + 13', () => {
    expect(EXIT_CLOSED_PIPE).toBe(128 + 13);
  });

  it('replay --json, stdout closed before the first write', async () => {
    expectQuiet(await runClosed(['replay', log, '--json'], 'stdout', 'before'));
  });

  it('replay --explain (text), stdout closed in the middle of megabytes of output', async () => {
    const r = await runClosed(['replay', log, '--explain'], 'stdout', 'during');
    expect(r.stdoutBytes).toBeGreaterThan(0);
    expectQuiet(r);
  });

  it('replay --json --explain --all-rules, stdout closed in the middle', async () => {
    expectQuiet(await runClosed(['replay', log, '--json', '--explain', '--all-rules'], 'stdout', 'during'));
  });

  it.each([
    [['rules']],
    [['rules', '--json']],
    [['check-config']],
    [['check-config', '--json']],
    [['help']],
    [['version']],
  ])('%j with stdout closed', async (args) => {
    expectQuiet(await runClosed(args, 'stdout', 'before'));
  });

  it('an error message on a closed stderr (unknown command; status without an agent)', async () => {
    for (const args of [['no-such-command'], ['status']]) {
      const r = await runClosed(args, 'stderr', 'before');
      expect(r.signal).toBeNull();
      expect(r.code, args.join(' ')).toBe(EXIT_CLOSED_PIPE);
      expect(r.stdoutBytes).toBe(0);
    }
  });

  it('other write errors are still reported: stdout on /dev/full fails with ENOSPC, exit 1', async () => {
    if (!existsSync('/dev/full')) return;
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'rules'], { cwd: ROOT, stdio: ['ignore', fd, 'pipe'] as StdioOptions, env: { PATH: process.env.PATH ?? '' } });
        let stderr = '';
        child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ENOSPC');
    } finally {
      closeSync(fd);
    }
  });
});

describe('onClosedPipe', () => {
  it('exit: EPIPE exits once with 141; later errors of the dead stream are ignored', () => {
    const s = new EventEmitter();
    const codes: number[] = [];
    onClosedPipe(s, 'exit', (c) => codes.push(c));
    s.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    s.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    s.emit('error', Object.assign(new Error('destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
    expect(codes).toEqual([141]);
  });

  it('ignore (the agent): EPIPE neither exits nor throws', () => {
    const s = new EventEmitter();
    const codes: number[] = [];
    onClosedPipe(s, 'ignore', (c) => codes.push(c));
    expect(() => s.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).not.toThrow();
    expect(codes).toEqual([]);
  });

  it('any other error is rethrown, as an unhandled stream error was', () => {
    for (const mode of ['exit', 'ignore'] as const) {
      const s = new EventEmitter();
      const codes: number[] = [];
      onClosedPipe(s, mode, (c) => codes.push(c));
      expect(() => s.emit('error', Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' }))).toThrow('ENOSPC');
      expect(codes).toEqual([]);
    }
  });
});
