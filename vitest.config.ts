import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// One run covers every tier this machine can run: unit tests always; integration tests (real
// iptables/ipset in network namespaces) and e2e tests (Docker) skip themselves, saying why, when the
// kernel or engine is not there. .ci/run installs and starts both, so CI runs them all.
//
// The projects run one after another (vitest runs groups by sequence.groupOrder), and within the
// integration and e2e projects every file runs alone, one after another.
// - unit: its files run side by side, as many as the machine has cores (fakes, own temporary
//   directories, no fixed port). On a 2-core machine two workers take the tier from about 14 to 8
//   minutes. Two workers once made bounds on elapsed time fail (a rule file refused in 1,061 ms
//   against 1,000); since then every unit bound on how long something takes is measured in CPU time
//   (test/support/cpu-time.ts), which a neighbouring worker does not inflate, and the tier passed
//   whole with two workers beside other heavy work (load average 4-5 on 2 cores). A test's timeout
//   there is 60 s: at load 8 two model tests that take 4-8 s alone took 25-39 s (a timeout is a
//   hang detector, not a speed bound: those are in CPU time);
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
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: cores, testTimeout: 60_000, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', 'test/e2e/**'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], maxWorkers: 1, fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
