import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

// What a test reads of a bridge that runs in another process (the CLI), as
// an operator's tools would.

/** Counts rows in the bridge's database from outside, as a backup tool would read it. */
export function countIn(dataDir: string, sql: string): number {
  const file = join(dataDir, 'facegate.db');
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** facegate_terminals_online as /metrics reports it: a terminal counts the moment its first message arrives, before any commit. */
export async function onlineTerminals(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^facegate_terminals_online (\d+)/m.exec(text)?.[1] ?? 0);
}
