/**
 * The CLI's handling of answers it cannot read (issue 9: one bad party must not crash a component;
 * issue 10: the CLI never says what the agent did not). parseResponse checked the envelope only, so a
 * result of another shape (another version's daemon, an impostor, a half-written answer) reached the
 * formatters: `status`, `why`, `ban` threw a TypeError (bin/banhammer.js: "internal error" with a stack,
 * exit 70), and `unban` printed `lifted null bans`, `lifted x bans`, or an escape sequence sent as the
 * count. Now such an answer is a malformed-answer error (exit 2), text that is printed is escaped, and
 * `--json` keeps printing the answer as it came.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function agentAnswering(result: unknown, error?: unknown): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h2-replies-'));
  dirs.push(dir);
  const socketPath = join(dir, 'control.sock');
  const answer = error === undefined ? { v: 1, ok: true, result } : { v: 1, ok: false, error };
  const server = createServer((sock) => {
    sock.on('data', () => sock.end(`${JSON.stringify(answer)}\n`));
    sock.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(socketPath, r));
  return socketPath;
}

async function run(args: string[], socketPath: string): Promise<{ code: number | 'threw'; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), env: { BANHAMMER_SOCKET: socketPath, BANHAMMER_ENFORCER: 'log' }, hostname: 'unit' };
  try {
    return { code: await main(args, io), out, err };
  } catch (e) {
    return { code: 'threw', out, err: `${err}${String(e)}` };
  }
}

const WHY_BAN = { ip: '198.18.0.7', rule: 'manual', jail: 'manual', source: 'manual', from: null, at: '2026-01-01T00:00:00.000Z', until: null, failures: 0, nth: 1, container: null, containerId: null, origin: null, evidence: [], evidenceOmitted: 0, ended: null, firewall: 'held' };
const WHY = { ip: '198.18.0.7', instance: 'web', now: null, allowlisted: false, active: [WHY_BAN], failing: [], ended: [], historySize: 1000 };

const MALFORMED: [string, string[], unknown][] = [
  ['status: null', ['status'], null],
  ['status: {}', ['status'], {}],
  ['status: rules not a list', ['status'], { instance: 'web', enforcer: 'log', since: 'x', files: [], rules: 5 }],
  ['status RULE: counts missing, an address not a string', ['status', 'forbidden'], { instance: 'web', enforcer: 'log', since: 'x', files: [], rules: [{ name: 'forbidden', enabled: true, bannedIps: [], bans: [{ ip: 5 }] }] }],
  ['why: null', ['why', '198.18.0.7'], null],
  ['why: active not a list', ['why', '198.18.0.7'], { ...WHY, active: 'x' }],
  ['why: failures an escape sequence', ['why', '198.18.0.7'], { ...WHY, active: [{ ...WHY_BAN, failures: '\x1b[2J' }] }],
  ['ban: null', ['ban', '198.18.0.7'], null],
  ['ban: until a string', ['ban', '198.18.0.7'], { ip: '198.18.0.7', rule: 'manual', until: 'soon' }],
  ['unban: null', ['unban', '198.18.0.7'], null],
  ['unban: a string', ['unban', '198.18.0.7'], 'x'],
  ['unban: a fraction', ['unban', '198.18.0.7'], 0.5],
  ['unban --all: an escape sequence', ['unban', '--all'], '\x1b[2J'],
  ['unban --all: negative', ['unban', '--all'], -3],
];

describe('an answer of another shape than the op\'s', () => {
  it.each(MALFORMED)('%s: a malformed-answer error (exit 2), never a crash or a made-up line', async (_, args, result) => {
    const r = await run(args, await agentAnswering(result));
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/malformed answer/);
    expect(r.out).toBe('');
  });

  it('why text escapes the times it prints (they are the daemon\'s strings)', async () => {
    const r = await run(['why', '198.18.0.7'], await agentAnswering({ ...WHY, active: [{ ...WHY_BAN, at: '\x1b[2Jx', until: '\x1b]0;pwn\x07' }] }));
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(UNSAFE);
    expect(r.out).toContain('\\x1b[2Jx');
  });

  it('a well-formed answer is printed as before', async () => {
    const r = await run(['why', '198.18.0.7'], await agentAnswering(WHY));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Jail:\tmanual/);
    const u = await run(['unban', '--all'], await agentAnswering(3));
    expect(u).toMatchObject({ code: 0, out: 'lifted 3 bans\n' });
  });

  it('--json still prints a partial answer as it came, and a null one without crashing', async () => {
    const partial = { ip: '198.18.0.7', active: [{ ip: '198.18.0.7' }] };
    const r = await run(['why', '198.18.0.7', '--json'], await agentAnswering(partial));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(partial);
    const n = await run(['why', '198.18.0.7', '--json'], await agentAnswering(null));
    expect(n.code).toBe(1);
    expect(n.out).toBe('null\n');
  });

  it('an error answer is printed with its control, bidi and separator characters escaped', async () => {
    const r = await run(['status'], await agentAnswering(null, { code: 'BH_ERR_USAGE', message: 'no rule \u202eevil\u009b31m\u2028x\x1b[2J', hint: 'h\u2066' }));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no rule/);
    expect(r.err).not.toMatch(UNSAFE);
  });
});
