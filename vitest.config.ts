import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real brokers, databases and child processes.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default leaves one core free, which on a 2-core machine runs
    // the files one at a time; they mostly wait on brokers, disks and
    // timers, so two at once halve the run (238 s -> 128 s here).
    maxWorkers: 2,
  },
});
