/**
 * The image's HEALTHCHECK (docker/bin/banhammer-healthcheck) under dash and busybox sh (with
 * busybox's own sed, head, cut, tr and timeout for the busybox run, as on Alpine):
 *   - it ends within the HEALTHCHECK's 10 s, with "unhealthy", whatever the agent or Apache do: a
 *     control socket that accepts and never answers (a hung agent: the CLI's own control timeout is
 *     10 s, so the script used to outlast Docker's), an Apache that trickles its answer;
 *   - an answer that is not a status with a numeric health.enforceFailing (not JSON, another shape,
 *     cut short) is unhealthy, never read as "0 failures";
 *   - an agent holding 100,000 bans (a ~17 MB `status --json`, the README's benchmarked scale) is
 *     judged in a few seconds: the script used to hold the answer in a shell variable and run sed
 *     over it four times (~14 s here), so Docker timed the check out and called a working agent
 *     unhealthy exactly while it was banning the most;
 *   - the health object is read whole even when its error text holds braces and quotes.
 */
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer as createHttpLikeServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox } from '../docker/script-harness.js';

const HC = join(DOCKER, 'bin/banhammer-healthcheck');
const CLI = resolve(import.meta.dirname, '../../../bin/banhammer.js');
const BUSYBOX_TOOLS = ['sed', 'head', 'cut', 'tr', 'timeout'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the healthcheck without blocking this process (servers below must keep answering), killed at 20 s. */
function runHc(argv: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((res) => {
    const t0 = Date.now();
    const p = spawn(argv[0]!, [...argv.slice(1), HC], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 20_000);
    p.on('close', (code) => {
      clearTimeout(kill);
      res({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A status --json answer: `bans` IPv6 bans under one rule, health fields as given. */
function statusJson(bans: number, health: Record<string, unknown>): string {
  const list = Array.from({ length: bans }, (_, i) => ({
    ip: `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`,
    container: null,
    containerId: null,
    until: '2026-12-05T09:00:00.000Z',
    from: '2026-12-05T08:00:00.000Z',
    firewall: 'held',
  }));
  return JSON.stringify({
    instance: 'web',
    enforcer: 'iptables',
    since: '2026-12-05T07:00:00.000Z',
    files: [{ path: '/var/log/apache2/access/current', lagBytes: 0, exists: true }],
    health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, checkFailing: 0, skewedLines: 0, ...health },
    rules: [{ name: 'forbidden', enabled: true, currentlyFailed: 0, totalFailed: bans * 5, currentlyBanned: bans, totalBanned: bans, bannedIps: list.map((b) => b.ip), withEvidence: 0, bans: list }],
  });
}

describe.each(SHELLS)('healthcheck under $name', ({ name, argv }) => {
  let box: ScriptSandbox;
  let servers: Server[];
  let sockets: Socket[];

  beforeEach(() => {
    box = new ScriptSandbox('bh-h6-hc-');
    servers = [];
    sockets = [];
    if (name === 'busybox sh') {
      // Alpine's tools: busybox applets, not GNU's.
      for (const t of BUSYBOX_TOOLS) {
        writeFileSync(join(box.fakes, t), `#!/bin/sh\nexec busybox ${t} "$@"\n`);
        chmodSync(join(box.fakes, t), 0o755);
      }
    }
  });
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    box.remove();
  });

  /** A server that takes connections and then does `onConn` with each. */
  async function listen(where: string | number, onConn: (s: Socket) => void): Promise<number> {
    const srv = createHttpLikeServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      onConn(s);
    });
    servers.push(srv);
    await new Promise<void>((r) => (typeof where === 'string' ? srv.listen(where, r) : srv.listen(where, '127.0.0.1', r)));
    const a = srv.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** The real CLI as `banhammer` (with this node: `node` itself may be faked as Apache's probe). */
  const realCli = () => box.fake('banhammer', `exec "${process.execPath}" "${CLI}" "$@"`);
  /** A `banhammer` that prints `text` and exits 0. */
  const answering = (text: string) => {
    const f = join(box.tmp, 'answer');
    writeFileSync(f, text);
    box.fake('banhammer', `cat "${f}"`);
  };

  it('a control socket that accepts and never answers (a hung agent): unhealthy well within the 10 s HEALTHCHECK timeout', async () => {
    const sock = join(box.tmp, 'banhammer.sock');
    await listen(sock, () => {}); // reads the request, answers nothing
    box.fake('node'); // Apache answers
    realCli();
    const r = await runHc(argv, { ...box.env, BANHAMMER_SOCKET: sock });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/^unhealthy: the banhammer agent is not running or does not answer/);
    expect(r.ms, 'the check must end before Docker kills it at 10 s').toBeLessThan(8000);
  }, 30_000);

  it('an Apache that trickles its answer a byte at a time: unhealthy within the probe deadline, the agent not asked', async () => {
    const port = await listen(0, (s) => {
      const head = 'HTTP/1.1 200 OK\r\nX-Slow: ' + 'a'.repeat(200);
      let i = 0;
      const t = setInterval(() => {
        if (s.destroyed || i >= head.length) return clearInterval(t);
        s.write(head[i++]!);
      }, 300);
      s.on('close', () => clearInterval(t));
    });
    answering(`${statusJson(0, {})}\n`);
    const r = await runHc(argv, { ...box.env, HTTP_PORT: String(port) });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/^unhealthy: Apache does not answer on 127\.0\.0\.1:/m);
    expect(r.ms).toBeLessThan(6000);
    expect(box.recorded().some((l) => l.startsWith('banhammer'))).toBe(false);
  }, 30_000);

  it.each([
    ['not JSON', 'banhammer status\n'],
    ['nothing at all', ''],
    ['an empty object', '{}\n'],
    ['JSON null', 'null\n'],
    ['a status without health', '{"instance":"web","enforcer":"iptables","rules":[]}\n'],
    ['an empty health object', '{"instance":"web","enforcer":"iptables","health":{},"rules":[]}\n'],
    ['enforceFailing as a string', '{"instance":"web","health":{"stateError":null,"enforceFailing":"0"},"rules":[]}\n'],
    ['enforceFailing negative', '{"instance":"web","health":{"stateError":null,"enforceFailing":-1},"rules":[]}\n'],
    ['a status cut short inside health', '{"instance":"web","enforcer":"iptables","health":{"stateError":null,"enforceFailing":0,"checkFailing":0\n'],
    ['enforceFailing only inside a rule, not in health', '{"instance":"web","health":{"stateError":null},"rules":[{"name":"x","enforceFailing":0}]}\n'],
  ])('an answer that is %s: unhealthy, never "0 failures"', async (_what, text) => {
    box.fake('node');
    answering(text);
    const r = await runHc(argv, box.env);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/^unhealthy: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('100,000 bans (a ~17 MB status): healthy, judged in a few seconds; with failing checks, unhealthy', async () => {
    box.fake('node');
    answering(`${statusJson(100_000, {})}\n`);
    let r = await runHc(argv, box.env);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout.trim()).toBe('healthy: Apache answers on port 80; agent web (enforcer iptables) answers banhammer status');
    expect(r.ms, 'the HEALTHCHECK allows 10 s, the CLI itself needs some of them').toBeLessThan(5000);
    answering(`${statusJson(100_000, { checkFailing: 3 })}\n`);
    r = await runHc(argv, box.env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('unhealthy: agent web cannot check its firewall state (enforcer iptables: 3 checks in a row failed; see docker logs)');
  }, 60_000);

  it('a state error text holding braces, quotes and key-like words does not hide or fake the counts', async () => {
    box.fake('node');
    const stateError = 'EIO } {"enforceFailing":0} "checkFailing":0, writing /var/lib/{x}/state.json';
    answering(`${statusJson(3, { stateError, enforceFailing: 4 })}\n`);
    let r = await runHc(argv, box.env);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr.trim()).toBe('unhealthy: agent web cannot apply bans (enforcer iptables failed 4 batches in a row; see docker logs)');
    answering(`${statusJson(3, { stateError, enforceFailing: 0 })}\n`);
    r = await runHc(argv, box.env);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('health keys in any order, and counts of many digits, are read as numbers', async () => {
    box.fake('node');
    answering('{"rules":[],"health":{"checkFailing":0,"enforceFailing":0000000000000000000007,"stateError":null},"instance":"web","enforcer":"nftables"}\n');
    const r = await runHc(argv, box.env);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(1);
    expect(r.stderr).toMatch(/cannot apply bans \(enforcer nftables failed/);
  });
});
