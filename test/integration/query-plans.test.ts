import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { drizzleEntry } from '../../src/store/drizzle.ts';
import { listQueries } from '../../src/store/sqlite/list-queries.ts';
import { migrateDatabase, openDatabase } from '../../src/store/sqlite/open.ts';
import { adminStepQueries, purgeQueries } from '../../src/store/sqlite/outbox.ts';
import { PERSON_SQL } from '../../src/store/sqlite/person-rows.ts';
import { PEOPLE_READ_SQL } from '../../src/store/sqlite/reads.ts';

const { Placeholder } = drizzleEntry('drizzle-orm');

// What SQLite plans to do for each query of the lists, the live stream's
// replay, /metrics and retention, on a database built by the real
// migrations: each walks the index it was written for, from a bound, and
// none scans events or deliveries. A changed query or index that loses this
// fails here at once, long before a store of millions of rows would show it.

let dir: string;
let database: ReturnType<typeof openDatabase>;

beforeAll(() => {
  dir = makeTempDir('facegate-plans-');
  database = openDatabase(dir, 'normal');
  migrateDatabase(database.db);
});

afterAll(() => {
  database.sqlite.close();
  removeTempDir(dir);
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
  for (const pattern of expected)
    expect(
      lines.some((line) => pattern.test(line)),
      `${pattern} in:\n${lines.join('\n')}`,
    ).toBe(true);
  for (const pattern of refused)
    expect(
      lines.some((line) => pattern.test(line)),
      `no ${pattern} in:\n${lines.join('\n')}`,
    ).toBe(false);
}

const range = { from: 1, below: 20_001, limit: 51 };

describe('lists and the live stream', () => {
  const q = () => listQueries(database.db);

  it('turns since and until into seqs with one seek each in events_received_at', () => {
    expectPlan(q().firstSeqFrom(1), [/^SEARCH events USING COVERING INDEX events_received_at \(received_at>\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().lastSeqBefore(1), [/^SEARCH events USING COVERING INDEX events_received_at \(received_at<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().firstEvent(), [/^SEARCH events( USING INTEGER PRIMARY KEY)?$/]);
    expectPlan(q().lastEvent(), [/^SEARCH events( USING INTEGER PRIMARY KEY)?$/]);
  });

  it('finds events through one index within a range of seqs, whatever the filters', () => {
    const seqRange = /seq>\? AND seq<\?/;
    expectPlan(q().eventSeqs(range), [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(
      q().eventSeqs({ ...range, types: ['face.verified'] }),
      [/^SEARCH events USING COVERING INDEX events_type_seq \(type=\? AND seq>\? AND seq<\?\)$/],
      [/TEMP B-TREE/],
    );
    expectPlan(
      q().eventSeqs({ ...range, device: 'T1' }),
      [/^SEARCH events USING COVERING INDEX events_device_seq \(device_sn=\? AND seq>\? AND seq<\?\)$/],
      [/TEMP B-TREE/],
    );
    // Several types, or a type and a terminal: rows checked one by one, only within the range (a window).
    expectPlan(q().eventSeqs({ ...range, types: ['face.verified', 'face.stranger'] }), [
      /^SEARCH events USING COVERING INDEX events_type_seq \(type=\? AND seq>\? AND seq<\?\)$/,
    ]);
    expectPlan(q().eventSeqs({ ...range, types: ['face.verified'], device: 'T1' }), [
      /^SEARCH events USING INDEX events_(type|device)_seq \((type|device_sn)=\? AND seq>\? AND seq<\?\)$/,
    ]);
    expectPlan(q().eventSeqs({ ...range, types: ['face.verified', 'device.message'], device: 'T1' }), [seqRange]);
    // The replay, oldest first.
    const after = { after: 1, upTo: 20_001, limit: 500 };
    expectPlan(q().eventSeqsAfter(after), [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(
      q().eventSeqsAfter({ ...after, types: ['face.verified'] }),
      [/^SEARCH events USING COVERING INDEX events_type_seq \(type=\? AND seq>\? AND seq<\?\)$/],
      [/TEMP B-TREE/],
    );
    expectPlan(q().eventSeqsAfter({ ...after, types: ['face.verified', 'face.rejected'], device: 'T1' }), [seqRange]);
  });

  it('reads each listed event, command and delivery by its key', () => {
    expectPlan(q().listedEvent(), [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
    expectPlan(q().eventKey(), [/^SEARCH events USING INDEX events_id_unique \(id=\?\)$/]);
    expectPlan(q().listedCommand(), [/^SEARCH commands USING INDEX sqlite_autoindex_commands_1 \(id=\?\)$/]);
    expectPlan(q().delivery(), [/^SEARCH deliveries USING INTEGER PRIMARY KEY \(rowid=\?\)$/, /^SEARCH events USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
  });

  it('finds deliveries by deliveries_status or by the event, and an endpoint only within a range of seqs', () => {
    expectPlan(q().deliverySeqs(range), [/^SEARCH deliveries USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(
      q().deliverySeqs({ ...range, status: 'pending' }),
      [/^SEARCH deliveries USING COVERING INDEX deliveries_status \(status=\? AND seq>\? AND seq<\?\)$/],
      [/TEMP B-TREE/],
    );
    // Never all of an endpoint's deliveries through deliveries_due, which is not in seq order.
    expectPlan(
      q().deliverySeqs({ ...range, endpointId: 'ep_x' }),
      [/^SEARCH deliveries USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)$/],
      [/deliveries_due/],
    );
    expectPlan(
      q().deliverySeqs({ ...range, endpointId: 'ep_x', status: 'pending' }),
      [/^SEARCH deliveries USING INDEX deliveries_status \(status=\? AND seq>\? AND seq<\?\)$/],
      [/deliveries_due/],
    );
    // An event has one delivery per endpoint at most: sorting those is nothing.
    expectPlan(
      q().deliverySeqs({ ...range, eventSeq: 7, status: 'dead', endpointId: 'ep_x' }),
      [/^SEARCH deliveries USING INDEX deliveries_event_endpoint \(event_seq=\?\)$/],
      [/deliveries_due|deliveries_status/],
    );
  });

  it('pages commands through commands_created, or commands_device_created for one terminal', () => {
    const before = { at: 5, id: 'cmd_x' };
    // The first page: the index from its newest end, stopped at the limit.
    expectPlan(q().commandKeys({ limit: 51 }), [/^SCAN commands USING COVERING INDEX commands_created$/], [/TEMP B-TREE/]);
    expectPlan(
      q().commandKeys({ limit: 51, before }),
      [/^SEARCH commands USING COVERING INDEX commands_created \(\(created_at,id\)<\(\?,\?\)\)$/],
      [/TEMP B-TREE/],
    );
    expectPlan(
      q().commandKeys({ limit: 51, device: 'T1', before }),
      [/^SEARCH commands USING COVERING INDEX commands_device_created \(device_sn=\? AND \(created_at,id\)<\(\?,\?\)\)$/],
      [/TEMP B-TREE/],
    );
  });

  it('pages commands of a state, of a terminal in a state, and of a batch through an index of their own', () => {
    const before = { at: 5, id: 'cmd_x' };
    expectPlan(
      q().commandKeys({ limit: 51, status: 'queued', before }),
      [/^SEARCH commands USING COVERING INDEX commands_status_created \(status=\? AND \(created_at,id\)<\(\?,\?\)\)$/],
      [/TEMP B-TREE/],
    );
    expectPlan(
      q().commandKeys({ limit: 51, status: 'replied', device: 'T1', before }),
      [/^SEARCH commands USING COVERING INDEX commands_device_status_created \(device_sn=\? AND status=\? AND \(created_at,id\)<\(\?,\?\)\)$/],
      [/TEMP B-TREE/],
    );
    // Within a batch (at most MAX_TERMINALS rows), the other filters are checked row by row.
    for (const filter of [{}, { status: 'failed' as const }, { device: 'T1' }])
      expectPlan(
        q().commandKeys({ limit: 51, batch: 'bat_x', before, ...filter }),
        [/^SEARCH commands USING (COVERING )?INDEX commands_batch_created \(batch=\?/],
        [/TEMP B-TREE/],
      );
  });

  it('reads the outbox depth from its own small table, not from deliveries', () => {
    const lines = plan(q().outboxDepth());
    expect(lines).toEqual(['SCAN outbox_depth']);
  });
});

describe('retention', () => {
  const q = () => purgeQueries(database.db);

  it('walks events_received_at from the cursor and checks each event by deliveries_event_endpoint', () => {
    for (const after of [undefined, { at: 5, seq: 9 }]) {
      expectPlan(
        q().candidates(100, after, 1000),
        [
          /^SEARCH events USING COVERING INDEX events_received_at \(received_at[<>]\?/,
          /^SEARCH deliveries USING INDEX deliveries_event_endpoint \(event_seq=\? AND endpoint_id=\?\)$/,
        ],
        [/deliveries_status|deliveries_due|TEMP B-TREE/],
      );
    }
  });

  it('finds the next image segment referenced with one seek in images_segment', () => {
    expectPlan(q().nextSegment, [/^SEARCH images USING COVERING INDEX images_segment \(segment>\?\)$/], [/SCAN|TEMP B-TREE/]);
  });

  it('finds old rejects and commands by their time indexes and deletes by key', () => {
    expectPlan(q().rejects(100, 200), [/^SEARCH rejects USING COVERING INDEX rejects_received_at \(received_at<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().commands(100, 200), [/^SEARCH commands USING COVERING INDEX commands_created \(created_at<\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().images([1, 2]), [/^SEARCH images USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
    expectPlan(q().deliveries([1, 2]), [/^SEARCH deliveries USING (COVERING )?INDEX deliveries_event_endpoint \(event_seq=\?\)$/]);
    expectPlan(q().events([1, 2]), [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid=\?\)$/]);
  });
});

describe("an admin's changes, a step at a time", () => {
  const q = () => adminStepQueries(database.db);

  it('finds the deliveries of a removed endpoint by an index that leads with endpoint_id', () => {
    expectPlan(q().deleteDeliveriesOf, [/USING (COVERING )?INDEX deliveries_due \(endpoint_id=\?\)/]);
  });

  it('walks the events of a redelivery from a seq, by the primary key', () => {
    expectPlan(q().firstSeqFrom, [/^SEARCH events USING COVERING INDEX events_received_at \(received_at>\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().eventsAfter, [/^SEARCH events USING INTEGER PRIMARY KEY \(rowid>\?\)$/], [/TEMP B-TREE/]);
    expectPlan(q().requeue, [/deliveries_event_endpoint \(event_seq=\? AND endpoint_id=\?\)/]);
  });
});

describe('people on the terminals', () => {
  /** The lines of EXPLAIN QUERY PLAN for SQL text (every parameter bound to 1). */
  const planOf = (text: string) => {
    const count = (text.match(/\?/g) ?? []).length;
    return (database.sqlite.prepare(`explain query plan ${text}`).all(...Array(count).fill(1)) as { detail: string }[]).map((row) => row.detail);
  };
  const expectIndex = (text: string, index: RegExp) => {
    const lines = planOf(text);
    expect(
      lines.some((line) => index.test(line)),
      `${index} in:\n${lines.join('\n')}`,
    ).toBe(true);
    for (const line of lines) expect(line, lines.join('\n')).not.toMatch(/^SCAN (person_sync|events|commands|people)$/);
  };

  it.each([
    ['a terminal in flight', PERSON_SQL.inFlight, /person_sync_in_flight/],
    ["a terminal's next row due", PERSON_SQL.nextDue, /person_sync_queue/],
    ["a reply's row", PERSON_SQL.byCommand, /person_sync_command/],
    ['whether a person is settled', PERSON_SQL.unsettled, /person_sync_status/],
    ["a person's events to erase", PERSON_SQL.eraseEvents, /events_person/],
    ["a person's commands to erase", PERSON_SQL.eraseCommands, /commands_person/],
    ['the next row due after a backoff', PEOPLE_READ_SQL.nextDueAfter, /person_sync_due/],
    ['the terminals with a row due', PEOPLE_READ_SQL.dueSerials, /person_sync_queue/],
  ])('reads %s through its index', (_name, text, index) => {
    expectIndex(text, index);
  });
});
