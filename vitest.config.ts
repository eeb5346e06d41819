import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real brokers, databases and child processes.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
