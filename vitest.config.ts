import { defineConfig } from 'vitest/config';

/**
 * Bridge-level files that use only the API, MQTT and a receiver, run again
 * with the bridge on PostgreSQL (DATABASE_URL): commands with replies and
 * ?wait=, people on the terminals, webhooks and alerts, the live stream's
 * resume, tokens across a restart, the embedded broker's read-ahead.
 */
const ON_POSTGRES = [
  'test/integration/command-replies.test.ts',
  'test/integration/people.test.ts',
  'test/integration/alerts.test.ts',
  'test/integration/events-api.test.ts',
  'test/integration/tokens.test.ts',
  'test/integration/nul-input.test.ts',
  'test/integration/broker-read-ahead.test.ts',
];

export default defineConfig({
  test: {
    // Integration tests start real brokers, databases and child processes.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default leaves one core free, which on a 2-core machine runs
    // the files one at a time. They mostly wait on brokers, disks and
    // timers, so three at once on two cores take the least time (README
    // §Development gives the runs).
    maxWorkers: 3,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'postgres', include: ON_POSTGRES, setupFiles: ['test/support/postgres-setup.ts'] } },
    ],
  },
});
