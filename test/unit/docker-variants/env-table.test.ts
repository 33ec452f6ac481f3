/**
 * Issue 4: "Everything tunable by env vars documented in one README table". Every variable a
 * container script takes from the user's environment (a `${NAME:-default}` or `${NAME:=default}`
 * read, BH_* test relocations and Apache's own envvars aside) must be a row of the README's
 * environment table, not only prose elsewhere (AGENT_STOP_TIMEOUT was in no documentation at all).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { DOCKER } from '../docker/script-harness.js';

const README = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');

function scripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return scripts(p);
    return readFileSync(p, 'utf8').startsWith('#!/bin/sh') ? [p] : [];
  });
}

/** Variables the scripts default from the environment; BH_* relocate paths for tests only. */
function userVariables(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const s of scripts(DOCKER)) {
    const text = readFileSync(s, 'utf8').split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
    for (const m of text.matchAll(/\$\{([A-Z][A-Z0-9_]*):?[-=]/g)) {
      const name = m[1]!;
      if (name.startsWith('BH_') || name.startsWith('APACHE_')) continue;
      found.set(name, [...(found.get(name) ?? []), s.slice(DOCKER.length + 1)]);
    }
  }
  return found;
}

const table = (): string => {
  const a = README.indexOf('<!-- env-table:start -->');
  const b = README.indexOf('<!-- env-table:end -->');
  expect(a).toBeGreaterThan(-1);
  expect(b).toBeGreaterThan(a);
  return README.slice(a, b);
};

it('finds the image settings the scripts read', () => {
  const names = [...userVariables().keys()];
  expect(names).toEqual(expect.arrayContaining(['HTTP_PORT', 'HTTPS_PORT', 'ACCESS_LOG_ROTATE_SIZE', 'ACCESS_LOG_ROTATE_KEEP', 'AGENT_STOP_TIMEOUT', 'IMAGE_MODE']));
});

it('every variable a container script reads is a row of the README environment table', () => {
  const rows = new Set([...table().matchAll(/^\| `([A-Z][A-Z0-9_<>]*)` \|/gm)].map((m) => m[1]!));
  const missing = [...userVariables()].filter(([name]) => !rows.has(name)).map(([name, where]) => `${name} (${[...new Set(where)].join(', ')})`);
  expect(missing).toEqual([]);
});
