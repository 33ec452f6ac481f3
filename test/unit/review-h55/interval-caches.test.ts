/**
 * Helper H55: intervals measured on the wall clock. Caches that are looked at again after seconds
 * (host mode: a container's syslog tag, the containers directory's listing) took their age from
 * Date.now(): with the wall clock set back a day, a tag that named no container when first seen
 * stayed "no container" for that day, and the lines of the container started under it were banned
 * host-wide, not for that container. Ages are measured on the monotonic clock now.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerDirectory } from '../../../src/docker/containers.js';
import { containerConfig } from '../docker/container-fixtures.js';
import { SteppingClock } from './stepping-clock.js';
import { NOW } from '../seams-variants/harness.js';

const A = 'a1'.repeat(32);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function put(root: string, id: string, name: string): void {
  mkdirSync(join(root, id), { recursive: true });
  writeFileSync(join(root, id, 'config.v2.json.tmp'), containerConfig(id, name, { bridge: { v4: '198.18.200.2' } }));
  renameSync(join(root, id, 'config.v2.json.tmp'), join(root, id, 'config.v2.json'));
}

describe('review H55: cache ages on the monotonic clock', () => {
  for (const step of [-86_400_000, -3_600_000, 86_400_000]) {
    it(`a syslog tag first seen before its container exists names it 10 s after it starts (wall clock stepped ${step / 1000} s)`, () => {
      const root = mkdtempSync(join(tmpdir(), 'bh-h55-tags-'));
      dirs.push(root);
      const clock = new SteppingClock(NOW);
      const d = new ContainerDirectory({ dir: root, clock });
      expect(d.scopesOf('/var/log/syslog', 'shop')).toEqual([undefined]);
      clock.advance(1000);
      clock.step(step);
      put(root, A, 'shop');
      clock.advance(10_000);
      expect(d.scopesOf('/var/log/syslog', 'shop')).toEqual([A]);
      expect(d.info(A)?.name).toBe('shop');
    });
  }
});
