/**
 * The HEALTHCHECK's lighter status query (issue 10, leftover 5). Every 30 s the image's
 * HEALTHCHECK ran `banhammer status --json`, so the agent encoded, and the CLI read, every banned
 * address (~17 MB at 100,000 bans) to look at one health object. Now the control protocol's `status`
 * takes `brief: true` (counts and health, no ban lists, the report marked `brief: true`), the CLI
 * asks it with `status --json --brief` (falling back to the whole report from an agent that does not
 * know the field), and the healthcheck uses it. `status --json` itself is unchanged.
 * A real control server and the real CLI over a unix socket; the handler is a stand-in.
 */
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';
import { parseRequest, type StatusReport } from '../../../src/control/protocol.js';
import { startControlServer, type ControlHandler, type ControlServer } from '../../../src/control/server.js';
import { DOCKER, SHELLS, ScriptSandbox, runScript } from '../../unit/docker/script-harness.js';

const BANS = 20_000;
const ips = Array.from({ length: BANS }, (_, i) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`);
const REPORT: StatusReport = {
  instance: 'web1',
  enforcer: 'iptables',
  since: '2026-12-05T10:00:00.000Z',
  files: [{ path: '/var/log/apache2/access.log', lagBytes: 0, exists: true }],
  health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, checkFailing: 0, skewedLines: 0 },
  rules: [
    {
      name: 'forbidden',
      enabled: true,
      currentlyFailed: 3,
      totalFailed: 90_000,
      currentlyBanned: BANS,
      totalBanned: BANS + 5,
      bannedIps: ips,
      withEvidence: 7,
      bans: ips.map((ip) => ({ ip, container: null, containerId: null, until: null, from: null, firewall: 'held' as const })),
    },
  ],
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bh-h10-brief-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function agent(): Promise<{ socket: string; calls: { rule: string | undefined; brief: boolean | undefined }[] }> {
  const socket = join(tmp(), 'agent.sock');
  const calls: { rule: string | undefined; brief: boolean | undefined }[] = [];
  const fail = (): never => {
    throw new Error('not used');
  };
  // Answers the whole report whatever it is asked, like a daemon that ignores the option.
  const handler: ControlHandler = {
    status: (rule, opts) => (calls.push({ rule, brief: opts?.brief }), REPORT),
    ban: fail,
    unban: fail,
    unbanAll: fail,
    reload: fail,
    why: fail,
  };
  const server: ControlServer = await startControlServer({ socketPath: socket, handler });
  cleanups.push(() => server.close());
  return { socket, calls };
}

/** An agent older than `brief`: refuses the field as its protocol did ("unknown field"), else the whole report. */
async function oldAgent(): Promise<{ socket: string; requests: string[] }> {
  const socket = join(tmp(), 'old.sock');
  const requests: string[] = [];
  const server: Server = createServer((c) => {
    let buf = '';
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        requests.push(line);
        const req = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.keys(req).find((k) => !['v', 'op', 'rule'].includes(k));
        c.write(
          `${JSON.stringify(
            extra !== undefined
              ? { v: 1, ok: false, error: { code: 'BH_ERR_CONTROL', message: `unknown field "${extra}" for op status`, hint: 'use the banhammer CLI of the same version as the daemon' } }
              : { v: 1, ok: true, result: REPORT },
          )}\n`,
        );
      }
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { socket, requests };
}

async function cli(args: string[], socket: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_SOCKET: socket }, hostname: 'unit' };
  return { code: await main(args, io), out, err };
}

describe('status brief', () => {
  it('the protocol takes brief: true or false, nothing else', () => {
    expect(parseRequest('{"v":1,"op":"status","brief":true}')).toEqual({ ok: true, request: { op: 'status', brief: true } });
    expect(parseRequest('{"v":1,"op":"status","rule":"forbidden","brief":false}')).toEqual({ ok: true, request: { op: 'status', rule: 'forbidden' } });
    for (const bad of ['"yes"', '1', 'null', '{}']) expect(parseRequest(`{"v":1,"op":"status","brief":${bad}}`).ok, bad).toBe(false);
    expect(parseRequest('{"v":1,"op":"why","ip":"198.18.0.7","brief":true}').ok).toBe(false);
  });

  it('status --json --brief: counts and health, no ban lists, a small answer', async () => {
    const { socket, calls } = await agent();
    const r = await cli(['status', '--json', '--brief'], socket);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.length).toBeLessThan(2000);
    const got = JSON.parse(r.out) as StatusReport;
    expect(got.brief).toBe(true);
    expect(got.health).toEqual(REPORT.health);
    expect(got.rules).toEqual([{ name: 'forbidden', enabled: true, currentlyFailed: 3, totalFailed: 90_000, currentlyBanned: BANS, totalBanned: BANS + 5, bannedIps: [], withEvidence: 7 }]);
    expect(calls).toEqual([{ rule: undefined, brief: true }]);
  });

  it('status --json is unchanged: every ban, no brief marker', async () => {
    const { socket, calls } = await agent();
    const r = await cli(['status', '--json'], socket);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(REPORT);
    expect(calls).toEqual([{ rule: undefined, brief: undefined }]);
  });

  it('an agent that does not know brief: the whole report, asked again without it', async () => {
    const { socket, requests } = await oldAgent();
    const r = await cli(['status', '--json', '--brief'], socket);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(REPORT);
    expect(requests.map((l) => JSON.parse(l) as unknown)).toEqual([{ v: 1, op: 'status', brief: true }, { v: 1, op: 'status' }]);
  });

  it('--brief without --json is a usage error (the text would show no banned address)', async () => {
    const { socket, calls } = await agent();
    const r = await cli(['status', '--brief'], socket);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--brief goes with --json/);
    expect(calls).toEqual([]);
  });
});

describe.each(SHELLS)('the HEALTHCHECK asks the brief status ($name)', ({ argv }) => {
  it('banhammer status --json --brief, and a brief answer is healthy', () => {
    const box = new ScriptSandbox('bh-h10-hc-');
    cleanups.push(() => box.remove());
    box.fake('node'); // Apache answers
    const brief = JSON.stringify({ ...REPORT, rules: [{ ...REPORT.rules[0]!, bannedIps: [], bans: undefined }], brief: true });
    box.fake('banhammer', `cat <<'EOF_STATUS'\n${brief}\nEOF_STATUS`);
    const r = runScript(argv, join(DOCKER, 'bin/banhammer-healthcheck'), [], { ...box.env, HTTP_PORT: '8080' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^healthy: .*agent web1 \(enforcer iptables\)/);
    expect(box.recorded().filter((c) => c.startsWith('banhammer '))).toEqual(['banhammer status --json --brief']);
  });
});
