import Database from 'better-sqlite3';
import pg from 'pg';

// The records a store holds, counted from outside the bridge: a broker's
// PUBACK says the broker has a record, not the bridge (README §Running
// against Mosquitto), so "stored" is read where the bridge commits it.

/** Face records stored: one event each. */
const FACES = "select count(*) as n from events where type like 'face.%'";

export interface StoredCounter {
  count(): Promise<number>;
  close(): Promise<void>;
}

/** Counts the face events of a bridge's store: its SQLite file (read-only), or its PostgreSQL database. */
export async function storedCounter(store: { dbPath: string } | { databaseUrl: string }): Promise<StoredCounter> {
  if ('dbPath' in store) {
    const db = new Database(store.dbPath, { readonly: true, fileMustExist: true });
    const faces = db.prepare<[], { n: number }>(FACES);
    return {
      count: async () => faces.get()!.n,
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: store.databaseUrl });
  await client.connect();
  return {
    // count(*) is a bigint, which pg gives as a string.
    count: async () => Number((await client.query<{ n: string }>(FACES)).rows[0].n),
    close: () => client.end(),
  };
}
