import { defineConfig } from 'vitest/config';

// One run covers every tier this machine can run: unit tests always; integration tests (real
// iptables/ipset in network namespaces) and e2e tests (Docker) skip themselves, saying why, when the
// kernel or engine is not there. .ci/run installs and starts both, so CI runs them all.
// Files under test/e2e share one Docker engine, image tags and host ports: they run one file at a
// time (their own project), while the other tiers keep running in parallel.
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit+integration', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], fileParallelism: false } },
    ],
  },
});
