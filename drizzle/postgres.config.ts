import { defineConfig } from 'drizzle-kit';

// The PostgreSQL store's migrations (DATABASE_URL), apart from SQLite's; kept
// under drizzle/ (the top level holds the one drizzle.config.ts). Paths are
// from the repository, where npm runs drizzle-kit.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './drizzle/postgres',
});
