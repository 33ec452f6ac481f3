/**
 * Sharing settings (issue 11): BANHAMMER_REDIS_URL, BANHAMMER_REDIS_PASSWORD_FILE and
 * BANHAMMER_SHARE_GROUP, or YAML under one `share:` key; both URL and group, or neither.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

const load = (env: Record<string, string>, yaml?: string) =>
  loadConfig({ env: yaml === undefined ? env : { ...env, BANHAMMER_CONFIG: '/etc/banhammer.yml' }, hostname: 'unit', readFile: () => yaml ?? '' });

describe('share settings', () => {
  it('are off by default', () => {
    expect(load({}).share).toEqual({ redisUrl: null, passwordFile: null, group: null, keyFile: null, minPrefix4: 16, minPrefix6: 48, maxBans: 100_000 });
  });

  it('come from the environment or from YAML under share:', () => {
    expect(load({ BANHAMMER_REDIS_URL: 'redis://shop@redis:6379/0', BANHAMMER_SHARE_GROUP: 'shop', BANHAMMER_REDIS_PASSWORD_FILE: '/run/secrets/redis' }).share).toEqual({
      redisUrl: 'redis://shop@redis:6379/0',
      passwordFile: '/run/secrets/redis',
      group: 'shop',
      keyFile: null,
      minPrefix4: 16,
      minPrefix6: 48,
      maxBans: 100_000,
    });
    expect(load({}, 'share:\n  redis_url: rediss://redis.example:6380\n  group: blog\n  min_prefix4: 24\n  min_prefix6: 64\n  max_bans: 5000\n').share).toEqual({
      redisUrl: 'rediss://redis.example:6380',
      passwordFile: null,
      group: 'blog',
      keyFile: null,
      minPrefix4: 24,
      minPrefix6: 64,
      maxBans: 5000,
    });
    expect(load({ BANHAMMER_SHARE_KEY_FILE: '/run/secrets/share-key' }).share.keyFile).toBe('/run/secrets/share-key');
    expect(load({}, 'share:\n  key_file: /run/secrets/k\n').share.keyFile).toBe('/run/secrets/k');
    expect(() => load({ BANHAMMER_SHARE_KEY_FILE: 'relative/key' })).toThrow(/BANHAMMER_SHARE_KEY_FILE/);
    expect(load({ BANHAMMER_SHARE_MIN_PREFIX4: '32', BANHAMMER_SHARE_MIN_PREFIX6: '128', BANHAMMER_SHARE_MAX_BANS: '250000' }).share).toMatchObject({ minPrefix4: 32, minPrefix6: 128, maxBans: 250_000 });
    for (const bad of ['0', '-1', '1000001', '1.5', 'many']) expect(() => load({ BANHAMMER_SHARE_MAX_BANS: bad })).toThrow(/BANHAMMER_SHARE_MAX_BANS/);
  });

  it('refuse one without the other, a URL that is not redis, and a group that would break the key prefix', () => {
    expect(() => load({ BANHAMMER_REDIS_URL: 'redis://redis:6379' })).toThrow(/BANHAMMER_SHARE_GROUP/);
    expect(() => load({ BANHAMMER_SHARE_GROUP: 'shop' })).toThrow(/BANHAMMER_REDIS_URL/);
    for (const url of ['http://redis:6379', 'redis://', 'not a url', 'redis://redis:6379/db']) {
      expect(() => load({ BANHAMMER_REDIS_URL: url, BANHAMMER_SHARE_GROUP: 'shop' })).toThrow(/BANHAMMER_REDIS_URL|redis_url/);
    }
    for (const group of ['sh{op}', 'a:b', 'two words', '-x', 'x'.repeat(65)]) {
      expect(() => load({ BANHAMMER_REDIS_URL: 'redis://redis:6379', BANHAMMER_SHARE_GROUP: group })).toThrow(/SHARE_GROUP|group/);
    }
    expect(() => load({}, 'share:\n  redis_url: redis://r:6379\n  group: g\n  color: blue\n')).toThrow(/color|unknown/);
    for (const [k, v] of [['4', '7'], ['4', '33'], ['4', '16.5'], ['4', 'x'], ['6', '31'], ['6', '129'], ['6', '-48']]) {
      expect(() => load({ [`BANHAMMER_SHARE_MIN_PREFIX${k}`]: v! })).toThrow(new RegExp(`MIN_PREFIX${k}|min_prefix${k}`));
    }
  });
});
