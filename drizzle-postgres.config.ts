import { defineConfig } from 'drizzle-kit';

// The PostgreSQL store's migrations (DATABASE_URL), apart from SQLite's.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './drizzle/postgres',
});
