import { afterAll, beforeAll } from 'vitest';
import { type Postgres, startPostgres } from '../../src/kit/postgres.ts';

// The `postgres` project of vitest.config.ts: one PostgreSQL server per test
// file, which the test bridge (bridge.ts) stores in, a fresh database per
// data dir. fsync off: the tests do not cut the power.

let server: Postgres | undefined;

beforeAll(async () => {
  server = await startPostgres({ fsync: 'off' });
  process.env.FACEGATE_TEST_POSTGRES = server.url;
});

afterAll(async () => {
  delete process.env.FACEGATE_TEST_POSTGRES;
  await server?.dispose();
});
