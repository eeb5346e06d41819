import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzleEntry } from '../drizzle.ts';
import * as schema from './schema.ts';

const { drizzle } = drizzleEntry('drizzle-orm/better-sqlite3');
const { migrate } = drizzleEntry('drizzle-orm/better-sqlite3/migrator');

export type Sync = 'full' | 'normal';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle', import.meta.url));

export function databasePath(dataDir: string): string {
  return join(dataDir, 'facegate.db');
}

/**
 * One connection with the settings every connection needs. WAL lets the API
 * read while the writer thread commits; `synchronous` decides what an
 * acknowledged message survives (README §Guarantees): FULL syncs the WAL on
 * every commit (a power cut loses nothing acknowledged), NORMAL only at
 * checkpoints (a process crash loses nothing, a power cut may).
 */
export function openDatabase(dataDir: string, sync: Sync) {
  // Face images, webhook secrets and command bodies: for the service's user
  // alone. SQLite gives the WAL and shared-memory files the database file's mode.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  closeSync(openSync(databasePath(dataDir), 'a', 0o600));
  const sqlite = new Database(databasePath(dataDir));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma('busy_timeout = 5000');
  return { sqlite, db: drizzle(sqlite, { schema }) };
}

export type Db = ReturnType<typeof openDatabase>['db'];

export function migrateDatabase(db: Db): void {
  migrate(db, { migrationsFolder: MIGRATIONS });
}
