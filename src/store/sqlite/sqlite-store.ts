import type { Store } from '../store.ts';
import { openReads } from './reads.ts';
import { openSegmentReader } from './segment-reader.ts';
import { startWriter, type WriterDeps } from './writer.ts';
import type { WriterOptions } from './writer-thread.ts';

/**
 * The store on SQLite: the writer thread commits the jobs (group commit),
 * the main thread's read-only connection answers the reads, and reads the
 * images from their segments (segment-reader.ts). The database's reads are
 * synchronous underneath (better-sqlite3, a snapshot of the WAL that never
 * waits for a commit); as promises they are the Store's, and a read that
 * throws is a rejected promise.
 */
export async function openSqliteStore(options: WriterOptions, deps: WriterDeps): Promise<Store> {
  const writer = await startWriter(options, deps);
  let reads: ReturnType<typeof openReads>;
  try {
    // After the writer thread: it creates and migrates the database.
    reads = openReads(options.dataDir, options.sync);
  } catch (err) {
    await writer.stop();
    throw err;
  }
  const segments = openSegmentReader(options.dataDir);
  /** An image's bytes, from its segment or, for a row of an earlier version (or restored from a backup), from the row. */
  async function imageBytes(row: NonNullable<ReturnType<typeof reads.image>>): Promise<Buffer | undefined> {
    const { bytes, segment, position, length } = row;
    if (segment === null || position === null || length === null) return bytes;
    return segments.read({ segment, position, length });
  }
  return {
    // Every message and delivery outcome passes here as it is; only an erasure gets a step after its commit.
    write: (job) =>
      job.kind === 'person-erase'
        ? writer.write(job).then((result) => {
            // Its images are zeros now: no bytes read ahead before it may stand for them (README §People on the terminals, erase).
            segments.forget();
            return result;
          })
        : writer.write(job),
    get backlog() {
      return writer.backlog;
    },
    get healthy() {
      return writer.healthy;
    },
    terminals: async () => reads.terminals(),
    terminal: async (sn) => reads.terminal(sn),
    terminalsAfter: async (after, limit) => reads.terminalsAfter(after, limit),
    eventCounts: async (sn, since) => reads.eventCounts(sn, since),
    commandKeys: async (filter) => reads.commandKeys(filter),
    listedCommand: async (id) => reads.listedCommand(id),
    command: async (id) => reads.command(id),
    queuedCommands: async (sn, afterSeq, now, limit) => reads.queuedCommands(sn, afterSeq, now, limit),
    queuedSerials: async () => reads.queuedSerials(),
    queuedCount: async () => reads.queuedCount(),
    person: async (num) => reads.person(num),
    personSyncs: async (num) => reads.personSyncs(num),
    personPhoto: async (num) => reads.personPhoto(num),
    people: async (filter) => reads.people(filter),
    duePersonSerials: async (now, limit, after) => reads.duePersonSerials(now, limit, after),
    nextPersonDueAfter: async (now) => reads.nextPersonDueAfter(now),
    peopleCount: async () => reads.peopleCount(),
    personSyncCounts: async () => reads.personSyncCounts(),
    endpoints: async () => reads.endpoints(),
    endpointCount: async () => reads.endpointCount(),
    endpoint: async (id) => reads.endpoint(id),
    dueDeliveries: async (endpointId, now, limit) => reads.dueDeliveries(endpointId, now, limit),
    nextDueAt: async (endpointId) => reads.nextDueAt(endpointId),
    delivery: async (seq) => reads.delivery(seq),
    deliveryBounds: async () => reads.deliveryBounds(),
    deliverySeqs: async (filter) => reads.deliverySeqs(filter),
    outboxDepth: async () => reads.outboxDepth(),
    event: async (seq) => reads.event(seq),
    async eventWithImage(seq, image) {
      if (!image) {
        const event = reads.event(seq);
        return event && { event, image: undefined };
      }
      const row = reads.eventAndImage(seq);
      if (!row) return undefined;
      // A left join: an event without an image row has none (null).
      return { event: row.event, image: row.event.hasImage && row.image ? await imageBytes(row.image) : undefined };
    },
    eventById: async (id) => reads.eventById(id),
    eventKey: async (id) => reads.eventKey(id),
    listedEvent: async (seq) => reads.listedEvent(seq),
    eventBounds: async () => reads.eventBounds(),
    firstSeqFrom: async (at) => reads.firstSeqFrom(at),
    lastSeqBefore: async (at) => reads.lastSeqBefore(at),
    eventSeqs: async (filter) => reads.eventSeqs(filter),
    eventSeqsAfter: async (filter) => reads.eventSeqsAfter(filter),
    async image(seq) {
      const row = reads.image(seq);
      return row && (await imageBytes(row))?.toString('utf8');
    },
    tokens: async () => reads.tokens(),
    reject: async (seq) => reads.reject(seq),
    rejectBounds: async () => reads.rejectBounds(),
    rejectSeqs: async (filter) => reads.rejectSeqs(filter),
    async close() {
      await segments.close();
      reads.close();
      await writer.stop();
    },
  };
}
