/**
 * `banhammer status` must be able to read the status of a full ban book. The CLI refused any answer
 * over MAX_RESPONSE_BYTES (64 MiB), and the status of the default cap (BANHAMMER_MAX_BANS, 500,000
 * bans) is larger: 66.9 MiB with IPv4 addresses, 83.8 MiB with IPv6 ones (measured with the real
 * report of 500,000 restored bans), so status failed with "answer from banhammer larger than
 * 67108864 bytes" exactly when the agent was under the heaviest attack (review H51).
 *
 * The first test measures the real report (a real Daemon's statusInSlices, encoded as the server
 * sends it) per ban, at two sizes, and extrapolates to the default cap: no 500,000 bans are built.
 * The second sends a status answer just over the old bound through a real unix socket to the client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../../src/daemon.js';
import { loadConfig } from '../../../src/config/load.js';
import { DEFAULT_MAX_BANS } from '../../../src/decide/ban-book.js';
import { encodeResponse, MAX_RESPONSE_BYTES, PROTOCOL_VERSION } from '../../../src/control/protocol.js';
import { controlRequest } from '../../../src/control/client.js';
import { ManualClock } from '../../fakes/manual-clock.js';
import { RecordingEnforcer } from '../../fakes/recording-enforcer.js';
import { FakeSource, MemoryStore } from '../../fakes/agent-io.js';
import { intRng } from '../../support/random.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** A full-length IPv6 address in 2001:db8::/32 (no zero group, so nothing is shortened): 38 characters. */
function fullIPv6(next: (n: number) => number): string {
  const g = (): string => (0x1000 + next(0xefff)).toString(16);
  return `2001:db8:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
}

/** Bytes of the status answer of a real agent holding `n` IPv6 bans (host-wide, each until an hour from now). */
async function statusBytes(n: number, seed: number): Promise<number> {
  const next = intRng(seed);
  const store = new MemoryStore();
  const ips = new Set<string>();
  while (ips.size < n) ips.add(fullIPv6(next));
  store.doc = {
    bans: [...ips].map((ip) => ({ ip, family: 6, rule: 'forbidden', at: NOW - 1000, until: NOW + 3_600_000, failures: 5, nth: 1, manual: false })),
    history: [],
    ended: [],
    positions: [],
  } as never;
  const d = new Daemon({ config: loadConfig({ env: {}, hostname: 'unit' }), clock: new ManualClock(NOW), logger: quiet, enforcer: new RecordingEnforcer(), store: store as never, createSource: (o) => new FakeSource(o.onLine), hostAddresses: [] });
  await d.start();
  const report = await d.statusInSlices();
  expect(report.rules.reduce((k, r) => k + r.bannedIps.length, 0)).toBe(n);
  await d.stop();
  return Buffer.byteLength(encodeResponse({ v: PROTOCOL_VERSION, ok: true, result: report }));
}

const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the status of a full ban book reaches the CLI', () => {
  it('the answer for the default cap of IPv6 bans fits the bound the client reads', async () => {
    const small = await statusBytes(1000, 1);
    const large = await statusBytes(3000, 2);
    const perBan = (large - small) / 2000;
    expect(perBan).toBeGreaterThan(150); // each address twice, with its expiry and state
    const atCap = small + (DEFAULT_MAX_BANS - 1000) * perBan;
    expect(atCap).toBeGreaterThan(64 * 1024 * 1024); // the old bound
    expect(atCap).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
  });

  it('an answer just over 64 MiB is read, not refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bh-h51-size-'));
    dirs.push(dir);
    const socketPath = join(dir, 'control.sock');
    // A status answer of IPv6 bans, as the agent sends it, built as text (cheaper than objects).
    const next = intRng(51);
    const entries: string[] = [];
    const ips: string[] = [];
    let bytes = 0;
    while (bytes <= 64 * 1024 * 1024 + 4096) {
      const ip = JSON.stringify(fullIPv6(next));
      ips.push(ip);
      const entry = `{"ip":${ip},"container":null,"containerId":null,"until":"2026-11-23T11:00:00.000Z","from":null,"firewall":"held"}`;
      entries.push(entry);
      bytes += ip.length + entry.length + 2;
    }
    const body =
      `{"v":1,"ok":true,"result":{"instance":"web","enforcer":"iptables","since":"2026-11-23T09:00:00.000Z","files":[],"rules":[{"name":"forbidden","enabled":true,"currentlyFailed":0,"totalFailed":0,` +
      `"currentlyBanned":${ips.length},"totalBanned":${ips.length},"bannedIps":[${ips.join(',')}],"bans":[${entries.join(',')}]}]}}\n`;
    expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024 * 1024);
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => sock.end(body));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(socketPath, r));
    const report = await controlRequest(socketPath, { op: 'status' }, { timeoutMs: 60_000 });
    expect(report.rules[0]!.bannedIps).toHaveLength(ips.length);
    expect(report.rules[0]!.bans).toHaveLength(ips.length);
  }, 120_000);
});
