/**
 * README: "A corrupt state file is moved aside with a warning, never a crash loop". A symbolic link
 * at the state file's place that cannot be followed (pointing at itself, two links pointing at each
 * other, or a link through a regular file as if it were a directory) made load() throw
 * BH_ERR_STATE: the agent exited 2 at every start and its supervisor restarted it for ever, while a
 * link to /dev/zero or a FIFO (hardening-variants) is set aside. The directory is fine in every case:
 * the link is the bad file, and is moved aside like one.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../../src/decide/state-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bh-h4-state-link-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const store = (warnings: string[]) => new StateStore<unknown>({ dir, name: 'state-web', version: 1, validate: (x) => x, onWarning: (m) => warnings.push(m) });

describe('a state file that is a link which cannot be followed', () => {
  it.each([
    ['a link to itself', (f: string) => symlinkSync(f, f), /ELOOP/],
    ['two links to each other', (f: string) => (symlinkSync(join(dir, 'other'), f), symlinkSync(f, join(dir, 'other'))), /ELOOP/],
    ['a link through a regular file', (f: string) => (writeFileSync(join(dir, 'plain'), 'x'), symlinkSync(join(dir, 'plain', 'state.json'), f)), /ENOTDIR/],
  ] as const)('%s is moved aside with a warning; start goes on and saves', async (_name, make, code) => {
    const file = join(dir, 'state-web.json');
    make(file);
    const warnings: string[] = [];
    const s = store(warnings);
    await expect(s.load()).resolves.toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(code);
    expect(readdirSync(dir).some((n) => n.startsWith('state-web.corrupt-'))).toBe(true);
    await s.save({ bans: [] });
    expect(JSON.parse(readFileSync(file, 'utf8')).data).toEqual({ bans: [] });
    await expect(store([]).load()).resolves.toEqual({ bans: [] });
  });

  it('an unusable directory still refuses to start (the contract: only the directory throws)', async () => {
    const notDir = join(dir, 'file');
    writeFileSync(notDir, 'x');
    const s = new StateStore<unknown>({ dir: notDir, name: 'state-web', version: 1, validate: (x) => x, onWarning: () => {} });
    await expect(s.load()).rejects.toMatchObject({ code: 'BH_ERR_STATE' });
  });
});
