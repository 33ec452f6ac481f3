/**
 * Helper H54: a reload (SIGHUP, the same configuration) between two pieces of a split line. Docker's
 * json-file driver writes a line longer than 16 KiB as several records, and its syslog driver as
 * several messages; the parser holds the first pieces until the rest comes (line-parser.ts). The
 * pipeline built a new parser at every reload, so the rest was read alone: the line was lost (a
 * failure never counted), and a rest that reads as a complete line (the client wrote its start, in
 * the user field it padded past the cut) counted for the address it names. Replay reads the same
 * log without a reload in between (and its parallel spans keep a split line's pieces together), so
 * the same log banned another address live than in replay. A reload now keeps the parser: the
 * format and the trusted proxies it reads with are settings a reload does not change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { Pipeline } from '../../../src/pipeline/pipeline.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { agent, cleanup, NOW } from '../seams-variants/harness.js';
import { clf } from '../../support/clf.js';
import { rng } from '../../support/random.js';

afterEach(cleanup);

const PIECE = 16 * 1024;
const pieces = (line: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += PIECE) out.push(line.slice(i, i + PIECE));
  return out;
};
const record = (log: string): string => JSON.stringify({ log, stream: 'stdout', time: new Date(NOW).toISOString() });
const syslog = (msg: string): string => `<30>Dec  7 10:00:00 web[812]: ${msg}`;

/** The attacker's line: its user field (nginx escapes a byte as \xHH) padded so that the cut falls before a start naming `victim`. */
function attackInUser(client: string, victim: string): string {
  const start = `${client} - `;
  const head = (start + '\\xFF'.repeat(Math.ceil((PIECE - start.length) / 4))).slice(0, PIECE);
  return `${head}${victim} - - [${clf(NOW)}] "GET /private HTTP/1.1" 403 5 "-" "curl"`;
}

/** A 403 whose request is longer than a piece: its status is in the last piece. */
const longRequest = (client: string, n: number): string => `${client} - - [${clf(NOW)}] "GET /private?${'q'.repeat(n)} HTTP/1.1" 403 5 "-" "curl"`;

const ENV = { BANHAMMER_RULES: 'forbidden', BANHAMMER_MAXRETRY: '1', BANHAMMER_BANTIME: '1h' };

/** The bans after the pieces of `lines` are read, with a reload (same configuration) before piece `reloadAt` of each line. */
async function bansWith(lines: string[][], reloadAt: number | null): Promise<string[]> {
  const a = agent({ env: ENV, clock: new ManualClock(NOW) });
  await a.daemon.start();
  for (const ps of lines) {
    for (const [i, p] of ps.entries()) {
      if (i === reloadAt) await a.reloadWith(ENV);
      a.emit(p);
    }
  }
  await a.feed('198.18.9.200', 0);
  const out = a.banned();
  await a.daemon.stop();
  return out;
}

describe('review H54: a reload between two pieces of a split line', () => {
  it('Docker json-file: the line counts for its real client, never for the address its rest names', async () => {
    const ps = pieces(`${attackInUser('198.18.0.43', '198.18.7.10')}\n`).map(record);
    expect(ps.length).toBe(2);
    expect(await bansWith([ps], null)).toEqual(['forbidden 198.18.0.43']);
    expect(await bansWith([ps], 1)).toEqual(['forbidden 198.18.0.43']);
  });

  it('syslog (Docker syslog driver): the same', async () => {
    const ps = pieces(attackInUser('198.18.0.44', '198.18.7.11')).map(syslog);
    expect(await bansWith([ps], null)).toEqual(['forbidden 198.18.0.44']);
    expect(await bansWith([ps], 1)).toEqual(['forbidden 198.18.0.44']);
  });

  it('seeded: long requests over two and three pieces, a reload before any piece, ban as without it', async () => {
    const r = rng(54);
    for (let k = 0; k < 6; k++) {
      const n = PIECE + Math.floor(r() * PIECE * 1.5);
      const client = `198.18.1.${1 + k}`;
      const wrap = k % 2 === 0 ? (l: string): string => record(l) : syslog;
      const ps = pieces(k % 2 === 0 ? `${longRequest(client, n)}\n` : longRequest(client, n)).map(wrap);
      const at = 1 + Math.floor(r() * (ps.length - 1));
      const without = await bansWith([ps], null);
      expect(without).toEqual([`forbidden ${client}`]);
      expect({ k, at, bans: await bansWith([ps], at) }).toEqual({ k, at, bans: without });
    }
  }, 30_000);

  it('a pipeline reconfigured with other trusted proxies or another format reads with them (the parser is kept only when both are the same)', () => {
    const xff = `198.18.0.50, 198.18.200.1 - - [${clf(NOW)}] "GET /private HTTP/1.1" 403 5 "-" "curl"`;
    const mk = (proxies: string, format = 'auto'): ReturnType<typeof loadConfig> => loadConfig({ env: { BANHAMMER_TRUSTED_PROXIES: proxies, BANHAMMER_LOG_FORMAT: format }, hostname: 'unit' });
    const p = new Pipeline({ config: mk('198.18.200.1'), mode: 'live' });
    expect(p.parse(xff)?.ip).toBe('198.18.0.50');
    p.reconfigure(mk('198.18.201.1'), NOW, []);
    expect(p.parse(xff)?.ip).toBe('198.18.200.1');
    p.reconfigure(mk('198.18.200.1'), NOW, []);
    expect(p.parse(xff)?.ip).toBe('198.18.0.50');
    p.reconfigure(mk('198.18.200.1', 'docker-json'), NOW, []);
    expect(p.parse(xff)).toBeNull();
  });
});
