import type { Store } from '../store/store.ts';
import type { EventType, ListedEvent, StoredEvent } from './events.ts';
import { listedView } from './view.ts';

export interface StreamFilter {
  types?: EventType[];
  device?: string;
}

/** An event ready for the wire: its SSE frame is built and encoded once, however many clients receive it. */
export interface StreamMessage {
  seq: number;
  frame: Uint8Array;
}

export function matches(filter: StreamFilter, event: { type: EventType; deviceSn: string }): boolean {
  return (!filter.types?.length || filter.types.includes(event.type)) && (!filter.device || filter.device === event.deviceSn);
}

const encoder = new TextEncoder();

/**
 * An event as a frame, in the lists' form: a message of megabytes is shown
 * short, so one frame stays within tens of KB (README §GET /api/stream).
 */
export function toMessage(row: ListedEvent): StreamMessage {
  // JSON.stringify never emits a raw line break, so the data fits one `data:` line.
  return { seq: row.seq, frame: encoder.encode(`event: ${row.type}\nid: ${row.id}\ndata: ${JSON.stringify(listedView(row))}\n\n`) };
}

/**
 * Fans committed events out to the live streams (GET /api/stream). Ingest
 * only calls `publish`, which never waits: a client that cannot keep up is
 * dropped by its own stream, not waited for.
 */
export function createStreamHub(store: Pick<Store, 'listedEvent'>) {
  const clients = new Set<{ filter: StreamFilter; send: (message: StreamMessage) => void; close: () => void }>();
  // Commits are published in order, and a stream drops what comes before
  // what it sent last: each publish waits for the reads of the one before.
  let published = Promise.resolve();

  async function fanOut(events: StoredEvent[]): Promise<void> {
    for (const event of events) {
      // Read once, and only if some client wants it.
      let message: StreamMessage | undefined;
      for (const client of [...clients]) {
        if (!matches(client.filter, event) || !clients.has(client)) continue;
        if (!message) {
          const row = await store.listedEvent(event.seq);
          // Gone meanwhile (retention): nothing to send.
          if (!row) break;
          message = toMessage(row);
        }
        client.send(message);
      }
    }
  }

  return {
    publish(events: StoredEvent[]): void {
      if (clients.size === 0) return;
      published = published
        .then(() => fanOut(events))
        .catch(() => {
          // A read failed: the streams end, and their clients resume from their Last-Event-ID, replaying what they missed.
          for (const client of clients) client.close();
          clients.clear();
        });
    },
    subscribe(filter: StreamFilter, send: (message: StreamMessage) => void, close: () => void): () => void {
      const client = { filter, send, close };
      clients.add(client);
      return () => clients.delete(client);
    },
    get size() {
      return clients.size;
    },
    /** Ends every stream (on stop), so the HTTP server can close. */
    closeAll(): void {
      for (const client of clients) client.close();
      clients.clear();
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
