/**
 * Review H31, seam replay vs agent: a ban cut at the cap (host mode, bans per container) is marked
 * `cut`, its end the cut's time, in replay's report, whether or not `--explain` keeps evidence.
 *
 * replay.ts found the report's entry of a cut ban by the ban object itself (a WeakMap). The ban book
 * replaces a held ban's object when the evidence budget (16 MB over active and ended bans) takes its
 * lines, oldest holders first: the very bans a cut takes (the oldest of a container). With
 * `--explain` and long lines (a hostile log writer chooses them), the cut ban was not found, and the
 * report showed it held to its full length, unlike the same replay without `--explain` and the agent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { replayFile } from '../../../src/replay/replay.js';
import { clf } from '../../support/clf.js';

const root = mkdtempSync(join(tmpdir(), 'bh-h31-replay-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const CAP = 1000;
const MAXRETRY = 17;
const pad = 'x'.repeat(1000);
const access = (ip: string, t: number) => `${ip} - - [${clf(t)}] "GET /private?${pad} HTTP/1.1" 403 10 "-" "curl/8"`;
const syslog = (tag: string, ip: string, t: number) => `<30>Nov 23 10:00:00 ${tag}[1]: ${access(ip, t)}`;
const v4 = (k: number, n: number): string => `198.18.${k * 4 + (n >> 8)}.${n & 255}`;

describe('replay marks a ban cut at the cap, with --explain too', () => {
  it('the oldest ban of the container holding the most, cut for a fifth container, is cut in both reports', async () => {
    const lines: string[] = [];
    let t = T0;
    // Four tags (containers, off the host) fill the book, a quarter each, 17 long lines per ban
    // (over 16 MB of evidence in all); then a fifth container's offender.
    for (let k = 0; k < 5; k++) {
      for (let n = 0; n < (k < 4 ? CAP / 4 : 1); n++) {
        t += 1000;
        for (let i = 0; i < MAXRETRY; i++) lines.push(syslog(`web-${k}`, v4(k, n), t));
      }
    }
    const file = join(root, 'syslog.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const env = {
      BANHAMMER_ENFORCER: 'docker-user',
      BANHAMMER_LOG_PATH: file,
      BANHAMMER_DOCKER_CONTAINERS_DIR: join(root, 'not-here'),
      BANHAMMER_INSTANCE: 'host',
      BANHAMMER_MAX_BANS: String(CAP),
      BANHAMMER_RULE_FORBIDDEN_MAXRETRY: String(MAXRETRY),
      BANHAMMER_RULES: 'forbidden',
    };
    const config = loadConfig({ env, hostname: 't' });
    const cutOf = (r: Awaited<ReturnType<typeof replayFile>>) => r.bans.filter((b) => b.cut === true).map((b) => [b.ip, b.container, b.until]);
    const plain = await replayFile(file, config, { threads: 1 });
    expect(plain.bans).toHaveLength(CAP + 1);
    expect(cutOf(plain)).toEqual([[v4(0, 0), 'web-0', t]]);
    const explained = await replayFile(file, config, { threads: 1, explain: true });
    expect(cutOf(explained)).toEqual(cutOf(plain));
  }, 60_000);
});
