/**
 * README (Your own rules): "run from the TypeScript sources (`npm run dev`), they [the presets] are
 * read from presets/". `npm run dev` ran `tsx src/cli.ts`, a module that only exports main(): every
 * command printed nothing and exited 0 (`npm run dev -- rules`, `-- replay FILE`, `-- run`), so a
 * developer trying a preset edit saw no output and no error. It must run the CLI as bin/banhammer.js
 * runs the bundle: the same output, the same exit codes, the presets read from presets/ (so an edit
 * there shows without a build).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;

function dev(...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync('npm', ['run', '-s', 'dev', '--', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('npm run dev', () => {
  it('runs the CLI from the sources: version, rules (presets from presets/), replay', () => {
    const v = dev('version');
    expect(v.out.trim()).toBe(`banhammer ${VERSION}`);
    expect(v.status).toBe(0);

    const rules = dev('rules', '--json');
    expect(rules.status).toBe(0);
    const listed = JSON.parse(rules.out) as { name: string }[] | { rules: { name: string }[] };
    const names = (Array.isArray(listed) ? listed : listed.rules).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['forbidden', 'exploit-probes', 'not-found']));

    const replay = dev('replay', 'examples/access.log', '--json');
    expect(replay.status).toBe(0);
    expect((JSON.parse(replay.out) as { bans: unknown[] }).bans).toHaveLength(3);
  });

  it('exits with the CLI code: 2 for a usage error, with its message', () => {
    const r = dev('replay');
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/replay takes exactly one FILE/);
  });
});
