import { desc, eq } from 'drizzle-orm';
import { openDatabase, type Sync } from './open.ts';
import { commands, terminals } from './schema.ts';

/**
 * The main thread's connection: reads only (the writer thread owns writes).
 * WAL gives it a consistent snapshot without waiting for a commit in progress.
 */
export function openReads(dataDir: string, sync: Sync) {
  const { sqlite, db } = openDatabase(dataDir, sync);
  sqlite.pragma('query_only = true');

  return {
    db,
    terminals: () => db.select().from(terminals).all(),
    terminal: (sn: string) => db.select().from(terminals).where(eq(terminals.sn, sn)).get(),
    commands: (limit = 100) => db.select().from(commands).orderBy(desc(commands.createdAt)).limit(limit).all(),
    close: () => sqlite.close(),
  };
}

export type Reads = ReturnType<typeof openReads>;
