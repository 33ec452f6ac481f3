/**
 * Issue 10, defect 1 variant: host mode, restart in between. A ban scoped to a
 * container whose directory is gone is restored (by design) and listed by status with its
 * containerId, but `unban ADDRESS --container <that id>` is refused ("no container named …"), so the
 * only way to lift it is an unban without --container, which also lifts the address's bans in every
 * other container. Cause: Daemon.unban → containerFor (src/docker/host-mode.ts:28) resolves only
 * containers ContainerDirectory.find knows (src/docker/containers.ts:244-257); it never falls back
 * to the scopes the ban book holds.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agent, cleanup, A, B, Store, settle } from './harness.js';

afterEach(cleanup);

describe('unban --container of a container removed since the ban', () => {
  it('lifts that container\'s ban only, by the full id status shows', async () => {
    const store = new Store();
    const d = agent({ host: true, store });
    await d.daemon.start();
    await d.feed('198.18.0.11', 5, A);
    await d.feed('198.18.0.11', 5, B);
    await d.daemon.stop({ removeFirewall: false });
    rmSync(join(d.root!, A), { recursive: true, force: true }); // container A removed
    const d2 = agent({ host: true, root: d.root, store });
    await d2.daemon.start();
    await settle();
    expect(d2.banned()).toEqual(['forbidden 198.18.0.11 a1', 'forbidden 198.18.0.11 b2']);
    let n: number | string;
    try {
      n = await d2.daemon.unban('198.18.0.11', { container: A });
    } catch (e) {
      n = (e as Error).message;
    }
    await settle();
    expect(n).toBe(1);
    expect(d2.banned()).toEqual(['forbidden 198.18.0.11 b2']);
    expect(d2.held()).toEqual(['198.18.0.11 b2']);
    await d2.daemon.stop();
  });
});
