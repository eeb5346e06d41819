import type { ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import * as v from 'valibot';
import { toMessage } from '../events/stream-hub.ts';
import type { AppDeps, Env } from './deps.ts';
import { EventFilter } from './events.ts';
import { shownShort, WINDOW } from './list.ts';
import { content, type Route, route } from './route.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

// A client with more than this waiting in its socket's buffer is dropped
// rather than buffered for: it reconnects with Last-Event-ID and catches up
// from the store.
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const REPLAY_PAGE = 500;
const PING = Buffer.from(': ping\n\n');

/** The lists' filters, and where to resume: for a client that cannot send the Last-Event-ID header. */
export const StreamQuery = v.object({ ...EventFilter.entries, last_event_id: v.optional(v.string()) });

/**
 * Server-Sent Events written straight to Node's response: with a hundred
 * clients at a few hundred events a second, a stream abstraction per client
 * costs more than the events themselves. Each frame is encoded once (by the
 * hub) and written to every socket as it is.
 */
export function streamRoutes({ store, hub, streamPingMs = 15_000, streamMaxBufferedBytes = MAX_BUFFERED_BYTES }: AppDeps): Route[] {
  const stream = route(
    {
      method: 'get',
      path: '/api/stream',
      operationId: 'streamEvents',
      tag: 'events',
      summary: 'Server-Sent Events of new events; resumable with Last-Event-ID',
      description: `Each event as in GET /api/events: ${shownShort('stored fields are', 'fields_bytes')}`,
      query: StreamQuery,
      responses: { 200: content('text/event-stream', 'the events, as they come') },
      // Served by Node (lifecycle.ts): the socket is there to write to.
    },
    async (c: Context<Env & { Bindings: HttpBindings }>, { query }) => {
      const filter = { types: query.type, device: query.device };
      const lastEventId = c.req.header('last-event-id') ?? query.last_event_id;
      // An id no longer stored (or never seen) resumes nothing: the stream starts live.
      const resumeAfter = lastEventId ? (await store.eventKey(lastEventId))?.seq : undefined;

      const res = c.env.outgoing;
      // Written to Node's response directly, past hono's middleware: the security headers come along here.
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'x-request-id': c.get('requestId'),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        // Tells nginx not to buffer the stream.
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();

      let lastSeq = resumeAfter ?? 0;
      let replaying = resumeAfter !== undefined;
      const held: { seq: number; frame: Uint8Array }[] = [];
      let heldBytes = 0;
      const write = (message: { seq: number; frame: Uint8Array }) => {
        if (message.seq <= lastSeq || res.destroyed) return;
        lastSeq = message.seq;
        res.write(message.frame);
        if (res.writableLength > streamMaxBufferedBytes) res.destroy();
      };
      // Live events wait while the replay runs; what waits counts against the
      // same bound as the socket's buffer, or a resuming client that stopped
      // reading would hold every event from then on.
      const hold = (message: { seq: number; frame: Uint8Array }) => {
        held.push(message);
        heldBytes += message.frame.length;
        if (heldBytes + res.writableLength > streamMaxBufferedBytes) res.destroy();
      };
      const unsubscribe = hub.subscribe(
        filter,
        (message) => (replaying ? hold(message) : write(message)),
        () => res.end(),
      );
      const ping = setInterval(() => res.write(PING), streamPingMs);
      res.once('close', () => {
        clearInterval(ping);
        unsubscribe();
      });

      // Replay from the store what came after Last-Event-ID, at the client's
      // pace, one window of seqs at a time (a filter that matches rarely must
      // not walk a whole index at once), each event in the lists' form (a
      // message of megabytes short); what arrives live meanwhile waits in `held`.
      while (replaying && !res.destroyed) {
        // This stream subscribed before `head` was read: anything later is in `held` too.
        const head = (await store.eventBounds()).last ?? lastSeq;
        const upTo = Math.min(lastSeq + WINDOW, head);
        const seqs = await store.eventSeqsAfter({ ...filter, after: lastSeq, upTo, limit: REPLAY_PAGE });
        for (const seq of seqs) {
          if (res.destroyed) break;
          lastSeq = seq;
          // Gone meanwhile (retention): nothing to send.
          const row = await store.listedEvent(seq);
          if (row && !res.write(toMessage(row).frame)) await drainedOrClosed(res);
        }
        if (seqs.length < REPLAY_PAGE) {
          // Every event of the window that matches has been sent.
          lastSeq = Math.max(lastSeq, upTo);
          if (upTo >= head) replaying = false;
        }
      }
      for (const message of held.splice(0)) write(message);
      // Loaded here, not at start: it is a Response, which makes Node load its fetch (serve.ts).
      return (await import('@hono/node-server/utils/response')).RESPONSE_ALREADY_SENT;
    },
  );

  return [stream];
}

/** `once(res, 'drain')` would wait forever for a client that went away meanwhile. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
