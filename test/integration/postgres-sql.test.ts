import postgresClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Postgres, startPostgres } from '../../src/kit/postgres.ts';
import { binaryCopyChunks, copyIn } from '../../src/store/postgres/copy-in.ts';
import { sqlOf } from '../../src/store/postgres/open.ts';

// What the PostgreSQL store's SQL does beyond a plain statement, on a real
// server: the binary COPY a batch's images go by (src/store/postgres/copy-in.ts):
// rows as given, the count back, a row the server refuses failing the COPY
// and nothing else; and the statements prepared once per connection
// (src/store/postgres/open.ts).

let pg: Postgres | undefined;
let client: postgresClient.Client;
beforeAll(async () => {
  pg = await startPostgres({ fsync: 'off' });
  client = new postgresClient.Client({ connectionString: await pg.database('copy_in') });
  await client.connect();
  await client.query('create table rows_in (n bigint primary key, body text not null, raw bytea)');
});
afterAll(async () => {
  await client?.end();
  await pg?.dispose();
});

const COPY = 'copy rows_in (n, body, raw) from stdin with (format binary)';
const text = (s: string) => new TextEncoder().encode(s);

describe('a binary COPY on a connection of node-postgres', () => {
  it('stores each row as given and says how many: int8s, UTF-8 text, bytes, an empty value, views into larger buffers', async () => {
    const shared = Buffer.from('xxAQID=/+yy');
    const rows = [
      [1, text('门禁 door'), new Uint8Array([0, 1, 255])],
      [2 ** 40 + 3, shared.subarray(2, 9), shared.subarray(0, 2)],
      [3, new Uint8Array(0), new Uint8Array(0)],
      [4, Buffer.alloc(40_000, 'Q'), Buffer.alloc(1, 7)],
    ] as const;
    expect(await copyIn(client, COPY, binaryCopyChunks(rows))).toBe(4);
    const { rows: stored } = await client.query<{ n: string; body: string; raw: Buffer }>('select n, body, raw from rows_in order by n');
    expect(stored.map((row) => [Number(row.n), row.body, [...row.raw]])).toEqual([
      [1, '门禁 door', [0, 1, 255]],
      [3, '', []],
      [4, 'Q'.repeat(40_000), [7]],
      [2 ** 40 + 3, 'AQID=/+', [120, 120]],
    ]);
  });

  it('sends a bytes field as its own chunk, not a copy of it', () => {
    const image = Buffer.alloc(1000, 'A');
    const chunks = binaryCopyChunks([[7, image.subarray(10, 20)]]);
    expect(chunks.some((chunk) => chunk.buffer === image.buffer && chunk.byteOffset === 10 && chunk.length === 10)).toBe(true);
  });

  it('fails with the server’s error when a row is refused, and the connection answers the next statement', async () => {
    const copy = copyIn(
      client,
      COPY,
      binaryCopyChunks([
        [10, text('fine'), new Uint8Array(1)],
        [11, new Uint8Array([0x66, 0, 0x67]), new Uint8Array(1)],
      ]),
    );
    await expect(copy).rejects.toMatchObject({ code: '22021' });
    // The same key twice: the server's own constraint, after the rows before it were read.
    await expect(
      copyIn(
        client,
        COPY,
        binaryCopyChunks([
          [12, text('a'), new Uint8Array(1)],
          [12, text('b'), new Uint8Array(1)],
        ]),
      ),
    ).rejects.toMatchObject({ code: '23505' });
    expect((await client.query('select count(*)::int as n from rows_in where n between 10 and 19')).rows[0].n).toBe(0);
    expect((await client.query('select 1 as one')).rows[0].one).toBe(1);
  });

  it('is part of the transaction it runs in: what it copied goes with a rollback', async () => {
    await client.query('begin');
    await client.query('insert into rows_in (n, body) values (20, $1)', ['before']);
    expect(await copyIn(client, COPY, binaryCopyChunks([[21, text('copied'), new Uint8Array(1)]]))).toBe(1);
    expect((await client.query('select count(*)::int as n from rows_in where n between 20 and 29')).rows[0].n).toBe(2);
    await client.query('rollback');
    expect((await client.query('select count(*)::int as n from rows_in where n between 20 and 29')).rows[0].n).toBe(0);
  });
});

describe('a statement run once per record', () => {
  it('is prepared once on its connection and answers each call with its own values', async () => {
    const sql = sqlOf(client);
    const text = 'select n, body from rows_in where n = $1';
    await sql.run('insert into rows_in (n, body) values (30, $1), (31, $2)', ['thirty', 'thirty-one']);
    const first = await sql.one<{ n: number; body: string }>(text, [30], 'rows_in_by_n');
    const second = await sql.one<{ n: number; body: string }>(text, [31], 'rows_in_by_n');
    expect([first?.body, second?.body]).toEqual(['thirty', 'thirty-one']);
    expect(await sql.one(text, [32], 'rows_in_by_n')).toBeUndefined();
    const kept = await sql.rows<{ name: string; statement: string }>('select name, statement from pg_prepared_statements');
    expect(kept).toEqual([{ name: 'rows_in_by_n', statement: text }]);
  });
});
