/**
 * Audit of issues 2 (replay) and 3 (live agent): hostile variants the current code handles (cheap
 * regression tests). The failing variants live in the *-fail.test.ts files here.
 */
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { Tailer } from '../../../src/source/tailer.js';
import { startControlServer } from '../../../src/control/server.js';
import { formatStatus } from '../../../src/control/format-status.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { startMetricsServer } from '../../../src/metrics/server.js';
import { stubControlHandler } from '../../fakes/control-handler.js';
import { clf } from '../../support/clf.js';
import { agent, cleanup, line, settle } from '../seams-variants/harness.js';

const T0 = Date.UTC(2026, 10, 23, 9, 0, 0);
const l = (ip: string, s: number, ua = 'curl/8') => `${ip} - - [${clf(T0 + s * 1000)}] "GET /private HTTP/1.1" 403 10 "-" "${ua}"`;
const dirs: string[] = [];
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  cleanup();
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-arv-'));
  dirs.push(d);
  return d;
}
async function replay(file: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {}, hostname: 'test', stderrIsTTY: false };
  const code = await main(['replay', file, ...args], cli);
  return { code, out: out.join(''), err: err.join('') };
}
type Json = { lines: number; parsed: number; skipped: number; matches: Record<string, number>; bans: { ip: string; rule: string; at: string; failures: number }[] };

describe('issue 2: replay variants', () => {
  it('a directory, an empty path and a missing file: one error line, exit 2, nothing on stdout', async () => {
    const d = tmp();
    for (const f of [d, '', join(d, 'nope')]) {
      const r = await replay(f, '--json');
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });

  it('--json has exactly the documented keys (and --explain adds only evidence); repeat ban after expiry; mapped, uppercase IPv6, loopback-mapped and hostnames', async () => {
    const d = tmp();
    const lines = [
      ...Array.from({ length: 20 }, (_, i) => l('198.18.4.1', i)), // one ban, not four
      ...Array.from({ length: 5 }, (_, i) => l('198.18.4.1', 3700 + i)), // after the hour: a second ban
      ...Array.from({ length: 3 }, (_, i) => l('::ffff:198.18.4.2', i)),
      ...Array.from({ length: 2 }, (_, i) => l('198.18.4.2', 5 + i)), // 3 mapped + 2 plain = one client
      ...Array.from({ length: 5 }, (_, i) => l('2001:DB8:0:0:0:0:0:A', i)),
      ...Array.from({ length: 5 }, (_, i) => l('::ffff:127.0.0.1', i)), // loopback: never
      ...Array.from({ length: 5 }, (_, i) => l('www.example.org', i)), // skipped
    ];
    writeFileSync(join(d, 'v.log'), lines.join('\n')); // no trailing newline
    const r = await replay(join(d, 'v.log'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Json;
    expect(Object.keys(j)).toEqual(['lines', 'parsed', 'skipped', 'matches', 'bans']);
    expect(j).toMatchObject({ lines: 45, parsed: 40, skipped: 5 });
    expect(j.bans.map((b) => `${b.ip} ${b.at} ${b.failures}`)).toEqual([
      '198.18.4.1 2026-11-23T09:00:04.000Z 5',
      '198.18.4.1 2026-11-23T10:01:44.000Z 5',
      '198.18.4.2 2026-11-23T09:00:06.000Z 5',
      '2001:db8::a 2026-11-23T09:00:04.000Z 5',
    ]);
    for (const b of j.bans) expect(Object.keys(b)).toEqual(['ip', 'rule', 'at', 'until', 'failures']);
    const x = JSON.parse((await replay(join(d, 'v.log'), '--json', '--explain')).out) as { bans: object[] };
    expect(Object.keys(x.bans[0]!)).toEqual(['ip', 'rule', 'at', 'until', 'failures', 'evidence', 'evidenceOmitted']);
  });

  it('NUL in the User-Agent still counts; NUL glued to the address is skipped as binary', async () => {
    const d = tmp();
    writeFileSync(join(d, 'n.log'), [...Array.from({ length: 5 }, (_, i) => l('198.18.3.4', i, 'a\0b')), l('198.18.3.6\0', 9)].join('\n') + '\n');
    const j = JSON.parse((await replay(join(d, 'n.log'), '--json')).out) as Json;
    expect(j).toMatchObject({ lines: 6, parsed: 5, skipped: 1 });
    expect(j.bans.map((b) => b.ip)).toEqual(['198.18.3.4']);
  });

  it('plain, Docker json-file and syslog lines of one client in one file count together', async () => {
    const d = tmp();
    const lines = [
      l('198.18.3.7', 0),
      JSON.stringify({ log: `${l('198.18.3.7', 1)}\n`, stream: 'stdout', time: new Date(T0 + 1000).toISOString() }),
      `<190>Nov 23 09:00:02 host web[1]: ${l('198.18.3.7', 2)}`,
      l('198.18.3.7', 3),
      l('198.18.3.7', 4),
    ];
    writeFileSync(join(d, 'm.log'), lines.join('\r\n') + '\r\n');
    const j = JSON.parse((await replay(join(d, 'm.log'), '--json')).out) as Json;
    expect(j.parsed).toBe(5);
    expect(j.bans.map((b) => `${b.ip} ${b.failures}`)).toEqual(['198.18.3.7 5']);
  });
});

describe('issue 3: tailer variants', () => {
  async function follow(path: string, pollIntervalMs = 60_000) {
    const lines: string[] = [];
    const warnings: string[] = [];
    const t = new Tailer({ paths: [path], onLine: (x) => lines.push(x), onWarning: (w) => warnings.push(w), rotateWaitMs: 300, pollIntervalMs });
    stops.push(() => t.stop());
    await t.start();
    await t.settle();
    return { t, lines, warnings };
  }

  it('control for the latency failures: a plain file with the poll at 60 s gets its line within 1.5 s', async () => {
    const d = tmp();
    writeFileSync(join(d, 'access.log'), 'old\n');
    const h = await follow(join(d, 'access.log'));
    await new Promise((r) => setTimeout(r, 300));
    appendFileSync(join(d, 'access.log'), 'new\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['new']), { timeout: 1500, interval: 10 });
  });

  it('symlink swapped to another file: the old target drained, the new one read from its start, every line once', async () => {
    const d = tmp();
    writeFileSync(join(d, 'v1.log'), 'x\n');
    symlinkSync('v1.log', join(d, 'access.log'));
    const h = await follow(join(d, 'access.log'), 100);
    appendFileSync(join(d, 'v1.log'), 'a1\n');
    await vi.waitFor(() => expect(h.lines).toContain('a1'), { timeout: 3000, interval: 10 });
    writeFileSync(join(d, 'v2.log'), 'b1\n');
    symlinkSync('v2.log', join(d, 'tmp.lnk'));
    renameSync(join(d, 'tmp.lnk'), join(d, 'access.log'));
    appendFileSync(join(d, 'v1.log'), 'a2\n');
    appendFileSync(join(d, 'v2.log'), 'b2\n');
    await vi.waitFor(() => expect([...h.lines].sort()).toEqual(['a1', 'a2', 'b1', 'b2']), { timeout: 3000, interval: 10 });
    await new Promise((r) => setTimeout(r, 400));
    expect([...h.lines].sort()).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it('the log path replaced by a directory, then by a file again: one warning, the new file read from 0', async () => {
    const d = tmp();
    const p = join(d, 'access.log');
    writeFileSync(p, 'x\n');
    const h = await follow(p, 100);
    appendFileSync(p, 'a1\n');
    await vi.waitFor(() => expect(h.lines).toContain('a1'), { timeout: 3000, interval: 10 });
    unlinkSync(p);
    mkdirSync(p);
    await new Promise((r) => setTimeout(r, 500));
    rmSync(p, { recursive: true });
    writeFileSync(p, 'b1\n');
    await vi.waitFor(() => expect(h.lines).toEqual(['a1', 'b1']), { timeout: 3000, interval: 10 });
    expect(h.warnings.filter((w) => w.includes('is a directory'))).toHaveLength(1);
  });

  it('a glob over container directories: a directory created later, and one created with its file at once, are followed by events (poll and rescan at 60 s)', async () => {
    const root = tmp();
    mkdirSync(join(root, 'aaa'));
    writeFileSync(join(root, 'aaa', 'aaa-json.log'), 'x\n');
    const lines: string[] = [];
    const t = new Tailer({ paths: [join(root, '*', '*-json.log')], onLine: (x) => lines.push(x), rotateWaitMs: 300, pollIntervalMs: 60_000, rescanIntervalMs: 60_000 });
    stops.push(() => t.stop());
    await t.start();
    await t.settle();
    mkdirSync(join(root, 'bbb'));
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(join(root, 'bbb', 'bbb-json.log'), 'b1\n');
    await vi.waitFor(() => expect(lines).toEqual(['b1']), { timeout: 1500, interval: 10 });
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(join(root, 'bbb', 'bbb-json.log'), 'b2\n');
    await vi.waitFor(() => expect(lines).toEqual(['b1', 'b2']), { timeout: 1500, interval: 10 });
    mkdirSync(join(root, 'ccc'));
    writeFileSync(join(root, 'ccc', 'ccc-json.log'), 'c1\n');
    await vi.waitFor(() => expect(lines).toEqual(['b1', 'b2', 'c1']), { timeout: 1500, interval: 10 });
  });

  it('a writer appending 3,000 lines in pieces cut anywhere, faster than reads: every line once, in order', async () => {
    const d = tmp();
    const p = join(d, 'access.log');
    writeFileSync(p, '');
    const h = await follow(p, 50);
    const want = Array.from({ length: 3000 }, (_, i) => `line-${i}-${'y'.repeat(i % 97)}`);
    const text = want.map((s) => `${s}\n`).join('');
    for (let pos = 0, k = 0; pos < text.length; k++) {
      const n = 1 + ((k * 7919) % 5000);
      appendFileSync(p, text.slice(pos, pos + n));
      pos += n;
      if (k % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await vi.waitFor(() => expect(h.lines.length).toBe(3000), { timeout: 5000, interval: 10 });
    expect(h.lines).toEqual(want);
  });
});

describe('issue 3: status, resume and control socket variants', () => {
  it('status lists IPv6, network and permanent bans (until null), 300 bans all counted', async () => {
    const a = agent();
    await a.daemon.start();
    await a.daemon.ban('2001:db8::1', { forMs: null });
    await a.daemon.ban('198.18.0.0/24', { forMs: 3_600_000 });
    await a.daemon.ban('2001:db8:1::/48', { forMs: null, permanent: true, rule: 'forbidden' });
    for (let i = 0; i < 300; i++) await a.daemon.ban(`198.19.${i >> 8}.${i & 255}`, { forMs: 60_000 });
    const manual = a.daemon.status('manual').rules[0]!;
    expect(manual.currentlyBanned).toBe(302);
    expect(manual.bans!.slice(0, 2).map((b) => [b.ip, b.until])).toEqual([
      ['2001:db8::1', null],
      ['198.18.0.0/24', '2026-11-23T11:00:00.000Z'],
    ]);
    const forbidden = a.daemon.status('forbidden');
    expect(forbidden.rules[0]!.bans).toEqual([expect.objectContaining({ ip: '2001:db8:1::/48', until: null })]);
    expect(formatStatus(forbidden, 'forbidden')).toMatch(/Currently banned:\t1\n.*\n.*\n\s*`- Banned IP list:\t2001:db8:1::\/48\n/);
    await a.daemon.stop();
  });

  it('lines read late (resume): 2 h old never ban; 4 within findtime + 1 now do; 4 two minutes old + 1 now do not', async () => {
    const a = agent();
    await a.daemon.start();
    const now = a.clock.now();
    for (let i = 0; i < 6; i++) a.emit(line('198.18.9.1', now - 2 * 3_600_000 + i * 1000));
    for (let i = 0; i < 4; i++) a.emit(line('198.18.9.3', now - 50_000 + i * 1000));
    a.emit(line('198.18.9.3', now));
    for (let i = 0; i < 4; i++) a.emit(line('198.18.9.4', now - 120_000 + i * 1000));
    a.emit(line('198.18.9.4', now));
    await settle();
    await vi.waitFor(() => expect(a.held()).toEqual(['198.18.9.3']), { timeout: 2000, interval: 10 });
    expect(a.banned()).toEqual(['forbidden 198.18.9.3']);
    await a.daemon.stop();
  });

  function exchange(path: string, chunks: (string | Buffer)[], want: number, gapMs = 0): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      let buf = '';
      const lines = () => buf.split('\n').filter(Boolean);
      const t = setTimeout(() => (s.destroy(), resolve(lines())), 4000);
      s.on('data', (c) => {
        buf += c.toString();
        if (lines().length >= want) (clearTimeout(t), s.destroy(), resolve(lines()));
      });
      s.on('close', () => (clearTimeout(t), resolve(lines())));
      s.on('error', reject);
      s.on('connect', async () => {
        for (const c of chunks) {
          s.write(c);
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
      });
    });
  }

  it('control socket: CRLF, 200 pipelined in one write, one request a byte at a time, v2 then v1, invalid UTF-8 in an address, an oversize line', async () => {
    const sock = join(tmp(), 'ctl.sock');
    const srv = await startControlServer({ socketPath: sock, handler: stubControlHandler(), onError: () => {} });
    stops.push(() => srv.close());
    const ok = (x: string) => (JSON.parse(x) as { ok: boolean }).ok;
    expect((await exchange(sock, ['{"op":"status"}\r\n'], 1)).map(ok)).toEqual([true]);
    const many = await exchange(sock, ['{"op":"status"}\n'.repeat(200)], 200);
    expect(many).toHaveLength(200);
    expect(many.every(ok)).toBe(true);
    const bytes = [...Buffer.from('{"op":"unban","ip":"2001:db8::1"}\n')].map((b) => Buffer.from([b]));
    expect(await exchange(sock, bytes, 1, 1)).toEqual(['{"v":1,"ok":true,"result":0}']);
    const vs = await exchange(sock, ['{"v":2,"op":"status"}\n{"op":"status","v":1}\n'], 2);
    expect(vs.map(ok)).toEqual([false, true]);
    expect(vs[0]).toContain('unsupported protocol version 2');
    const bad = await exchange(sock, [Buffer.concat([Buffer.from('{"op":"why","ip":"198.18.0.1'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')])], 1);
    expect(JSON.parse(bad[0]!)).toMatchObject({ ok: false, error: { code: 'BH_ERR_ADDRESS' } });
    const huge = await exchange(sock, [`{"op":"status","rule":"${'a'.repeat(70_000)}"}\n{"op":"status"}\n`], 2);
    expect(huge).toHaveLength(1);
    expect(huge[0]).toContain('request larger than 65536 bytes');
  });

  it("metrics: Prometheus's OpenMetrics Accept, application/json, none or a malformed one all get 200 text format 0.0.4", async () => {
    const srv = await startMetricsServer(':0', createMetrics());
    stops.push(() => srv.close());
    const accepts = ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'application/json', '', 'text/html;;;===', '*/*;q=0'];
    for (const accept of accepts) {
      const r = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: srv.port, path: '/metrics', headers: accept ? { accept } : {}, agent: false }, (res) => {
          const c: Buffer[] = [];
          res.on('data', (x: Buffer) => c.push(x));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(c).toString() }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(r.status, accept).toBe(200);
      expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(r.body).toContain('banhammer_lines_total');
    }
  });
});
