import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// One run covers every tier this machine can run: unit tests always; integration tests (real
// iptables/ipset in network namespaces) and e2e tests (Docker) skip themselves, saying why, when the
// kernel or engine is not there. .ci/run installs and starts both, so CI runs them all.
//
// Every file runs alone, one after another. (vitest runs groups by sequence.groupOrder, but puts a
// project of groupOrder 0 and one worker in a group of its own that runs last: integration, e2e, then unit.)
// - unit: its files could run side by side (fakes, own temporary directories, no fixed port), and
//   on a 2-core machine two workers took the tier from about 14 to 8 minutes; but dozens of them bound
//   how long something takes, and two local CI runs each had one go over its bound (a rule file
//   refused in 1,061 ms against 1,000; a webhook test's manual clock outrunning its own request).
//   Set `maxWorkers` below to `cores` to try it again;
// - integration: its tests drive real firewalls, servers and agents, and many bound wall time;
// - e2e: its files share one Docker engine, image tags and host ports.
const cores = Math.max(1, availableParallelism());

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    maxWorkers: cores,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 1, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', 'test/e2e/**'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
