import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import * as v from 'valibot';
import type { StreamMessage } from '../stream-hub.ts';
import { matches, toMessage } from '../stream-hub.ts';
import type { AppDeps, Env } from './app.ts';
import { invalid } from './errors.ts';
import { EventFilter } from './events.ts';

// A client further behind than this is dropped rather than buffered for: it
// reconnects with Last-Event-ID and catches up from the store.
const MAX_PENDING_WRITES = 1000;
const REPLAY_PAGE = 500;

export function streamRoutes({ reads, hub, streamPingMs = 15_000, streamMaxPending = MAX_PENDING_WRITES }: AppDeps) {
  const app = new Hono<Env>();

  app.get('/', (c) => {
    const query = v.safeParse(EventFilter, c.req.query());
    if (!query.success) throw invalid(query.issues);
    const filter = { types: query.output.type, device: query.output.device };
    const lastEventId = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    // An id no longer stored (or never seen) resumes nothing: the stream starts live.
    const resumeAfter = lastEventId ? reads.eventById(lastEventId)?.seq : undefined;

    return streamSSE(c, async (stream) => {
      let lastSeq = resumeAfter ?? 0;
      let pending = 0;
      let replaying = resumeAfter !== undefined;
      const held: StreamMessage[] = [];

      const write = (message: StreamMessage) => {
        if (message.seq <= lastSeq || stream.aborted) return;
        lastSeq = message.seq;
        if (++pending > streamMaxPending) return stream.abort();
        stream.write(message.frame).then(
          () => void pending--,
          () => {},
        );
      };
      const unsubscribe = hub.subscribe(filter, (message) => (replaying ? held.push(message) : write(message)), () => stream.abort());
      stream.onAbort(unsubscribe);

      // Replay from the store what came after Last-Event-ID; what arrives live meanwhile waits in `held`.
      while (replaying && !stream.aborted) {
        const rows = reads.events({ ...filter, after: lastSeq, limit: REPLAY_PAGE });
        for (const row of rows) {
          if (!matches(filter, row)) continue;
          const message = toMessage(row);
          await stream.write(message.frame);
          lastSeq = message.seq;
        }
        if (rows.length < REPLAY_PAGE) replaying = false;
      }
      for (const message of held.splice(0)) write(message);

      // Comment lines keep proxies from closing an idle stream.
      while (!stream.aborted && !stream.closed) {
        await stream.sleep(streamPingMs);
        if (!stream.aborted) await stream.write(': ping\n\n');
      }
      unsubscribe();
    });
  });

  return app;
}
