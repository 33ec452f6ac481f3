import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// One run covers every tier this machine can run: unit tests always; integration tests (real
// iptables/ipset in network namespaces) and e2e tests (Docker) skip themselves, saying why, when the
// kernel or engine is not there. .ci/run installs and starts both, so CI runs them all.
//
// The tiers run one after the other (sequence.groupOrder), each with its own number of workers:
// - unit: one worker per core. Its tests use fakes, their own temporary directories and no fixed
//   port, so files may run side by side (on a 2-core machine this takes the tier from about 14 to 8
//   minutes);
// - integration: one file at a time. Its tests drive real firewalls, servers and agents, and many
//   bound how long something takes with the machine to themselves;
// - e2e: one file at a time. Its files share one Docker engine, image tags and host ports.
const cores = Math.max(1, availableParallelism());

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    maxWorkers: cores,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: cores, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', 'test/e2e/**'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
