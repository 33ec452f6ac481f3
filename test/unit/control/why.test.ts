/**
 * `banhammer why` (issue 14): the control op (validation, canonical addresses), the round trip
 * through a real socket, the text layout, and the CLI's exit codes and --json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRequest, type WhyBan, type WhyReport } from '../../../src/control/protocol.js';
import { startControlServer, type ControlHandler, type ControlServer } from '../../../src/control/server.js';
import { controlRequest } from '../../../src/control/client.js';
import { formatWhy, whyKnowsAnything } from '../../../src/control/format-why.js';
import { main } from '../../../src/cli.js';

const ban = (over: Partial<WhyBan> = {}): WhyBan => ({
  ip: '198.18.0.7',
  rule: 'forbidden',
  jail: 'forbidden',
  source: 'detected',
  from: null,
  at: '2026-12-02T12:00:05.000Z',
  until: '2026-12-02T13:00:05.000Z',
  failures: 5,
  nth: 1,
  container: null,
  containerId: null,
  origin: null,
  evidence: [1, 2, 3, 4, 5].map((i) => ({
    at: `2026-12-02T12:00:0${i}.000Z`,
    file: '/var/log/apache2/access.log',
    line: `198.18.0.7 - - [02/Dec/2026:12:00:0${i} +0000] "GET /forbidden/ HTTP/1.1" 403 199 "-" "curl/8.0"`,
  })),
  evidenceOmitted: 0,
  ended: null,
  ...over,
});

const report = (over: Partial<WhyReport> = {}): WhyReport => ({
  ip: '198.18.0.7',
  instance: 'web-1',
  now: '2026-12-02T12:10:00.000Z',
  allowlisted: false,
  active: [],
  failing: [],
  ended: [],
  historySize: 1000,
  ...over,
});

describe('the why op', () => {
  it('takes an address or a network, canonical, and nothing else', () => {
    const ok = (l: string) => {
      const r = parseRequest(l);
      if (!r.ok) throw new Error(r.error.message);
      return r.request;
    };
    expect(ok('{"op":"why","ip":"198.18.0.7"}')).toEqual({ op: 'why', ip: '198.18.0.7' });
    expect(ok('{"op":"why","ip":"::ffff:198.18.0.7"}')).toEqual({ op: 'why', ip: '198.18.0.7' });
    expect(ok('{"op":"why","ip":"2001:DB8:0::7"}')).toEqual({ op: 'why', ip: '2001:db8::7' });
    expect(ok('{"op":"why","ip":"198.18.0.7/24"}')).toEqual({ op: 'why', ip: '198.18.0.0/24' });
    const bad = (l: string) => {
      const r = parseRequest(l);
      if (r.ok) throw new Error(`accepted ${l}`);
      return r.error;
    };
    expect(bad('{"op":"why"}').message).toContain('needs "ip"');
    expect(bad('{"op":"why","ip":"example.org"}').code).toBe('BH_ERR_ADDRESS');
    expect(bad('{"op":"why","ip":"198.18.0.7\\n198.18.0.8"}').code).toBe('BH_ERR_ADDRESS');
    expect(bad('{"op":"why","ip":"198.18.0.7","rule":"forbidden"}').message).toContain('unknown field "rule"');
  });
});

describe('formatWhy', () => {
  it('prints the bans in force with their matches, failures and history in fail2ban-client layout', () => {
    const text = formatWhy(
      report({
        active: [ban()],
        failing: [{ rule: 'not-found', container: null, containerId: null, lines: [{ at: null, file: '/var/log/apache2/access.log', line: '198.18.0.7 - - "GET /nope" 404' }] }],
        ended: [ban({ rule: 'manual', jail: 'manual', source: 'manual', failures: 0, evidence: [], ended: { reason: 'unbanned', at: '2026-12-02T11:00:00.000Z', by: 'control' } })],
      }),
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe('Status for the address: 198.18.0.7');
    expect(lines[1]).toBe('|- Currently banned:\t1');
    expect(lines[2]).toBe('|  `- Jail:\tforbidden');
    expect(text).toContain('|     |- Banned at:\t2026-12-02T12:00:05.000Z\n|     |- Until:\t2026-12-02T13:00:05.000Z\n');
    expect(text).toContain('|     |- Source:\tthe access log (this agent counted the failures)\n|     |- Failures:\t5\n|     |- Times banned:\t1\n');
    expect(text).toContain('|     `- Matches:\t5 lines in /var/log/apache2/access.log\n|        |- 198.18.0.7 - - [02/Dec/2026:12:00:01 +0000]');
    expect(text).toContain('|        `- 198.18.0.7 - - [02/Dec/2026:12:00:05 +0000] "GET /forbidden/ HTTP/1.1" 403 199 "-" "curl/8.0"\n');
    expect(text).toContain('|- Currently failed:\t1\n|  `- not-found:\t1 failure not banned (yet)\n|     `- 198.18.0.7 - - "GET /nope" 404\n');
    expect(text).toContain('`- Ban history:\t1 ended (of the last 1000 the agent remembers)\n   `- Jail:\tmanual\n');
    expect(text).toContain('      |- Ended:\t2026-12-02T11:00:00.000Z, unbanned with banhammer unban (control socket)\n');
    expect(text).toContain('      |- Source:\tbanhammer ban (control socket)\n');
    expect(text).toContain('      `- Matches:\tnone kept (no log line made this ban)');
  });

  it('says how each ban ended and where a group ban came from; several files are named per line', () => {
    const text = formatWhy(
      report({
        ended: [
          ban({ ended: { reason: 'expired', at: 'x', by: null } }),
          ban({ ended: { reason: 'unbanned', at: 'x', by: 'control-all' } }),
          ban({ ended: { reason: 'unbanned', at: 'x', by: 'group:replica-b' } }),
          ban({ ended: { reason: 'allowlisted', at: 'x', by: 'reload' } }),
          ban({ ended: { reason: 'allowlisted', at: 'x', by: 'restore' } }),
          ban({ ended: { reason: 'replaced', at: 'x', by: 'ban' } }),
          ban({ ended: { reason: 'replaced', at: 'x', by: 'group:replica-c' } }),
          ban({ source: 'group', from: 'replica-d', evidence: [], ended: { reason: 'unbanned', at: 'x', by: 'who knows' } }),
          ban({
            source: 'group-count',
            evidenceOmitted: 3,
            evidence: [
              { at: null, file: '/a.log', line: 'one' },
              { at: null, file: '/b.log', line: 'two' },
            ],
            ended: { reason: 'expired', at: 'x', by: null },
          }),
        ],
      }),
    );
    for (const s of [
      'Ended:\tx, expired',
      'Ended:\tx, unbanned with banhammer unban --all (control socket)',
      'Ended:\tx, unbanned by replica replica-b (shared through Redis)',
      'Ended:\tx, lifted: the reloaded configuration allowlists it',
      'Ended:\tx, lifted at start: the configuration allowlists it',
      'Ended:\tx, replaced by a new banhammer ban',
      'Ended:\tx, replaced by a longer ban from replica replica-c',
      'Ended:\tx, unbanned (by who knows)',
      'Source:\ta ban by replica replica-d (shared through Redis)',
      "Source:\tthe group's count (failures counted by several replicas; the lines are this replica's)",
      'Matches:\t2 lines, 3 more counted by other replicas or not kept',
      '/a.log: one',
      '/b.log: two',
    ]) {
      expect(text).toContain(s);
    }
  });

  it('escapes control characters from any hostile text before it reaches a terminal', () => {
    const text = formatWhy(
      report({
        active: [ban({ container: 'web\x1b[2J', containerId: 'abc', origin: 'x\ny', evidence: [{ at: null, file: '/f\x07', line: 'GET /\x1b]0;owned\x07' }] })],
      }),
    );
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(text).toContain('GET /\\x1b]0;owned\\x07');
    expect(text).toContain('Container:\tweb\\x1b[2J (abc)');
    expect(text).toContain('Origin:\tx\\x0ay');
  });

  it('has a clear message when nothing is known, and says when an address is allowlisted', () => {
    expect(formatWhy(report())).toBe('198.18.0.7: not banned, no recent failures, and not among the last 1000 ended bans this agent (web-1) remembers\n');
    expect(formatWhy(report({ allowlisted: true }))).toContain('|- Allowlisted:\tyes');
    expect(formatWhy(report({ ip: '198.18.0.0/24', active: [ban({ ip: '198.18.0.0/24', source: 'manual', evidence: [] })] }))).toMatch(/^Status for the network: 198\.18\.0\.0\/24\n[\s\S]*Network ban:\t198\.18\.0\.0\/24/);
  });

  it('a ban of the group not in force here is no "not banned": it is shown, and the CLI exits 0 (review: suspicion 3)', () => {
    const r = report({ group: [{ ip: '198.18.0.7', rule: 'forbidden', from: 'replica-a\x1b[2J', at: '2026-12-02T12:00:05.000Z', until: null, containerId: null }] });
    expect(whyKnowsAnything(r)).toBe(true);
    const text = formatWhy(r);
    expect(text).not.toMatch(/not banned/);
    expect(text).toContain('|- Currently banned:\t0');
    expect(text).toContain('Banned by the group, not here:\t1');
    expect(text).toContain('Source:\ta ban by replica replica-a\\x1b[2J (shared through Redis)');
    expect(text).toContain('Until:\tpermanent');
    // An empty list (sharing on, nothing from the group) changes nothing.
    expect(formatWhy(report({ group: [] }))).toBe(formatWhy(report()));
  });
});

describe('banhammer why through a real socket', () => {
  let dir: string;
  let server: ControlServer;
  const asked: string[] = [];
  const known = report({ active: [ban()] });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bh-why-'));
    const handler: ControlHandler = {
      status: () => {
        throw new Error('unused');
      },
      ban: () => null,
      unban: () => 0,
      unbanAll: () => 0,
      reload: () => {},
      why: (ip) => {
        asked.push(ip);
        return ip === '198.18.0.7' ? known : report({ ip });
      },
    };
    server = await startControlServer({ socketPath: join(dir, 'bh.sock'), handler });
  });

  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips the report; the CLI prints text or --json and exits 1 when nothing is known', async () => {
    const sock = join(dir, 'bh.sock');
    expect(await controlRequest(sock, { op: 'why', ip: '::ffff:198.18.0.7' }, { timeoutMs: 5000 })).toEqual(known);
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), env: { BANHAMMER_SOCKET: sock }, hostname: 'unit' };
    expect(await main(['why', '198.18.0.7'], io)).toBe(0);
    expect(out.join('')).toBe(formatWhy(known));
    out.length = 0;
    expect(await main(['why', '198.18.0.7', '--json'], io)).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual(known);
    out.length = 0;
    expect(await main(['why', '2001:DB8::9'], io)).toBe(1);
    expect(out.join('')).toContain('2001:db8::9: not banned');
    expect(await main(['why', 'not-an-ip'], io)).toBe(2);
    expect(err.join('')).toContain('not an IP address or network');
    expect(await main(['why'], io)).toBe(2);
    expect(asked).toEqual(['198.18.0.7', '198.18.0.7', '198.18.0.7', '2001:db8::9']);
  });
});
