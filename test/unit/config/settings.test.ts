/**
 * Setting metadata in one table (issue 10): SETTINGS says for every setting where it sits in Config and
 * whether a reload applies it; Config assembly, check-config's values and the reload warning derive
 * from it, so a setting cannot be missing from one of them.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { SETTING_KEYS, SETTINGS, type Config } from '../../../src/config/schema.js';
import { assembleConfig, reloadedConfig, restartOnlyChanges, settingName, settingValue, settingValues, settingsByReload } from '../../../src/config/settings.js';
import { renderEnvTable } from '../../../src/config/env-table.js';

const load = (env: Record<string, string> = {}): Config => loadConfig({ env, hostname: 'web1' });

/** Leaf paths of a Config other than rules: `log.paths`, `enforcer`, … */
function leafPaths(c: Config): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(c)) {
    if (k === 'rules') continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const k2 of Object.keys(v)) out.push(`${k}.${k2}`);
    else out.push(k);
  }
  return out.sort();
}

describe('the settings table', () => {
  const c = load();
  it('places every Config value exactly once', () => {
    const paths = SETTING_KEYS.map((k) => SETTINGS[k].configPath.join('.')).sort();
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toEqual(leafPaths(c));
  });
  it('assembles back the Config it reads', () => {
    expect(assembleConfig(settingValues(c), c.rules)).toEqual(c);
    expect(settingValue(c, 'logPaths')).toBe(c.log.paths);
  });
  it('decides a reload mode for every setting', () => {
    for (const k of SETTING_KEYS) expect(['live', 'restart'], k).toContain(SETTINGS[k].reload);
    expect([...settingsByReload('live'), ...settingsByReload('restart')].sort()).toEqual([...SETTING_KEYS].sort());
  });
  it('log level reloads live; the remote-IP header needs a restart (Apache reads it at start)', () => {
    expect(SETTINGS.logLevel.reload).toBe('live');
    expect(SETTINGS.remoteipHeader.reload).toBe('restart');
    expect(SETTINGS.ignoreip.reload).toBe('live');
    expect(SETTINGS.enforcer.reload).toBe('restart');
  });
  it('the env table shows each setting’s reload mode', () => {
    const table = renderEnvTable();
    expect(table).toContain('| On reload |');
    expect(table).toMatch(/`BANHAMMER_LOG_LEVEL` \|.*\| live \|$/m);
    expect(table).toMatch(/`BANHAMMER_REMOTEIP_HEADER` \|.*\| restart \|$/m);
  });
});

describe('restartOnlyChanges', () => {
  const base = load();
  it('is empty for the same settings', () => {
    expect(restartOnlyChanges(base, load())).toEqual([]);
  });
  it('is empty when only live settings or rules change', () => {
    const after = load({ BANHAMMER_LOG_LEVEL: 'debug', BANHAMMER_IGNOREIP: '198.18.0.0/24', BANHAMMER_MAXRETRY: '3', BANHAMMER_RULES: 'forbidden,not-found', BANHAMMER_MAX_TRACKED: '10' });
    expect(restartOnlyChanges(base, after)).toEqual([]);
  });
  it('names a changed remote-IP header as the user knows it', () => {
    expect(restartOnlyChanges(base, load({ BANHAMMER_REMOTEIP_HEADER: 'X-Real-IP' }))).toEqual(['BANHAMMER_REMOTEIP_HEADER (remoteip_header)']);
  });
  it('names every changed restart-only setting, in table order, lists compared by value', () => {
    const after = load({ BANHAMMER_PORTS: '8080', BANHAMMER_ENFORCER: 'log', BANHAMMER_LOG_PATH: '/var/log/other.log', BANHAMMER_INSTANCE: 'web2' });
    expect(restartOnlyChanges(base, after)).toEqual([
      'BANHAMMER_INSTANCE (instance)',
      'BANHAMMER_LOG_PATH (log.paths)',
      'BANHAMMER_ENFORCER (enforcer)',
      'BANHAMMER_PORTS (ports)',
    ]);
    expect(restartOnlyChanges(base, load({ BANHAMMER_PORTS: '80, 443' }))).toEqual([]);
  });
  it('names settings by environment variable and YAML key', () => {
    expect(settingName('logFormat')).toBe('BANHAMMER_LOG_FORMAT (log.format)');
  });
});

describe('reloadedConfig', () => {
  it('takes live settings and rules from the new config, keeps restart-only ones at their running values', () => {
    const before = load();
    const after = load({ BANHAMMER_LOG_LEVEL: 'debug', BANHAMMER_REMOTEIP_HEADER: 'X-Real-IP', BANHAMMER_PORTS: '8080', BANHAMMER_IGNOREIP: '198.18.0.0/24', BANHAMMER_MAXRETRY: '2' });
    const next = reloadedConfig(before, after);
    expect(next.logLevel).toBe('debug');
    expect(next.ignoreip).toEqual(['198.18.0.0/24']);
    expect(next.rules.forbidden!.maxretry).toBe(2);
    expect(next.remoteipHeader).toBe('X-Forwarded-For');
    expect(next.ports).toEqual([80, 443]);
    expect(restartOnlyChanges(before, next)).toEqual([]);
    expect(Object.getPrototypeOf(next.rules)).toBeNull();
    expect(Object.isFrozen(next)).toBe(true);
  });
});
