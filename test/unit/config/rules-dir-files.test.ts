/**
 * Rule files read from a real directory: only regular files are read, never more than the size limit.
 * A FIFO named like a rule file would block the agent's start for ever; a link to /dev/zero would fill
 * its memory. Both are one problem line naming the file, read without blocking.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRuleDir } from '../../../src/detect/rule-file.js';

const rule = (name: string): string =>
  `name: ${name}\ndescription: ${name} rule\nmatch:\n  paths: ['^/${name}$']\nmaxretry: 2\nfindtime: 1m\nbantime: 1h\n`;

let dir = '';
afterEach(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('rule files on disk', () => {
  it('refuses a FIFO and a device without blocking or reading them, and still reads the regular files', () => {
    dir = mkdtempSync(join(tmpdir(), 'bh-rules-'));
    writeFileSync(join(dir, 'good.yaml'), rule('good'));
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    symlinkSync('/dev/zero', join(dir, 'zero.yaml'));
    const t0 = Date.now();
    const { rules, problems } = readRuleDir(dir, { defaultEnabled: false });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(rules.map((r) => r.name)).toEqual(['good']);
    expect(problems).toHaveLength(2);
    expect(problems.find((p) => p.includes('pipe.yaml'))).toMatch(/not a regular file/);
    expect(problems.find((p) => p.includes('zero.yaml'))).toMatch(/not a regular file/);
  });

  it('a file over the size limit is refused, however it grew', () => {
    dir = mkdtempSync(join(tmpdir(), 'bh-rules-'));
    writeFileSync(join(dir, 'big.yaml'), `${rule('big')}# ${'x'.repeat(300 * 1024)}\n`);
    const { rules, problems } = readRuleDir(dir, { defaultEnabled: false });
    expect(rules).toHaveLength(0);
    expect(problems.join('\n')).toMatch(/big\.yaml/);
  });
});
