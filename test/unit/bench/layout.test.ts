// The benchmark lives in bench/ (its own tsconfig, compiled to bench/dist by `npm run bench`): never in
// src/, dist/ or the npm package.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..', '..');
const json = (p: string): Record<string, unknown> => JSON.parse(readFileSync(join(root, p), 'utf8')) as Record<string, unknown>;

describe('bench layout', () => {
  it('no benchmark code under src/ or scripts/', () => {
    expect(existsSync(join(root, 'src', 'bench'))).toBe(false);
    expect(existsSync(join(root, 'scripts', 'parse-speed.ts'))).toBe(false);
    expect(existsSync(join(root, 'scripts', 'tail-latency.ts'))).toBe(false);
    expect(existsSync(join(root, 'bench', 'run.ts'))).toBe(true);
  });

  it('bench/ has its own tsconfig extending the root one, compiled outside dist/', () => {
    const t = json('bench/tsconfig.json') as { extends: string; compilerOptions: { outDir: string } };
    expect(t.extends).toBe('../tsconfig.json');
    expect(resolve(root, 'bench', t.compilerOptions.outDir)).toBe(join(root, 'bench', 'dist'));
    expect((json('tsconfig.build.json') as { include: string[] }).include.every((p) => p.startsWith('src/'))).toBe(true);
  });

  it('the npm scripts run the bench from bench/, and the bundle has no bench entry', () => {
    const scripts = json('package.json').scripts as Record<string, string>;
    expect(scripts.bench).toContain('bench/dist/bench/run.js');
    expect(scripts.bench).toContain('--expose-gc');
    expect(scripts['build:bench']).toBe('tsc -p bench/tsconfig.json');
    expect(scripts['bench:parse']).toBe('tsx bench/parse-speed.ts');
    expect(scripts['bench:tail']).toBe('tsx bench/tail-latency.ts');
    expect(Object.values(scripts).join('\n')).not.toMatch(/(^|\s)(dist|src)\/bench|scripts\/(parse-speed|tail-latency)/m);
    expect(readFileSync(join(root, 'scripts', 'bundle.ts'), 'utf8')).not.toMatch(/entryPoints:[^}]*bench/);
  });

  it('the npm package holds bin/ and dist/ only, and no bench file (after npm run build)', () => {
    expect(json('package.json').files).toEqual(['bin', 'dist']);
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files.filter((p) => /(^|\/)bench\//.test(p))).toEqual([]);
    expect(files.every((p) => /^(bin|dist)\//.test(p) || /^(package\.json|README\.md|LICENSE)$/i.test(p))).toBe(true);
  });
});
