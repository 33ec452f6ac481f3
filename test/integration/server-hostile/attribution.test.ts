/**
 * Black-box, with Debian's real Apache and real nginx (lab.ts): raw hostile requests (cases.ts) from
 * their own addresses, then the product's own reading of every log the servers wrote, in every
 * layout banhammer reads, as the live agent decodes it (UTF-8) and as replay does (Latin-1):
 * - every line counts for the one address it may count for: the peer of a direct client, and behind a
 *   trusted proxy the right-most untrusted X-Forwarded-For entry where the layout carries it (nginx
 *   main, a `$proxy_add_x_forwarded_for` list) or the server resolved it (mod_remoteip `%a`, realip);
 * - with the status the server wrote in its own `truth` log (server-made fields only);
 * - no line is skipped (the server always knows the peer, and so can the reading);
 * - no address a request named (FRAMED), nor any other, is ever counted;
 * except where the README states a limit (cases.ts LIMITS: each asserted as exactly its documented
 * outcome). The same expectations hold for `banhammer replay --json` (dist) over each log, and the
 * presets that count 403, 401, 400 and junk count these lines.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/detect/presets.js';
import { compileRule } from '../../../src/detect/rule.js';
import { createLineParser } from '../../../src/parse/line-parser.js';
import type { LogFormat } from '../../../src/parse/access-event.js';
import { CASES, FRAMED, LIMITS, addressesOf } from './cases.js';
import { LOGS, PORTS, TRUSTED, createHostileLab, labUnavailable, type HostileLab, type RawRequest } from './lab.js';

const skip = labUnavailable();
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'bin', 'banhammer.js');
const distMissing = (): string | null => (existsSync(join(REPO, 'dist', 'banhammer.js')) ? null : 'dist/banhammer.js is not built (npm run build)');
const execFileP = promisify(execFile);

type Server = keyof typeof LOGS;
/**
 * Which client a layout names: the TCP peer; the client behind a trusted proxy, read by banhammer from
 * the X-Forwarded-For the line carries; or the client the server resolved itself (its `truth` log).
 */
type Names = 'peer' | 'client' | 'resolved';

interface Reading {
  readonly server: Server;
  readonly log: string;
  readonly formats: readonly LogFormat[];
  readonly names: Names;
}

const READINGS: readonly Reading[] = [
  { server: 'apache', log: LOGS.apache.combined, formats: ['auto', 'apache-combined'], names: 'peer' },
  { server: 'apache', log: LOGS.apache.common, formats: ['auto', 'apache-common'], names: 'peer' },
  { server: 'apache', log: LOGS.apache.vhost, formats: ['auto', 'apache-vhost-combined'], names: 'peer' },
  { server: 'apache', log: LOGS.apache.host, formats: ['auto', 'apache-host-combined'], names: 'peer' },
  { server: 'apache', log: LOGS.apache.hostHeader, formats: ['auto', 'apache-host-combined'], names: 'peer' },
  { server: 'apacheRemoteip', log: LOGS.apacheRemoteip.combined, formats: ['auto', 'apache-combined'], names: 'resolved' },
  { server: 'nginx', log: LOGS.nginx.combined, formats: ['auto', 'nginx-combined'], names: 'peer' },
  { server: 'nginx', log: LOGS.nginx.json, formats: ['auto', 'nginx-combined'], names: 'peer' },
  { server: 'nginx', log: LOGS.nginx.main, formats: ['auto', 'nginx-main'], names: 'client' },
  { server: 'nginx', log: LOGS.nginx.host, formats: ['auto', 'nginx-host-combined'], names: 'peer' },
  { server: 'nginx', log: LOGS.nginx.list, formats: ['auto'], names: 'client' },
  { server: 'nginxRealip', log: LOGS.nginxRealip.combined, formats: ['auto', 'nginx-combined'], names: 'resolved' },
];

/** One line of a truth log: peer, the client the server resolved, status. */
interface Truth {
  readonly peer: string;
  readonly resolved: string;
  readonly status: number;
}

describe.skipIf(skip !== null)(`hostile raw requests, real Apache and nginx${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let lab: HostileLab;
  const byPeer = new Map<string, number>();
  const truth = new Map<Server, Truth[]>();

  beforeAll(async () => {
    lab = await createHostileLab();
    const peers = CASES.map((_c, i) => addressesOf(i).peer);
    peers.forEach((p, i) => byPeer.set(p, i));
    await lab.addClients(peers);
    const requests: RawRequest[] = [];
    for (const port of Object.values(PORTS)) {
      CASES.forEach((c, i) => {
        const { peer, client } = addressesOf(i);
        requests.push({ from: peer, port, data: c.bytes(client), end: !c.noEnd, ...(c.closeAfterMs !== undefined ? { closeAfterMs: c.closeAfterMs } : {}) });
      });
    }
    await lab.send(requests);
    // Every server writes a line (at least) per connection: wait until the truth logs stop growing.
    let last = -1;
    for (let i = 0; i < 50; i++) {
      const n = (await Promise.all(Object.values(LOGS).map((l) => lab.lines(l.truth)))).reduce((s, l) => s + l.length, 0);
      if (n === last && n > 0) break;
      last = n;
      await new Promise((r) => setTimeout(r, 300));
    }
    for (const server of Object.keys(LOGS) as Server[]) {
      truth.set(
        server,
        (await lab.lines(LOGS[server].truth)).map((l) => {
          const [peer, resolved, status] = l.toString('latin1').split(' ');
          return { peer: peer!, resolved: resolved!, status: Number(status) };
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  /**
   * What a truth line must become in a reading: `<ip> <status>` (the peer, or behind a trusted proxy
   * the client it appended, where the layout carries it and the server read the header; a log the
   * server resolved itself names what it resolved), or the documented outcome of a known limit.
   */
  const expected = (t: Truth, r: Reading, format: LogFormat): string => {
    const i = byPeer.get(t.peer);
    if (i === undefined) throw new Error(`a truth line from an unknown peer ${t.peer}`);
    const c = CASES[i]!;
    const limit = LIMITS.find((l) => l.caseName === c.name && l.log === r.log && l.formats.includes(format));
    if (limit !== undefined) return limit.outcome(addressesOf(i), t.status);
    if (r.names === 'resolved') return `${t.resolved} ${t.status}`;
    if (r.names === 'peer' || c.headersUnread) return `${t.peer} ${t.status}`;
    return `${addressesOf(i).client} ${t.status}`;
  };

  it('the servers resolve proxied clients as banhammer does, or leave the proxy (the lab is sound)', () => {
    for (const server of ['apacheRemoteip', 'nginxRealip'] as const) {
      for (const t of truth.get(server)!) {
        const { peer, client } = addressesOf(byPeer.get(t.peer)!);
        // Apache's mod_remoteip takes no port and no brackets in X-Forwarded-For: it keeps the proxy.
        expect([peer, client], `${server} ${t.peer}`).toContain(t.resolved);
      }
    }
    for (const server of Object.keys(LOGS) as Server[]) {
      // Every case reached every server (Apache writes nothing for a connection that never sent a line).
      const seen = new Set(truth.get(server)!.map((t) => t.peer));
      const missing = CASES.map((c, i) => [c, addressesOf(i).peer] as const).filter(([c, p]) => !seen.has(p) && !(c.silent ?? []).includes(server.startsWith('apache') ? 'apache' : 'nginx'));
      expect(missing.map(([c, p]) => `${server}: ${c.name} (${p})`)).toEqual([]);
    }
  });

  it.skipIf(distMissing() !== null)('banhammer replay --json over every real log: one ban per client with a 403, nobody else', async () => {
    // forbidden at maxretry 1: every address a 403 line counts for is banned, so the bans are exactly
    // the addresses replay's own reading (its chunked path, parse.range) attributed 403s to.
    const runs = READINGS.flatMap((r) => r.formats.map((format) => ({ r, format })));
    const results = await Promise.all(
      runs.map(async ({ r, format }) => {
        const res = await execFileP(process.execPath, [BIN, 'replay', join(lab.dir, r.log), '--json'], {
          timeout: 20_000,
          maxBuffer: 16 * 1024 * 1024,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BANHAMMER_RULES: 'forbidden', BANHAMMER_MAXRETRY: '1', BANHAMMER_LOG_FORMAT: format, BANHAMMER_TRUSTED_PROXIES: TRUSTED.join(',') },
        });
        return { r, format, out: JSON.parse(res.stdout) as { lines: number; parsed: number; skipped: number; bans: { ip: string }[] } };
      }),
    );
    const wrong: string[] = [];
    for (const { r, format, out } of results) {
      const t = truth.get(r.server)!;
      const want = t.map((x) => expected(x, r, format));
      const banned = new Set(want.filter((w) => w.endsWith(' 403') && !w.startsWith('skip ')).map((w) => w.split(' ')[0]!).filter((ip) => !ip.startsWith('198.18.39.') && !ip.startsWith('2001:db8:39:')));
      const got = new Set(out.bans.map((b) => b.ip));
      const skips = want.filter((w) => w.startsWith('skip ')).length;
      if (out.lines !== t.length || out.skipped !== skips) wrong.push(`${r.log} ${format}: ${out.lines} lines, ${out.skipped} skipped; want ${t.length}, ${skips}`);
      for (const ip of got) if (!banned.has(ip)) wrong.push(`${r.log} ${format}: banned ${ip}${FRAMED.includes(ip) ? ' (FRAMED)' : ''}`);
      for (const ip of banned) if (!got.has(ip)) wrong.push(`${r.log} ${format}: never banned ${ip}`);
    }
    expect(wrong).toEqual([]);
  }, 25_000);

  for (const r of READINGS) {
    for (const format of r.formats) {
      for (const decode of ['utf8', 'latin1'] as const) {
        it(`${r.log} read as ${format} (${decode === 'utf8' ? 'agent' : 'replay'}): every line for its client, with its status`, async () => {
          const lines = await lab.lines(r.log);
          const t = truth.get(r.server)!;
          expect(lines.length, `${r.log} has one line per request`).toBe(t.length);
          const want = t.map((x) => expected(x, r, format));
          const parse = createLineParser(format, { trustedProxies: TRUSTED, latin1: decode === 'latin1' });
          const got: string[] = [];
          const text: string[] = [];
          for (const raw of lines) {
            const line = raw.toString(decode);
            const out = parse(line);
            got.push(typeof out === 'string' ? `skip ${out}` : `${out.ip} ${out.status}`);
            text.push(line);
          }
          const missing = diff(want, got);
          const extra = extraLines(got, want).map((k) => `${got[k]}: ${JSON.stringify(text[k]!.slice(0, 300))}`);
          // Framing first: an address no truth line leads to, or one a request named (FRAMED).
          const allowed = new Set(want.map((w) => w.split(' ')[0]));
          const framed = extra.filter((g) => !g.startsWith('skip ') && (FRAMED.includes(g.split(' ')[0]!) || !allowed.has(g.split(' ')[0])));
          expect(framed, 'framed').toEqual([]);
          expect({ missing, extra }).toEqual({ missing: [], extra: [] });
        });
      }
      it(`${r.log} read as ${format}: the presets count what they say they count`, async () => {
        const parse = createLineParser(format, { trustedProxies: TRUSTED });
        const rules = Object.fromEntries(['forbidden', 'unauthorized', 'bad-requests', 'junk-requests'].map((n) => [n, compileRule(n, PRESETS[n]!)]));
        const caseOf = new Map<string, number>();
        CASES.forEach((_c, i) => {
          const a = addressesOf(i);
          caseOf.set(a.peer, i);
          caseOf.set(a.client, i);
        });
        const wrong: string[] = [];
        for (const raw of await lab.lines(r.log)) {
          const line = raw.toString('utf8');
          const ev = parse(line);
          if (typeof ev === 'string') continue; // the attribution tests say which skips are allowed
          const i = caseOf.get(ev.ip);
          if (i === undefined) continue; // a documented limit's address (LIMITS)
          const c = CASES[i]!;
          const want = {
            forbidden: ev.status === 403,
            unauthorized: ev.status === 401,
            // 400 with a request line (never POST & co. here): a malformed request counts.
            'bad-requests': ev.status === 400 && ev.request !== '-' && ev.request !== '',
            'junk-requests': c.junk === 'all' || (c.junk === '400' && ev.status === 400) ? true : c.name === 'plain 403' || c.name === 'bytes >= 0x80, invalid UTF-8' ? false : undefined,
          };
          for (const [name, w] of Object.entries(want)) {
            if (w === undefined) continue;
            if (rules[name]!.matches(ev) !== w) wrong.push(`${name} ${w ? 'misses' : 'counts'} ${c.name}: ${JSON.stringify(line.slice(0, 200))}`);
          }
        }
        expect(wrong).toEqual([]);
      });
    }
  }
});

/** Indices of the elements of `got` not matched by one of `want` (multisets). */
function extraLines(got: readonly string[], want: readonly string[]): number[] {
  const left = new Map<string, number>();
  for (const x of want) left.set(x, (left.get(x) ?? 0) + 1);
  const out: number[] = [];
  got.forEach((x, k) => {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(k);
  });
  return out;
}

/** Elements of `a` not matched by one of `b` (multisets). */
function diff(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

