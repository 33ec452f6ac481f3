/**
 * Issue 9, round 2 audit: the control socket under seeded hostile messages and a mixed hostile load.
 * Invariants: every bad request gets exactly one error answer (or the connection is closed), never a
 * handler call; a good client keeps being answered while others send megabytes without a newline,
 * hold half-open connections or never read; the event loop never stalls more than 100 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type ControlServer } from '../../../src/control/server.js';
import { parseRequest } from '../../../src/control/protocol.js';
import { watchLoopGaps } from '../../support/cpu-time.js';
import { int, pick, prng } from './gen.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-h3-ctl-'));
const socketPath = join(dir, 'ctl.sock');
let server: ControlServer;
const banned: string[] = [];

beforeAll(async () => {
  server = await startControlServer({
    socketPath,
    idleTimeoutMs: 2000,
    handler: {
      status: () => ({ instance: 'h3', enforcer: 'iptables', since: '', files: [], rules: [], pad: 'x'.repeat(200_000) }) as never,
      ban: (ip: string) => void banned.push(ip),
      unban: () => 0,
      unbanAll: () => 0,
      reload: () => {},
      why: () => ({}) as never,
    },
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Hostile request lines: each must be refused by validation. */
function hostile(r: () => number): string {
  const ip = pick(r, ['198.18.0.9', '0.0.0.0', '::', '224.0.0.1', '255.255.255.255', '198.18.0.9%eth0', 'fe80::1%eth0', '198.018.0.9', '0xC6.0x12.0.9', '198.18.0.9x', '198.18.0.0/0', '::/0', '0.0.0.0/0', ' 198.18.0.9', '198.18.0.9\n', '']);
  const forMs = pick(r, ['NaN', 'Infinity', '-Infinity', '1e309', '-1', '0', '"60000"', '1.5', '1e300', '9007199254740993', '[]', '{}', 'true', '"Infinity"']);
  const bad = [
    `{"op":"ban","ip":"${ip}","forMs":${forMs}}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":${forMs}}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":60000,"rule":"${pick(r, ['constructor', '__proto__', 'toString', '../x', 'a/b', '', 'x'.repeat(65)])}"}`,
    `{"op":"ban","__proto__":{"ip":"198.18.0.9","forMs":60000}}`,
    `{"op":"ban","constructor":{"prototype":{"forMs":60000}},"ip":"198.18.0.9"}`,
    `{"op":"${pick(r, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'BAN', 'ban ', 'shutdown', ''])}","ip":"198.18.0.9","forMs":60000}`,
    `[{"op":"ban","ip":"198.18.0.9","forMs":60000}]`,
    `"ban"`, 'null', '1', 'NaN', '{', '{"op":"ban","ip":"198.18.0.9","forMs":60000', `{"op":"ban","ip":["198.18.0.9"],"forMs":60000}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":60000,"v":${pick(r, ['2', '"1"', '0', '1.0000001'])}}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":60000,"permanent":${pick(r, ['"true"', '1', 'true', '[]'])}}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":60000,"extra":1}`,
    `${'['.repeat(20_000 + int(r, 10_000))}`,
    `{"op":"ban","ip":"198.18.0.9","forMs":${'9'.repeat(400)}}`,
    `\u0000\ud800{"op":"ban"}`,
  ];
  return pick(r, bad);
}

function exchange(line: string, timeoutMs = 3000): Promise<{ answers: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const c = createConnection(socketPath);
    let got = '';
    let closed = false;
    const finish = (): void => resolve({ answers: got.split('\n').filter((l) => l !== ''), closed });
    const t = setTimeout(() => (c.destroy(), finish()), timeoutMs);
    c.on('data', (d: Buffer) => (got += d.toString('utf8')));
    c.on('error', () => {});
    c.on('close', () => ((closed = true), clearTimeout(t), finish()));
    c.end(`${line}\n`);
  });
}

describe('control socket: hostile messages', () => {
  it('validation refuses every seeded hostile request (never throws)', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const line = hostile(prng(seed));
      const p = parseRequest(line);
      // The protocol passes any well-formed rule name on (the daemon refuses prototype names, see
      // hardening-variants); nothing else hostile may pass.
      if (p.ok) expect(p.request, line.slice(0, 200)).toEqual({ op: 'ban', ip: '198.18.0.9', forMs: 60000, rule: expect.stringMatching(/^(constructor|__proto__|toString)$/) });
    }
  });
  it('each bad request over the socket gets exactly one error answer and no handler call', async () => {
    const before = banned.length;
    for (let seed = 1; seed <= 120; seed++) {
      const line = hostile(prng(seed));
      const { answers } = await exchange(line);
      expect(answers.length, line.slice(0, 120)).toBeLessThanOrEqual(1);
      if (answers.length === 1) expect(JSON.parse(answers[0]!)).toMatchObject({ ok: false });
    }
    expect(banned.length).toBe(before);
  }, 20_000);

  it('a good client is answered promptly while others flood, hold and never read; the loop never stalls', async () => {
    const hostileSockets: Socket[] = [];
    // Gaps the process ran through (test/support/cpu-time.ts): preemption on a loaded machine does not count.
    const gaps = watchLoopGaps(10);
    try {
      // 80 half-open connections (more than the cap), each with a partial request.
      for (let i = 0; i < 80; i++) {
        const s = createConnection(socketPath);
        s.on('error', () => {});
        s.write('{"op":"ban","ip":"198.18.');
        hostileSockets.push(s);
      }
      // One that sends 4 MB without a newline; one that pipelines statuses and never reads.
      const flood = createConnection(socketPath);
      flood.on('error', () => {});
      flood.write(Buffer.alloc(4 << 20, 0x20));
      hostileSockets.push(flood);
      const deaf = createConnection(socketPath);
      deaf.on('error', () => {});
      deaf.pause();
      deaf.write('{"op":"status"}\n'.repeat(5000));
      hostileSockets.push(deaf);
      // A junk client: 2 MB of newline-separated garbage.
      const junk = createConnection(socketPath);
      junk.on('error', () => {});
      junk.write(Array.from({ length: 40_000 }, (_, i) => (i % 3 === 0 ? '{"op":"nope"}' : i % 3 === 1 ? '\u00ff\u0000' : '[[[[[[[[')).join('\n'));
      hostileSockets.push(junk);

      await new Promise((r) => setTimeout(r, 300));
      const slow: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = performance.now();
        const { answers } = await exchange(`{"op":"ban","ip":"198.18.0.${100 + i}","forMs":60000}`, 4000);
        slow.push(performance.now() - t);
        expect(answers.length).toBe(1);
        expect(JSON.parse(answers[0]!)).toMatchObject({ ok: true });
      }
      expect(banned).toEqual(expect.arrayContaining(Array.from({ length: 10 }, (_, i) => `198.18.0.${100 + i}`)));
      expect(Math.max(...slow)).toBeLessThan(1500);
      expect(gaps.worst() - 10).toBeLessThan(100);
    } finally {
      gaps.stop();
      for (const s of hostileSockets) s.destroy();
    }
  }, 20_000);
});
