/**
 * Leftover (1), the same class in the share stage: the outbox (BANHAMMER_STATE_DIR/share-outbox-*.json)
 * is replayed to every replica of the group when Redis is reachable. Planted in a state directory
 * others may write, it bans (or unbans) an address group-wide. It fails until the patch
 * /tmp/h1/outbox-trust.patch (src/share is not H1's) is applied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../../../src/share/outbox.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

async function plantedOutbox(prepare: (dir: string, file: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'bh-h1-outbox-'));
  roots.push(dir);
  const file = join(dir, 'share-outbox-unit.json');
  const log = { info() {}, warn() {}, error() {} };
  const a = new Outbox(file, 100, log, () => NOW);
  a.put({ t: 'ban', ban: { ip: '198.18.70.1', family: 4, rule: 'manual', at: NOW, until: NOW + 86400_000, origin: 'unit' } });
  await a.flush();
  prepare(dir, file);
  const warned: string[] = [];
  const b = new Outbox(file, 100, { info() {}, error() {}, warn: (_o: object, m?: string) => void warned.push(m ?? '') }, () => NOW);
  await b.load();
  return { size: b.size, warned };
}

describe.skipIf(process.geteuid?.() !== 0)('a share outbox someone else could have written is not replayed to the group', () => {
  it('control: our own 0600 file in a 0700 directory is replayed', async () => {
    expect((await plantedOutbox(() => {})).size).toBe(1);
  });
  for (const [name, prepare] of [
    ['state directory mode 0777', (d: string) => chmodSync(d, 0o777)],
    ['outbox file mode 0666', (_d: string, f: string) => chmodSync(f, 0o666)],
    ['outbox file owned by another user', (_d: string, f: string) => chownSync(f, 4242, 4242)],
  ] as const) {
    it(name, async () => {
      const r = await plantedOutbox(prepare);
      expect(r.size).toBe(0);
      expect(r.warned.join('\n')).toMatch(/refused/);
    });
  }
});
