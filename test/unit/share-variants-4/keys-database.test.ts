/**
 * Audit round 4 of issue 11: the group's channel names the database (pub/sub ignores databases; see
 * test/integration/share-variants-4/databases.test.ts), keys stay as they were, all under the prefix.
 */
import { describe, expect, it } from 'vitest';
import { groupKeys } from '../../../src/share/keys.js';
import { createRedisShare } from '../../../src/share/share.js';
import { systemClock } from '../../../src/clock.js';

describe('groupKeys: the channel of a database other than 0', () => {
  it('database 0 keeps banhammer:{g}:events; database N adds :dbN; every key and channel keeps the prefix', () => {
    expect(groupKeys('web').events).toBe('banhammer:{web}:events');
    expect(groupKeys('web', 0).events).toBe('banhammer:{web}:events');
    const k = groupKeys('web', 3);
    expect(k.events).toBe('banhammer:{web}:events:db3');
    expect(k.bans).toBe('banhammer:{web}:bans');
    for (const v of [k.events, k.bans, k.unbans, k.epoch, k.failures('http-403', '198.18.0.1', undefined), k.claim('http-403', '198.18.0.1', undefined)]) expect(v.startsWith('banhammer:{web}:')).toBe(true);
  });

  it('a bad URL is still reported as a URL problem, not as a group name problem', () => {
    const log = { info() {}, warn() {}, error() {} };
    expect(() => createRedisShare({ url: 'http://x', group: 'web', outboxPath: '/tmp/h4/none.json' }, { clock: systemClock, log })).toThrow(/must start with redis:\/\/ or rediss:\/\//);
    expect(() => createRedisShare({ url: 'redis://x/abc', group: 'web', outboxPath: '/tmp/h4/none.json' }, { clock: systemClock, log })).toThrow(/invalid database/);
  });
});
