/**
 * Hostile review (H16): an SMTP server NAME whose DNS answer leads back into the agent's own host.
 *
 * Reproduced before the fix with the real system resolver: nodemailer resolved the server's name
 * itself (resolve4/resolve6, then dns.lookup, cached 5 minutes), past the guard the webhooks have, so
 * `smtp://rebound.banhammer.test:PORT` whose /etc/hosts line says 127.0.0.1 connected to the local
 * service listening there (the counting listener below saw the connections). Now the name goes
 * through the guarded lookup: refused, not retried, nothing connected to; a name answered with an
 * allowed address still delivers, over STARTTLS and implicit TLS, with the certificate verified
 * against the NAME (the test certificate holds DNS:mail.banhammer.test and no IP address, so a
 * verification against the address connected to would fail, as the literal-address case shows).
 *
 * Runs ssrf-smtp-lab.ts inside a network namespace it creates (lo with 127.0.0.1, ::1 and
 * 198.18.0.25) under `ip netns exec`, whose private mount namespace gets the test's hosts file
 * bind-mounted over /etc/hosts (the root namespace's is never touched). Skips itself without root,
 * `ip netns` or aiosmtpd.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabCase, LabOutcome } from './ssrf-smtp-lab.js';
import { smtpUnavailable } from './receivers.js';

const LAB = fileURLToPath(new URL('./ssrf-smtp-lab.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const REMOTE = '198.18.0.25';

function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) return 'ip netns is not available';
  return smtpUnavailable();
}
const why = unavailable();

const HOSTS = [
  '127.0.0.1 localhost',
  '::1 localhost',
  `${REMOTE} mail.banhammer.test`,
  `${REMOTE} other.banhammer.test`,
  '127.0.0.1 rebound.banhammer.test',
  '127.0.0.9 rebound9.banhammer.test',
  '::1 rebound6.banhammer.test',
  '::ffff:127.0.0.1 mapped.banhammer.test',
  '0.0.0.0 zero.banhammer.test',
  `${REMOTE} mixed.banhammer.test`,
  '127.0.0.1 mixed.banhammer.test',
  '169.254.169.254 meta.banhammer.test',
].join('\n');

/** Names answered with an address of this host, each tried as a relay, with STARTTLS and over implicit TLS. */
const REFUSED_LOCAL = ['rebound', 'rebound9', 'rebound6', 'mapped', 'zero', 'mixed'].flatMap((n): LabCase[] => [
  { name: `${n} relay`, url: `smtp://${n}.banhammer.test:{counter}`, starttls: 'off' },
  { name: `${n} starttls`, url: `smtp://${n}.banhammer.test:{counter}`, starttls: 'required' },
  { name: `${n} smtps`, url: `smtps://${n}.banhammer.test:{counter}` },
]);

const CASES: LabCase[] = [
  ...REFUSED_LOCAL,
  { name: 'meta', url: 'smtp://meta.banhammer.test:{counter}', starttls: 'off' },
  // smtp:// URLs leave an IPv4 shorthand as written: the C library reads it as 127.0.0.1 (a name to the guard).
  { name: 'shorthand 2130706433', url: 'smtp://2130706433:{counter}', starttls: 'off' },
  { name: 'shorthand 127.1', url: 'smtp://127.1:{counter}', starttls: 'off' },
  // Controls: the counting listener does see a connection (a relay written as localhost or a loopback literal keeps working).
  { name: 'literal 127.0.0.1', url: 'smtp://127.0.0.1:{counter}', starttls: 'off' },
  { name: 'localhost', url: 'smtp://localhost:{counter}', starttls: 'off' },
  // Allowed address, TLS verified against the name.
  { name: 'mail starttls', url: 'smtp://mail.banhammer.test:{starttls}', starttls: 'required', ca: true },
  { name: 'mail smtps', url: 'smtps://mail.banhammer.test:{implicit}', ca: true },
  // The same server by a name its certificate does not hold, and by its address: not delivered.
  { name: 'other name', url: 'smtp://other.banhammer.test:{starttls}', starttls: 'required', ca: true },
  { name: 'address literal', url: `smtps://${REMOTE}:{implicit}`, ca: true },
];

describe.skipIf(why !== null)(`SMTP server names answered with an address of this host, real resolver in a namespace${why ? `: ${why}` : ''}`, () => {
  const ns = `bh-h16-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let created = false;
  let outcomes: Map<string, LabOutcome>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bh-h16-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=mail.banhammer.test', '-addext', 'subjectAltName=DNS:mail.banhammer.test', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, `${HOSTS}\n`);
    execFileSync('ip', ['netns', 'add', ns]);
    created = true;
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${REMOTE}/32`, 'dev', 'lo']);
    const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', hosts, TSX, LAB, JSON.stringify({ cert, key, dir, remote: REMOTE }), JSON.stringify(CASES)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const killer = setTimeout(() => child.pid !== undefined && child.kill('SIGKILL'), 150_000);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    clearTimeout(killer);
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (code !== 0 || line === undefined) throw new Error(`the lab failed (exit ${code}):\n${stderr}\n${stdout}`);
    outcomes = new Map((JSON.parse(line.slice('RESULT '.length)) as LabOutcome[]).map((o) => [o.name, o]));
  }, 180_000);

  afterAll(async () => {
    if (created) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const outcome = (name: string): LabOutcome => {
    const o = outcomes.get(name);
    if (o === undefined) throw new Error(`no outcome for ${name}`);
    return o;
  };

  it.each(REFUSED_LOCAL.map((c) => c.name))('%s: refused, not retried, says what to write instead, never connected to', (name) => {
    const o = outcome(name);
    expect(o).toMatchObject({ ok: false, retry: false });
    expect(o.reason).toMatch(/^\S+\.banhammer\.test resolves to \S+, an address of this host itself .*localhost, 127\.0\.0\.1 or \[::1\]/);
    expect(o.counted).toBe(0);
  });

  it('a name answered with a metadata address: refused as such, not retried', () => {
    expect(outcome('meta')).toMatchObject({ ok: false, retry: false, counted: 0 });
    expect(outcome('meta').reason).toMatch(/meta\.banhammer\.test resolves to 169\.254\.169\.254, a link-local address/);
  });

  it('an IPv4 shorthand the C library reads as 127.0.0.1 is a name like any other: refused, never connected to', () => {
    for (const name of ['shorthand 2130706433', 'shorthand 127.1']) {
      const o = outcome(name);
      expect(o, name).toMatchObject({ ok: false, retry: false, counted: 0 });
      expect(o.reason, name).toMatch(/resolves to 127\.0\.0\.1, an address of this host itself/);
    }
  });

  it('the counting listener does see connections: a relay written as 127.0.0.1 or localhost is connected to', () => {
    expect(outcome('literal 127.0.0.1').counted).toBe(1);
    expect(outcome('localhost').counted).toBe(2);
  });

  it('a name answered with an allowed address delivers over STARTTLS and implicit TLS, the certificate verified against the name', () => {
    expect(outcome('mail starttls')).toMatchObject({ ok: true, delivered: 1, tlsDelivered: 1 });
    expect(outcome('mail smtps')).toMatchObject({ ok: true, delivered: 2, tlsDelivered: 2 });
  });

  it('the same server by a name its certificate does not hold, or by its address, is not delivered to', () => {
    for (const name of ['other name', 'address literal']) {
      const o = outcome(name);
      expect(o.ok, name).toBe(false);
      expect(o.reason, name).toMatch(/altnames|certificate|Hostname\/IP/i);
      expect(o.delivered, name).toBe(2);
    }
    expect(outcome('address literal').counted).toBe(2);
  });
});
