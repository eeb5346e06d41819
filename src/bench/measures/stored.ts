import Database from 'better-sqlite3';
import pg from 'pg';

// The records a store holds, counted from outside the bridge: a broker's
// PUBACK says the broker has a record, not the bridge (README §Running
// against Mosquitto), so "stored" is read where the bridge commits it.

/** Face records stored: one event each. */
const FACES = "select count(*) as n from events where type like 'face.%'";

export interface StoredCounter {
  count(): Promise<number>;
  /** Face events, and the distinct records (by the terminal's `num`) among them: more events than records is a record stored twice. */
  tally(): Promise<{ rows: number; records: number }>;
  close(): Promise<void>;
}

/** Counts the face events of a bridge's store: its SQLite file (read-only), or its PostgreSQL database. */
export async function storedCounter(store: { dbPath: string } | { databaseUrl: string }): Promise<StoredCounter> {
  if ('dbPath' in store) {
    const db = new Database(store.dbPath, { readonly: true, fileMustExist: true });
    const faces = db.prepare<[], { n: number }>(FACES);
    const tally = db.prepare<[], { rows: number; records: number }>(
      "select count(*) as rows, count(distinct json_extract(fields, '$.num')) as records from events where type like 'face.%'",
    );
    return {
      count: async () => faces.get()!.n,
      tally: async () => tally.get()!,
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: store.databaseUrl });
  await client.connect();
  return {
    // count(*) is a bigint, which pg gives as a string.
    count: async () => Number((await client.query<{ n: string }>(FACES)).rows[0].n),
    tally: async () => {
      // `fields` is the terminal's JSON as text in both stores.
      const { rows } = await client.query<{ rows: string; records: string }>(
        "select count(*) as rows, count(distinct fields::json->>'num') as records from events where type like 'face.%'",
      );
      return { rows: Number(rows[0].rows), records: Number(rows[0].records) };
    },
    close: () => client.end(),
  };
}
