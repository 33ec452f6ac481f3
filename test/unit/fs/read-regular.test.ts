/**
 * Files the agent reads but whose kind it does not control: a FIFO, a link to /dev/zero or a
 * directory planted where a state file, the share outbox, a secret or a configuration file is
 * expected must neither stall the agent (a FIFO's open and read block until someone writes), nor
 * fill its memory (/dev/zero never ends), nor stop its start.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotRegularFileError, readRegularFile, readRegularFileSync } from '../../../src/fs/read-regular.js';
import { StateStore } from '../../../src/decide/state-store.js';
import { Outbox } from '../../../src/share/outbox.js';
import { readSecret } from '../../../src/notify/notifier.js';
import { loadConfig } from '../../../src/config/load.js';
import { readRuleDir } from '../../../src/detect/rule-file.js';
import { BanhammerError } from '../../../src/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-regular-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Fails the test instead of hanging it when `p` does not settle in time. */
function within<T>(p: Promise<T>, ms = 3000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms).unref())]);
}

const fifo = (path: string): void => void execFileSync('mkfifo', [path]);
const zeroLink = (path: string): void => symlinkSync('/dev/zero', path);

/** Every hostile kind of file, made at `path`, with the code the readers give it. */
const KINDS: [string, (path: string) => void, string][] = [
  ['a FIFO', fifo, 'ENOTREG'],
  ['a link to /dev/zero', zeroLink, 'ENOTREG'],
  ['a directory', (p) => mkdirSync(p), 'EISDIR'],
];

describe('readRegularFile / readRegularFileSync', () => {
  it('read a regular file, and a link to one (Docker secrets are links)', async () => {
    writeFileSync(join(dir, 'f'), 'héllo\n');
    symlinkSync(join(dir, 'f'), join(dir, 'l'));
    expect(readRegularFileSync(join(dir, 'f'), 100)).toBe('héllo\n');
    expect(await readRegularFile(join(dir, 'l'), 100)).toBe('héllo\n');
    expect(readRegularFileSync(join(dir, 'f'), 7)).toBe('héllo\n'); // exactly the limit (7 bytes)
  });

  for (const [what, make, code] of KINDS) {
    it(`refuse ${what} at once (${code}), sync and async`, async () => {
      const p = join(dir, 'x');
      make(p);
      expect(() => readRegularFileSync(p, 1000)).toThrow(expect.objectContaining({ code }));
      await expect(within(readRegularFile(p, 1000))).rejects.toMatchObject({ code });
    });
  }

  it('refuse a file larger than the limit (EFBIG), and a missing one with ENOENT', async () => {
    writeFileSync(join(dir, 'big'), 'x'.repeat(101));
    expect(() => readRegularFileSync(join(dir, 'big'), 100)).toThrow(NotRegularFileError);
    await expect(readRegularFile(join(dir, 'big'), 100)).rejects.toMatchObject({ code: 'EFBIG', size: 101 });
    expect(() => readRegularFileSync(join(dir, 'none'), 100)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('read a file that grew since its stat, but never past the limit', async () => {
    const p = join(dir, 'grow');
    writeFileSync(p, '');
    // Empty at the stat: the reader still reads what is there, within the limit.
    appendFileSync(p, 'abc');
    expect(await readRegularFile(p, 10)).toBe('abc');
    appendFileSync(p, 'x'.repeat(20));
    await expect(readRegularFile(p, 10)).rejects.toMatchObject({ code: 'EFBIG' });
  });
});

describe('the readers that use it', () => {
  for (const [what, make] of KINDS) {
    it(`a state file that is ${what} is set aside, and the agent starts with empty state`, async () => {
      const warnings: string[] = [];
      const store = new StateStore<unknown>({ dir, name: 'bans', version: 1, validate: (x) => x, onWarning: (m) => warnings.push(m) });
      make(store.file);
      expect(await within(store.load())).toBeNull();
      expect(warnings.join('\n')).toMatch(/is not a regular file|is a directory/);
      // Moved aside: the next save writes a real file.
      expect((await readdir(dir)).some((n) => n.startsWith('bans.corrupt-'))).toBe(true);
      await store.save({ ok: true });
      expect(await store.load()).toEqual({ ok: true });
    });

    it(`a share outbox that is ${what} is ignored with a warning`, async () => {
      const logs: string[] = [];
      const log = { info: () => {}, warn: (_o: object, m?: string) => void logs.push(String(m)), error: () => {} };
      const path = join(dir, 'outbox.json');
      make(path);
      const o = new Outbox(path, 10, log, () => Date.UTC(2026, 0, 1));
      await within(o.load());
      expect(o.size).toBe(0);
      expect(logs.join('\n')).toMatch(/cannot read the outbox/);
    });

    it(`a secret file that is ${what} is a clear error, not a hang`, () => {
      const path = join(dir, 'token');
      make(path);
      expect(() => readSecret(path, 'the token', (p) => readRegularFileSync(p, 65_536))).toThrow(BanhammerError);
    });

    it(`a configuration file that is ${what} is a clear error`, () => {
      const path = join(dir, 'banhammer.yaml');
      make(path);
      expect(() => loadConfig({ env: { BANHAMMER_CONFIG: path }, hostname: 't' })).toThrow(/is not a regular file|is a directory/);
    });
  }

  it('a rule file that is a FIFO or a link to /dev/zero is a problem of that file, the others load', () => {
    const rules = join(dir, 'rules');
    mkdirSync(rules);
    fifo(join(rules, 'a.yaml'));
    zeroLink(join(rules, 'b.yaml'));
    writeFileSync(join(rules, 'c.yaml'), 'name: c\ndescription: c\nmatch: { status: [403] }\nmaxretry: 3\nfindtime: 1m\nbantime: 1h\n');
    const r = readRuleDir(rules, { defaultEnabled: true });
    expect(r.problems).toHaveLength(2);
    expect(r.problems.join('\n')).toMatch(/not a regular file/);
    expect(r.rules.map((x) => x.name)).toEqual(['c']);
  });
});
