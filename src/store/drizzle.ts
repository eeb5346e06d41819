import { createRequire } from 'node:module';

/**
 * drizzle-orm's entry points, loaded through its CommonJS build rather than
 * imported. drizzle-orm's package.json holds 130 KB of "exports", and
 * Node 24's ESM loader, looking up the package of each module it loads,
 * parses that field again for every one of drizzle's modules: time at each
 * thread's start, and heaps grown for good (README §Performance, "Node 24
 * and drizzle's exports", has the figures). A `.cjs` file needs no package
 * lookup. Each entry point is loaded when first asked for, so a bridge on
 * SQLite never loads PostgreSQL's.
 */
interface EntryPoints {
  'drizzle-orm': typeof import('drizzle-orm');
  'drizzle-orm/migrator': typeof import('drizzle-orm/migrator');
  'drizzle-orm/sqlite-core': typeof import('drizzle-orm/sqlite-core');
  'drizzle-orm/better-sqlite3': typeof import('drizzle-orm/better-sqlite3');
  'drizzle-orm/better-sqlite3/migrator': typeof import('drizzle-orm/better-sqlite3/migrator');
  'drizzle-orm/pg-core': typeof import('drizzle-orm/pg-core');
  'drizzle-orm/node-postgres': typeof import('drizzle-orm/node-postgres');
  'drizzle-orm/node-postgres/migrator': typeof import('drizzle-orm/node-postgres/migrator');
}

// drizzle-kit's CLI (npm run db:generate) loads the schemas as CommonJS,
// where import.meta is empty and __filename is defined.
const requireHere = createRequire(import.meta.url ?? __filename);

/** One of drizzle-orm's entry points (the same object on every call: require's cache). */
export function drizzleEntry<Name extends keyof EntryPoints>(name: Name): EntryPoints[Name] {
  return requireHere(name) as EntryPoints[Name];
}
