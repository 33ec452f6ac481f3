/**
 * An operator edits the mounted configuration file (BANHAMMER_CONFIG) and leaves a mistake in it: the
 * running agent keeps its configuration (a reload with a broken file is refused and logged), keeps
 * banning and keeps answering on its control socket. But the CLI loads the whole file before it even
 * connects, only to find the socket path, so `banhammer status` (and `unban`, `why`) failed with the
 * file's error, and the HEALTHCHECK said "the banhammer agent is not running or does not answer":
 * the container turned unhealthy (an orchestrator restarts it, and the agent then refuses to start)
 * while the agent was fine. The status must still be asked of the running agent (with one warning
 * about the file); the real CLI runs here against a socket that answers like the agent.
 * Fix in src/cli.ts (socketOf): /tmp/h6/socket-of-broken-config.patch.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCKER, SHELLS, ScriptSandbox } from '../docker/script-harness.js';

const CLI = resolve(import.meta.dirname, '../../../bin/banhammer.js');
const STATUS = { instance: 'web', enforcer: 'iptables', since: '2026-12-05T07:00:00.000Z', files: [], health: { stateError: null, enforceFailing: 0, refused: 0, repairs: 0, checkFailing: 0, skewedLines: 0 }, rules: [] };

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(kill);
      res({ code, stdout, stderr });
    });
  });
}

describe.each(SHELLS)('under $name', ({ argv }) => {
  let box: ScriptSandbox;
  let server: Server;
  let sock: string;

  beforeEach(async () => {
    box = new ScriptSandbox('bh-h6-cfg-');
    sock = join(box.tmp, 'banhammer.sock');
    server = createServer((c) => {
      c.on('error', () => {});
      c.on('data', () => c.end(`${JSON.stringify({ v: 1, ok: true, result: STATUS })}\n`));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    box.fake('node'); // Apache answers
    box.fake('banhammer', `exec "${process.execPath}" "${CLI}" "$@"`);
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    box.remove();
  });

  it.each([
    ['a YAML syntax error', 'log_level: info\nignoreip: [198.18.0.1\n'],
    ['an invalid value', 'log_level: chatty\n'],
  ])('the configuration file now has %s: the running agent is still asked, and is healthy', async (_what, yaml) => {
    const cfg = join(box.tmp, 'banhammer.yaml');
    writeFileSync(cfg, yaml);
    const r = await run([...argv, join(DOCKER, 'bin/banhammer-healthcheck')], { ...box.env, BANHAMMER_SOCKET: sock, BANHAMMER_CONFIG: cfg });
    expect(r.stderr).not.toMatch(/not running or does not answer/);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^healthy: /);
  }, 30_000);

  it('control: the same file valid, healthy', async () => {
    const cfg = join(box.tmp, 'banhammer.yaml');
    writeFileSync(cfg, 'log_level: info\n');
    const r = await run([...argv, join(DOCKER, 'bin/banhammer-healthcheck')], { ...box.env, BANHAMMER_SOCKET: sock, BANHAMMER_CONFIG: cfg });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  }, 30_000);
});
