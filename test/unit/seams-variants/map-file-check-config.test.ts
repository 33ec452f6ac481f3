/**
 * Issue 10, defect 5 variant: check-config accepts a setting that the image's
 * entrypoint then refuses (exit 78). The remote-IP header now shares one rule, but BANHAMMER_MAP_FILE
 * does not: the schema only wants an absolute path (src/config/schema.ts:230-236, `absolutePath`),
 * while renderApacheDefines (`banhammer apache-conf`, src/enforce/apache-map.ts:131-133) refuses any
 * path outside APACHE_SAFE_PATH (a space, a quote, `${`, non-ASCII).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.js';
import { renderApacheDefines } from '../../../src/enforce/apache-map.js';

const accepted = (env: Record<string, string>): boolean => {
  try {
    resolveConfig({ env, hostname: 'unit' });
    return true;
  } catch {
    return false;
  }
};
const rendered = (env: Record<string, string>): boolean => {
  try {
    renderApacheDefines(resolveConfig({ env, hostname: 'unit' }).config);
    return true;
  } catch {
    return false;
  }
};

describe('what check-config accepts, apache-conf renders (apache-map map file)', () => {
  for (const path of ['/run/bh map/banned.map', '/run/bh/"x".map', '/run/${X}/a.map', '/run/bh/é.map']) {
    it(`BANHAMMER_MAP_FILE=${JSON.stringify(path)}`, () => {
      const env = { BANHAMMER_ENFORCER: 'apache-map', BANHAMMER_MAP_FILE: path };
      // Either both refuse it (check-config names the problem) or both take it. (Before the fix: check-config accepted it, apache-conf refused it.)
      expect({ checkConfig: accepted(env), apacheConf: rendered(env) }).toEqual({ checkConfig: rendered(env), apacheConf: rendered(env) });
    });
  }
});
