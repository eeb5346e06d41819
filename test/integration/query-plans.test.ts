import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Placeholder } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase, openDatabase } from '../../src/store/open.ts';
import { purgeQueries } from '../../src/store/outbox.ts';

// What SQLite plans to do for each query of retention, on a database built
// by the real migrations: each walks the index it was written for, from a
// bound, and none scans events or deliveries. A changed query or index that
// loses this fails here at once, long before a store of millions of rows
// would show it.

let dir: string;
let database: ReturnType<typeof openDatabase>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'facegate-plans-'));
  database = openDatabase(dir, 'normal');
  migrateDatabase(database.db);
});

afterAll(() => {
  database.sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The lines of EXPLAIN QUERY PLAN for a drizzle query (placeholders bound to 1). */
function plan(query: { toSQL(): { sql: string; params: unknown[] } }): string[] {
  const { sql, params } = query.toSQL();
  const bound = params.map((p) => (p instanceof Placeholder ? 1 : p));
  return (database.sqlite.prepare(`explain query plan ${sql}`).all(...bound) as { detail: string }[]).map((row) => row.detail);
}

/**
 * No line walks events or deliveries from end to end, nor any other table
 * that grows with the traffic without an index. (A SCAN through an index in
 * the order asked for, with no sort after it, stops at the LIMIT.)
 */
function expectNoScan(lines: string[]) {
  for (const line of lines) expect(line, lines.join('\n')).not.toMatch(/^SCAN (events|deliveries)\b|^SCAN (commands|rejects|images)$/);
}

function expectPlan(query: { toSQL(): { sql: string; params: unknown[] } }, expected: RegExp[], refused: RegExp[] = []) {
  const lines = plan(query);
  expectNoScan(lines);
  for (const pattern of expected) expect(lines.some((line) => pattern.test(line)), `${pattern} in:\n${lines.join('\n')}`).toBe(true);
  for (const pattern of refused) expect(lines.some((line) => pattern.test(line)), `no ${pattern} in:\n${lines.join('\n')}`).toBe(false);
}

describe('retention', () => {
  const q = () => purgeQueries(database.db);

  it('walks events_received_at from the cursor and checks each event by deliveries_event_endpoint', () => {
    for (const after of [undefined, { at: 5, seq: 9 }]) {
      expectPlan(
        q().candidates(100, after, 1000),
        [/^SEARCH events USING COVERING INDEX events_received_at \(received_at[<>]\?/, /^SEARCH deliveries USING INDEX deliveries_event_endpoint \(event_seq=\? AND endpoint_id=\?\)$/],
        [/deliveries_status|deliveries_due|TEMP B-TREE/],
      );
    }
  });

  it('finds old rejects and commands by their time indexes and deletes by key', () => {
    expectPlan(q().rejects(100, 200), [/^SEARCH rejects USING COVERING INDEX rejects_received_at \(received_at<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().commands(100, 200), [/^SEARCH commands USING COVERING INDEX commands_created \(created_at<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().images([1, 2]), [/^SEARCH images USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
    expectPlan(q().deliveries([1, 2]), [/^SEARCH deliveries USING (COVERING )?INDEX deliveries_event_endpoint \(event_seq=\?\)$/]);
    expectPlan(q().events([1, 2]), [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
  });
});
