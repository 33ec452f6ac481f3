import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../../src/decide/state-store.js';
import { BanhammerError } from '../../../src/errors.js';
import { ManualClock } from '../../fakes/manual-clock.js';

interface Doc {
  seq: number;
  items: string[];
}

function validateDoc(raw: unknown): Doc {
  if (typeof raw !== 'object' || raw === null) throw new Error('not an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.seq !== 'number' || !Array.isArray(r.items)) throw new Error('missing seq or items');
  if (r.items.length !== r.seq) throw new Error(`items has ${r.items.length} entries, seq says ${r.seq}`);
  for (const [i, s] of r.items.entries()) if (s !== `item-${i}`) throw new Error(`items[${i}] is ${String(s)}`);
  return { seq: r.seq, items: r.items as string[] };
}

function makeDoc(seq: number): Doc {
  return { seq, items: Array.from({ length: seq }, (_, i) => `item-${i}`) };
}

let dir: string;
let warnings: string[];

function store(opts: Partial<{ version: number; name: string; dir: string; clock: ManualClock }> = {}) {
  return new StateStore<Doc>({
    dir: opts.dir ?? dir,
    name: opts.name ?? 'bans',
    version: opts.version ?? 1,
    validate: validateDoc,
    onWarning: (m) => warnings.push(m),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bh-state-'));
  warnings = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('StateStore', () => {
  it('returns null when nothing was saved yet, even when the directory does not exist', async () => {
    expect(await store().load()).toBeNull();
    expect(await store({ dir: join(dir, 'missing', 'deeper') }).load()).toBeNull();
    expect(warnings).toEqual([]);
  });

  it('round-trips a document and writes a versioned envelope', async () => {
    const s = store({ clock: new ManualClock(1_700_000_000_000) });
    await s.save(makeDoc(3));
    expect(await store().load()).toEqual(makeDoc(3));
    const raw = JSON.parse(await readFile(join(dir, 'bans.json'), 'utf8'));
    expect(raw).toEqual({ version: 1, savedAt: 1_700_000_000_000, data: makeDoc(3) });
    expect(await readdir(dir)).toEqual(['bans.json']);
  });

  it('creates a missing state directory on save', async () => {
    const sub = join(dir, 'a', 'b');
    await store({ dir: sub }).save(makeDoc(1));
    expect(await store({ dir: sub }).load()).toEqual(makeDoc(1));
  });

  it.each([
    ['bad JSON', '{"version":1,"data":{"seq":1,'],
    ['an empty file', ''],
    ['no envelope', JSON.stringify(makeDoc(2))],
    ['a wrong version', JSON.stringify({ version: 2, data: makeDoc(2) })],
    ['data that fails validation', JSON.stringify({ version: 1, data: { seq: 5, items: [] } })],
  ])('sets aside a file with %s, warns, and returns null', async (_why, content) => {
    await writeFile(join(dir, 'bans.json'), content);
    const clock = new ManualClock(Date.UTC(2026, 2, 4, 5, 6, 7, 890));
    expect(await store({ clock }).load()).toBeNull();
    const names = await readdir(dir);
    expect(names).toEqual(['bans.corrupt-2026-03-04T05-06-07-890Z']);
    expect(await readFile(join(dir, names[0]!), 'utf8')).toBe(content);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(dir, 'bans.json'));
    expect(warnings[0]).toContain('bans.corrupt-2026-03-04T05-06-07-890Z');
    // The next save starts a fresh file and it loads cleanly.
    await store().save(makeDoc(1));
    expect(await store().load()).toEqual(makeDoc(1));
  });

  it('sets aside a file larger than maxBytes without reading it (a hostile or runaway state file)', async () => {
    const doc = JSON.stringify({ version: 1, data: makeDoc(3) });
    await writeFile(join(dir, 'bans.json'), doc);
    const small = new StateStore<Doc>({ dir, name: 'bans', version: 1, validate: validateDoc, onWarning: (m) => warnings.push(m), maxBytes: doc.length - 1 });
    expect(await small.load()).toBeNull();
    expect(warnings[0]).toContain(`is ${doc.length} bytes, more than the ${doc.length - 1} a state file may have`);
    expect((await readdir(dir)).some((n) => n.startsWith('bans.corrupt-'))).toBe(true);
    await writeFile(join(dir, 'bans.json'), doc);
    const exact = new StateStore<Doc>({ dir, name: 'bans', version: 1, validate: validateDoc, onWarning: (m) => warnings.push(m), maxBytes: doc.length });
    expect(await exact.load()).toEqual(makeDoc(3));
  });

  it('names the wrong version in the warning', async () => {
    await writeFile(join(dir, 'bans.json'), JSON.stringify({ version: 7, data: makeDoc(0) }));
    await store().load();
    expect(warnings[0]).toMatch(/version 7, expected 1/);
  });

  it('throws BH_ERR_STATE with a hint when the directory is unusable', async () => {
    const notADir = join(dir, 'plainfile');
    await writeFile(notADir, 'x');
    const s = store({ dir: notADir });
    const loadErr = await s.load().then(
      () => null,
      (e: unknown) => e,
    );
    expect(loadErr).toBeInstanceOf(BanhammerError);
    expect((loadErr as BanhammerError).code).toBe('BH_ERR_STATE');
    expect((loadErr as BanhammerError).message).toContain(notADir);
    expect((loadErr as BanhammerError).hint).toMatch(/volume/);
    await expect(s.save(makeDoc(1))).rejects.toMatchObject({ code: 'BH_ERR_STATE' });
  });

  it('rejects an unsafe file name', () => {
    expect(() => store({ name: '../escape' })).toThrow(BanhammerError);
  });

  it('serialises concurrent saves: the last call wins and every caller resolves', async () => {
    const s = store();
    const docs = Array.from({ length: 30 }, (_, i) => makeDoc(i + 1));
    await Promise.all(docs.map((d) => s.save(d)));
    expect(await store().load()).toEqual(makeDoc(30));
    expect((await readdir(dir)).sort()).toEqual(['bans.json']);
  });

  it('removes temp files left by a killed writer on load', async () => {
    await store().save(makeDoc(2));
    await writeFile(join(dir, 'bans.json.tmp-999999-1'), '{"version":1,"da');
    expect(await store().load()).toEqual(makeDoc(2));
    expect(await readdir(dir)).toEqual(['bans.json']);
  });

  it('always leaves a complete document when the writer is killed with SIGKILL mid-save', async () => {
    const storeUrl = pathToFileURL(resolve('src/decide/state-store.ts')).href;
    const script = join(dir, 'writer.mts');
    const stateDir = join(dir, 'state');
    await mkdir(stateDir);
    // Each document is a few hundred KiB so a kill often lands inside write/fsync/rename.
    await writeFile(
      script,
      `import { StateStore } from ${JSON.stringify(storeUrl)};
const s = new StateStore({ dir: ${JSON.stringify(stateDir)}, name: 'bans', version: 1, validate: (r) => r, onWarning: () => {} });
let seq = Number(process.argv[2]);
for (;;) {
  seq += 1;
  const items = Array.from({ length: 20000 + (seq % 7) * 1000 }, (_, i) => 'item-' + i);
  await s.save({ seq: items.length, items });
  process.stdout.write('saved ' + seq + '\\n');
}
`,
    );
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, String(round * 1000)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      try {
        // Wait until it has saved at least once this round, then kill after a random extra delay.
        await waitUntil(() => out.includes('saved') || child.exitCode !== null, 15_000);
        expect(err).toBe('');
        expect(child.exitCode).toBeNull();
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)));
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      const loaded = await store({ dir: stateDir }).load();
      expect(loaded).not.toBeNull();
      expect(() => validateDoc(loaded)).not.toThrow();
      expect(warnings).toEqual([]);
      // Leftover temp files were cleaned by load().
      expect((await readdir(stateDir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    }
  }, 60_000);
});

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
