/**
 * A start with 100,000 saved bans into a real kernel (what `npm run bench` times against 1 s): the
 * ban book restores them (every entry read as hostile: the malformed ones are dropped, never
 * written), the queue hands them to the nftables enforcer in its batches (10,000 bans a transaction,
 * two in flight), and afterwards the kernel's sets hold exactly the book: every address it holds,
 * each with its own expiry, and nothing else. In a network namespace made and deleted here.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, withPrefix, type Runner } from '../../../src/exec/runner.js';
import { NftablesEnforcer } from '../../../src/enforce/nftables.js';
import { EnforcementQueue } from '../../../src/enforce/queue.js';
import { BanBook } from '../../../src/decide/ban-book.js';
import { Allowlist } from '../../../src/decide/allowlist.js';
import { PRESETS } from '../../../src/detect/presets.js';
import { systemClock } from '../../../src/clock.js';
import { netnsUnavailable } from '../netns.js';

const N = 100_000;
const sh = new ProcessRunner({ timeoutMs: 60_000 });
const skip = await netnsUnavailable();
const v4At = (i: number): string => `198.${18 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;

describe.skipIf(skip !== null)(`100,000 saved bans into nftables${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const ns = `bh-t-100k-${randomBytes(3).toString('hex')}`;
  let runner: Runner;
  beforeAll(async () => {
    await sh.run('ip', ['netns', 'add', ns]);
    runner = withPrefix(new ProcessRunner({ timeoutMs: 30_000 }), ['ip', 'netns', 'exec', ns]);
  });
  afterAll(async () => {
    await sh.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('the kernel holds exactly the restored book, each ban with its expiry; malformed saved entries are dropped and never written', { timeout: 120_000 }, async () => {
    const now = Date.now();
    const enf = new NftablesEnforcer({ runner, instance: 'r100k', ports: [8080], cidr: true });
    await enf.init();
    const valid = Array.from({ length: N }, (_, i) => ({ ip: v4At(4096 + i), family: 4, rule: 'forbidden', at: now - 60_000, until: i % 10 === 0 ? null : now + 3_600_000 + (i % 1000) * 1000, failures: 5, nth: 1, manual: false }));
    // One of each kind a state file may hold and the book refuses (hostile input).
    const malformed = [
      { ip: '198.18.0.1 }\nflush ruleset', family: 4, rule: 'forbidden', at: now, until: now + 60_000, nth: 1 },
      { ip: '198.18.0.2', family: 4, rule: 'no such rule!', at: now, until: now + 60_000, nth: 1 },
      { ip: '198.18.0.3', family: 4, rule: 'forbidden', at: 'yesterday', until: now + 60_000, nth: 1 },
      { ip: '198.18.0.4', family: 4, rule: 'forbidden', at: now, until: 'later', nth: 1 },
      { ip: '224.0.0.1', family: 4, rule: 'forbidden', at: now, until: now + 60_000, nth: 1 },
      { ip: '198.18.0.5', family: 4, rule: 'forbidden', at: now - 120_000, until: now - 60_000, nth: 1 },
      { ip: '198.18.0.6', family: 4, rule: 'forbidden', at: now, until: now + 60_000, nth: 1, scope: 'ab'.repeat(32) },
      { ip: '198.18.0.0/0', family: 4, rule: 'forbidden', at: now, until: now + 60_000, nth: 1 },
    ];
    const book = new BanBook({ ...PRESETS }, new Allowlist([]), 100_000, { maxBans: 500_000 });
    const r = book.restore({ bans: [...valid.slice(0, N / 2), ...malformed, ...valid.slice(N / 2)] as never, history: [] }, now, { networks: true, scopes: false });
    expect(r).toEqual({ restored: N, dropped: malformed.length, scopedRefused: 1 });
    const errors: unknown[] = [];
    const queue = new EnforcementQueue({ enforcer: enf, source: book, clock: systemClock, afterApply: () => {}, log: { error: (o) => errors.push(o) } });
    const t0 = performance.now();
    await queue.flush();
    const ms = performance.now() - t0;
    expect(errors).toEqual([]);
    expect(book.hasChanges).toBe(false);
    const held = await enf.listSet(4);
    const wanted = new Map(book.expected(Date.now()).map((b) => [b.ip, b.until]));
    expect(wanted.size).toBe(N);
    expect(held).toHaveLength(N);
    const at = Date.now();
    let off = 0;
    for (const e of held) {
      expect(wanted.has(e.ip)).toBe(true);
      const until = wanted.get(e.ip)!;
      if (until === null ? e.expiresS !== null : e.expiresS === null || Math.abs(at + e.expiresS * 1000 - until) > 5_000) off++;
    }
    expect(off).toBe(0);
    // Nothing of the malformed entries reached any of our sets.
    for (const name of ['addr6', 'net4', 'net6']) expect(await enf.listSet(name === 'addr6' ? 6 : name === 'net4' ? 4 : 6, name === 'addr6' ? 'addr' : 'net')).toEqual([]);
    console.log(`[nftables] 100,000 restored bans into the kernel in ${ms.toFixed(0)} ms`);
    await enf.shutdown();
  });
});
