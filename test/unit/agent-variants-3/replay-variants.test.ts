/**
 * Audit of issue 2 (replay), round 1 of variants (helper H3): passing variants kept as regression
 * checks. bantime -1 never expires (README "Configuration"); lines longer than replay's read buffer
 * and than the live cap count as the live agent counts them (their head); ignoreip CIDRs of both
 * families; CRLF files on one and several threads give the same bans.
 *
 * Defect (fixed): a compressed log was refused as a file (access.log.2.gz) but replayed silently as
 * "no bans", exit 0, when piped in without its zcat (`cat access.log.2.gz | banhammer replay
 * /dev/stdin`, `replay <(cat …gz)`): the README's own form for rotated logs, one command forgotten.
 */
import { execFileSync, spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const l = (ip: string, s: number, ua = 'curl/8') => `${ip} - - [${clf(T0 + s * 1000)}] "GET /private HTTP/1.1" 403 10 "-" "${ua}"`;
const burst = (ip: string, from: number, n = 5) => Array.from({ length: n }, (_, i) => l(ip, from + i));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(lines: string[], eol = '\n'): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-h3r-'));
  dirs.push(d);
  writeFileSync(join(d, 'access.log'), lines.join(eol) + eol);
  return join(d, 'access.log');
}
async function replayJson(env: Record<string, string>, path: string) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env, hostname: 't', stderrIsTTY: false };
  const code = await main(['replay', path, '--json'], io);
  return { code, err: err.join(''), j: code === 0 ? (JSON.parse(out.join('')) as { bans: { ip: string; at: string; failures: number }[] }) : null };
}

describe('replay: fail2ban settings', () => {
  it('bantime -1: one permanent ban, a second burst hours later is no new ban; --json shows it like any ban', async () => {
    const p = file([...burst('198.18.1.1', 0), ...burst('198.18.1.1', 7200), ...burst('198.18.1.1', 86_400 * 30)]);
    const r = await replayJson({ BANHAMMER_BANTIME: '-1' }, p);
    expect(r.code).toBe(0);
    expect(r.j!.bans.map((b) => `${b.ip} ${b.at} ${b.failures}`)).toEqual(['198.18.1.1 2026-11-23T09:00:04.000Z 5']);
    const control = await replayJson({ BANHAMMER_BANTIME: '1h' }, p);
    expect(control.j!.bans).toHaveLength(3);
  });

  it('ignoreip: IPv4 and IPv6 CIDRs (IPv6 written in another case in the log) are never banned; a hostname is refused with exit 2', async () => {
    const p = file([...burst('198.18.1.1', 0), ...burst('2001:DB8::1', 0), ...burst('198.18.2.1', 0)]);
    const r = await replayJson({ BANHAMMER_IGNOREIP: '198.18.1.0/24, 2001:db8::/32' }, p);
    expect(r.j!.bans.map((b) => b.ip)).toEqual(['198.18.2.1']);
    const bad = await replayJson({ BANHAMMER_IGNOREIP: 'example.org' }, p);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/ignoreip\[0\] = "example\.org"/);
  });
});

describe('replay: long and CRLF lines', () => {
  it('3 MB lines (past the read buffer and the live cap) count by their head, on 1 and 2 threads, LF and CRLF alike', async () => {
    const config = loadConfig({ env: {}, hostname: 't' });
    const big = 'x'.repeat(3 << 20);
    const lines = [...Array.from({ length: 5 }, (_, i) => l('198.18.5.5', i, big)), ...burst('198.18.6.6', 0)];
    for (const eol of ['\n', '\r\n']) {
      const p = file(lines, eol);
      for (const threads of [1, 2]) {
        const r = await replayFile(p, config, { rules: [], threads });
        expect({ eol, threads, lines: r.lines, parsed: r.parsed }).toEqual({ eol, threads, lines: 10, parsed: 10 });
        expect(r.bans.map((b) => `${b.ip} ${b.failures}`).sort()).toEqual(['198.18.5.5 5', '198.18.6.6 5']);
      }
    }
  }, 30_000);
});

describe('replay of a pipe: compressed input is refused as a compressed file is', () => {
  /** Replays through a FIFO that a child process writes `bytes` into, `piece` bytes at a time. */
  async function throughFifo(bytes: Buffer, piece = bytes.length) {
    const d = mkdtempSync(join(tmpdir(), 'bh-h3p-'));
    dirs.push(d);
    const fifo = join(d, 'fifo');
    execFileSync('mkfifo', [fifo]);
    writeFileSync(join(d, 'data'), bytes);
    const script = `const fs=require('fs');const b=fs.readFileSync(${JSON.stringify(join(d, 'data'))});const fd=fs.openSync(${JSON.stringify(fifo)},'w');let i=0;const step=()=>{if(i>=b.length){fs.closeSync(fd);return}try{fs.writeSync(fd,b.subarray(i,i+${piece}))}catch{return}i+=${piece};setTimeout(step,2)};step();`;
    const writer = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const exited = new Promise((r) => writer.once('exit', r));
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (x) => out.push(x), stderr: (x) => err.push(x), env: {}, hostname: 't', stderrIsTTY: false };
    const code = await main(['replay', fifo, '--json'], io);
    writer.kill();
    await exited;
    return { code, out: out.join(''), err: err.join('') };
  }
  const log = [...burst('198.18.7.7', 0), ...burst('198.18.7.8', 0)].join('\n') + '\n';

  it('gzip piped in whole or a byte at a time, bzip2, xz and zstd: exit 2, one line naming it, nothing on stdout', async () => {
    for (const [name, bytes, piece] of [
      ['gzip', gzipSync(log), undefined],
      ['gzip', gzipSync(log), 1],
      ['bzip2', Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(64)]), undefined],
      ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4, 0, 0]), undefined],
      ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), undefined],
    ] as const) {
      const r = await throughFifo(bytes, piece);
      expect({ name, code: r.code }).toEqual({ name, code: 2 });
      expect(r.out).toBe('');
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toContain(`compressed (${name})`);
    }
  }, 20_000);

  it('control: plain text piped in a byte at a time, and inputs shorter than the magic (with newlines), read whole', async () => {
    const r = await throughFifo(Buffer.from(log), 1);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { bans: { ip: string }[] }).bans.map((b) => b.ip)).toEqual(['198.18.7.7', '198.18.7.8']);
    for (const [text, lines] of [['a\nb\n', 2], ['x\ny', 2], ['\n', 1], ['', 0], ['BZh9\n', 1]] as const) {
      const s = await throughFifo(Buffer.from(text), 1);
      expect({ text, code: s.code }).toEqual({ text, code: 0 });
      expect((JSON.parse(s.out) as { lines: number }).lines).toBe(lines);
    }
  }, 20_000);
});
