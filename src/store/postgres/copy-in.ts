import type pg from 'pg';

// Rows sent to PostgreSQL by COPY … FROM STDIN in its binary format, on the
// connection of a batch's transaction. A batch's images (~36 KB each, up to
// MAX_BATCH_BYTES in all) as parameters of one INSERT made node-postgres
// build the statement in one buffer that grows by half at a time, megabytes
// allocated and copied again for every batch; here each image is one
// CopyData message of its own size, and the server reads rows without a
// statement of thousands of parameters to parse and plan (README
// §Performance, A batch's images by COPY).

/** What a row's field may be: an int8, or bytes taken as they are (for text, its UTF-8). */
export type CopyField = number | Uint8Array;

/** The binary format's header: its signature, no flags, no extension (PostgreSQL's COPY, File Formats). */
const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** A field count of -1 ends the rows. */
const TRAILER = Buffer.from([0xff, 0xff]);

/**
 * The rows as the chunks of a binary COPY: each row's field count and
 * lengths (and its int8s) in a small chunk, each bytes field a chunk of its
 * own, not copied here. A row may span CopyData messages (the protocol's
 * messages need not match rows).
 */
export function binaryCopyChunks(rows: Iterable<readonly CopyField[]>): Buffer[] {
  const chunks: Buffer[] = [HEADER];
  for (const row of rows) {
    // One small buffer for the row's count, lengths and int8s (12 bytes a
    // field at most), cut after each bytes field: what follows that field
    // goes into the rest of it, as the chunk after the field's own.
    let head = Buffer.allocUnsafe(2 + 12 * row.length);
    let at = head.writeInt16BE(row.length, 0);
    for (const field of row) {
      if (typeof field === 'number') {
        at = head.writeInt32BE(8, at);
        at = head.writeBigInt64BE(BigInt(field), at);
        continue;
      }
      at = head.writeInt32BE(field.byteLength, at);
      chunks.push(head.subarray(0, at), Buffer.from(field.buffer, field.byteOffset, field.byteLength));
      head = head.subarray(at);
      at = 0;
    }
    if (at > 0) chunks.push(head.subarray(0, at));
  }
  chunks.push(TRAILER);
  return chunks;
}

/** The methods node-postgres's Connection has for a COPY's data (not in its type declarations; pg-copy-streams calls them too). */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { cork?(): void; uncork?(): void };
}

/**
 * A COPY … FROM STDIN as a query of node-postgres's client (its
 * `submit(connection)` interface), in its queue like any other: the
 * statement goes by the simple protocol, the chunks once the server asks
 * for them, and the count of rows comes back when the server is ready
 * again. An error of the server (a row it refuses) ends the COPY: it drops
 * what follows (the protocol's copy-in mode), and the error is the query's.
 */
class CopyIn {
  callback?: (err: Error | null, rows?: number) => void;
  private rows = 0;
  constructor(
    private readonly text: string,
    private readonly chunks: readonly Buffer[],
  ) {}
  submit(connection: pg.Connection) {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: CopyConnection) {
    connection.stream.cork?.();
    try {
      for (const chunk of this.chunks) connection.sendCopyFromChunk(chunk);
      connection.endCopyFrom();
    } finally {
      connection.stream.uncork?.();
    }
  }
  handleCommandComplete(msg: { text?: string }) {
    this.rows = Number(/^COPY (\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
  }
  handleReadyForQuery() {
    this.callback?.(null, this.rows);
  }
  handleError(err: Error) {
    this.callback?.(err);
  }
  // A COPY FROM sends no rows, no copy data and no portal: nothing to do with them.
  handleRowDescription() {}
  handleDataRow() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  handleCopyData() {}
}

/** Runs `text` (a COPY … FROM STDIN) with `chunks` as its data; the rows copied. */
export function copyIn(client: pg.ClientBase, text: string, chunks: readonly Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const query = new CopyIn(text, chunks);
    query.callback = (err, rows) => (err ? reject(err) : resolve(rows ?? 0));
    client.query(query);
  });
}
