/**
 * check-config reads the secret files the agent reads at start (issue 10, leftover 1): the Redis
 * password file, the share key file and the notification targets' files (URL, token, SMTP password,
 * CA). A missing, empty, oversized or non-regular one (a directory, a FIFO), or a share key shorter
 * than the agent accepts, passed check-config ("configuration OK") and the agent then refused to
 * start or ran without what it was told to use. Now check-config, apache-conf and run refuse the same
 * files with the same one-line message (cli.ts checkSecretFiles).
 *
 * Group- or world-readable secret files are accepted everywhere, on purpose: Docker swarm mounts its
 * secrets 0444, so refusing them would refuse the documented way of passing secrets.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../../src/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'bh-h10-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (content: string | Buffer, mode = 0o600): string => {
  const p = join(dir, `s${n++}`);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
};
const missing = join(dir, 'no-such-secret');
const directory = join(dir, 'a-directory');
mkdirSync(directory);
const fifo = join(dir, 'a-fifo');
execFileSync('mkfifo', [fifo]);

async function run(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    env: { BANHAMMER_ENFORCER: 'log', BANHAMMER_STATE_DIR: join(dir, 'state'), BANHAMMER_SOCKET: join(dir, 'bh.sock'), ...env },
    hostname: 'unit',
  };
  return { code: await main(args, io), out, err };
}

const SHARE = { BANHAMMER_REDIS_URL: 'redis://redis.example.com:6379', BANHAMMER_SHARE_GROUP: 'web' };
const SMTP = { BANHAMMER_NOTIFY_SMTP_URL: 'smtp://ops@mail.example.com:587', BANHAMMER_NOTIFY_SMTP_FROM: 'banhammer@example.com', BANHAMMER_NOTIFY_SMTP_TO: 'ops@example.com' };
const KEY = 'k'.repeat(32);

const BAD: [string, Record<string, string>, RegExp][] = [
  ['a missing Redis password file', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: missing }, /Redis password file .*no-such-secret/],
  ['an empty Redis password file', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: file('') }, /Redis password file .* is empty/],
  ['a Redis password file holding one newline', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: file('\n') }, /Redis password file .* is empty/],
  ['an oversized Redis password file', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: file('x'.repeat(64 * 1024 + 1)) }, /Redis password file .*larger than 65536 bytes/],
  ['a Redis password file that is a directory', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: directory }, /Redis password file .*a-directory.* is a directory/],
  ['a Redis password file that is a FIFO', { ...SHARE, BANHAMMER_REDIS_PASSWORD_FILE: fifo }, /Redis password file .*a-fifo.* not a regular file/],
  ['a missing share key file', { ...SHARE, BANHAMMER_SHARE_KEY_FILE: missing }, /share key file .*no-such-secret/],
  ['an empty share key file', { ...SHARE, BANHAMMER_SHARE_KEY_FILE: file('') }, /share key in .* is shorter than 16 bytes/],
  ['a short share key', { ...SHARE, BANHAMMER_SHARE_KEY_FILE: file('short-key\n') }, /share key in .* is shorter than 16 bytes/],
  ['an oversized share key file', { ...SHARE, BANHAMMER_SHARE_KEY_FILE: file('x'.repeat(64 * 1024 + 1)) }, /share key file .*larger than 65536 bytes/],
  ['a missing SMTP password file', { ...SMTP, BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: missing }, /SMTP password .*no-such-secret/],
  ['an empty SMTP password file', { ...SMTP, BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: file('\n') }, /SMTP password .* is empty/],
  ['a missing webhook URL file', { BANHAMMER_NOTIFY_WEBHOOK_URL_FILE: missing }, /URL of notification target .*no-such-secret/],
];

describe('check-config refuses the secret files the agent refuses', () => {
  it.each(BAD)('%s', async (_what, env, message) => {
    const started = Date.now();
    const r = await run(['check-config'], env);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err.split('\n').filter((l) => l !== '').length).toBeLessThanOrEqual(3);
    expect(r.out).toBe('');
    // A FIFO must not block the read.
    expect(Date.now() - started).toBeLessThan(5000);
    // --json too: nothing on stdout that a script would take for a valid configuration.
    const j = await run(['check-config', '--json'], env);
    expect(j.code).toBe(1);
    expect(j.out).toBe('');
    expect(j.err).toMatch(message);
  });

  it('the same files are refused by apache-conf (the image entrypoint) with exit 2', async () => {
    for (const [what, env, message] of BAD) {
      const r = await run(['apache-conf'], env);
      expect(r.code, what).toBe(2);
      expect(r.err, what).toMatch(message);
    }
  });

  it('and by run, before anything starts', async () => {
    for (const [what, env, message] of BAD) {
      const r = await Promise.race([
        run(['run', '--dry-run'], env),
        new Promise<{ code: number; out: string; err: string }>((resolve) => setTimeout(() => resolve({ code: -1, out: '', err: 'the agent started' }), 5000)),
      ]);
      expect(r.code, what).toBe(2);
      expect(r.err, what).toMatch(message);
    }
  }, 30_000);

  it('good files pass, whatever their mode (Docker swarm mounts secrets 0444)', async () => {
    const env = {
      ...SHARE,
      BANHAMMER_REDIS_PASSWORD_FILE: file('s3cret-Redis-pw\n', 0o444),
      BANHAMMER_SHARE_KEY_FILE: file(`${KEY}\n`, 0o644),
      ...SMTP,
      BANHAMMER_NOTIFY_SMTP_PASSWORD_FILE: file('smtp-pw\n', 0o640),
    };
    const r = await run(['check-config'], env);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // The secret itself is never shown.
    expect(r.out).not.toContain('s3cret-Redis-pw');
    expect(r.out).not.toContain(KEY);
  });
});
