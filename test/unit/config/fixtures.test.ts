/**
 * Every fixture under test/fixtures/config/: valid ones load; each invalid one fails naming the key
 * its first line announces (`# expect: <key>`), or with BH_ERR_CONFIG_FILE for file-level failures.
 * `.yaml` fixtures are config files; `.env` fixtures are KEY=VALUE environments.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { BanhammerError } from '../../../src/errors.js';
import type { Problem } from '../../../src/config/problems.js';

const root = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));
const validDir = join(root, 'valid');
const invalidDir = join(root, 'invalid');

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

function expectedKey(text: string): string {
  const m = /^# expect: (\S+)$/m.exec(text);
  if (!m) throw new Error('fixture lacks its "# expect: <key>" first line');
  return m[1]!;
}

function loadFixture(path: string) {
  const text = readFileSync(path, 'utf8');
  const env = path.endsWith('.env') ? parseEnvFile(text) : { BANHAMMER_CONFIG: path };
  return loadConfig({ env, hostname: 'fixture-host' });
}

describe('valid config fixtures', () => {
  const files = readdirSync(validDir).filter((f) => f.endsWith('.yaml'));
  it('has fixtures', () => expect(files.length).toBeGreaterThanOrEqual(5));
  it.each(files)('%s loads', (f) => {
    const c = loadFixture(join(validDir, f));
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.rules.forbidden).toBeDefined();
  });
});

describe('invalid config fixtures', () => {
  const files = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml') || f.endsWith('.env'));
  it('has fixtures of both kinds', () => {
    expect(files.filter((f) => f.endsWith('.yaml')).length).toBeGreaterThanOrEqual(30);
    expect(files.filter((f) => f.endsWith('.env')).length).toBeGreaterThanOrEqual(10);
  });
  it.each(files)('%s is rejected naming its key', (f) => {
    const path = join(invalidDir, f);
    const key = expectedKey(readFileSync(path, 'utf8'));
    let err: unknown;
    try {
      loadFixture(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BanhammerError);
    const be = err as BanhammerError;
    if (key === 'BH_ERR_CONFIG_FILE') {
      expect(be.code).toBe('BH_ERR_CONFIG_FILE');
      expect(be.message).toContain(path);
      return;
    }
    expect(be.code).toBe('BH_ERR_CONFIG');
    const problems = be.data.problems as Problem[];
    expect(problems.map((p) => p.key)).toContain(key);
    // One line per problem, and the line names the key and where the value came from.
    const line = be.message.split('\n').find((l) => l.startsWith(`- ${key} `) || l.startsWith(`- ${key}=`));
    expect(line, be.message).toBeDefined();
    expect(line).toMatch(f.endsWith('.env') ? /\(env BANHAM+ER_[A-Z_]+\)/ : new RegExp(`\\(file ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
  });
});
