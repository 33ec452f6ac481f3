import { defineConfig } from 'vitest/config';

// One run covers every tier this machine can run: unit tests always; integration tests (real
// iptables/ipset in network namespaces) and e2e tests (Docker) skip themselves, saying why, when the
// kernel or engine is not there. .ci/run installs and starts both, so CI runs them all.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
