import type { Context } from 'hono';
import * as v from 'valibot';
import { SHOWN_BYTES } from '../store/sqlite/reads.ts';

// Every list of the API is bounded three ways (README §HTTP API, Lists): in
// items (`limit`), in bytes (a page stops at about PAGE_BYTES, each item's
// stored text is shown only up to SHOWN_BYTES), and in the rows a request
// may look at (WINDOW), so no request holds the main thread for long or
// builds an answer of hundreds of MB, whatever the store holds.

/** A page stops taking items once it holds about this much JSON; next_cursor goes on after the last one. */
export const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * Positions (seqs) a filtered request looks at, at most. A filter that an
 * index cannot answer alone (several event types, a type and a terminal, a
 * delivery's endpoint) checks rows one by one; past this many, the page ends
 * as it is, perhaps short or empty, with a next_cursor below the window.
 */
export const WINDOW = 20_000;

export const MAX_LIMIT = 500;

/** `limit`: 1–500, 50 when not given. */
export const Limit = v.optional(
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, 'limit must be a whole number'),
    v.transform(Number),
    v.minValue(1, `limit must be 1 to ${MAX_LIMIT}`),
    v.maxValue(MAX_LIMIT, `limit must be 1 to ${MAX_LIMIT}`),
  ),
  '50',
);

/** A list's answer (README §Lists): its items, and where the next page starts, null at the end. */
export const Page = <T extends v.GenericSchema>(item: T) => v.object({ items: v.array(item), next_cursor: v.nullable(v.string()) });

/**
 * What a client must know to read a list right (README §HTTP API, Lists), for its description in the API's document.
 * WINDOW's digits grouped by hand: toLocaleString would load ICU into every bridge (README §Performance, Memory).
 */
export const PAGED = `A page holds at most \`limit\` items and about ${PAGE_BYTES / 1024 / 1024} MB of JSON; it may hold fewer, even none, and still have a \`next_cursor\` (a filter that an index cannot answer alone is checked within a window of ${String(WINDOW).replace(/\B(?=(\d{3})+$)/g, ',')} positions per request). Follow \`next_cursor\` until it is null to see every item once.`;

/** How an item over SHOWN_BYTES is listed, for the description of its list. */
export const shownShort = (whatIs: string, size: string) =>
  `An item whose ${whatIs} over ${SHOWN_BYTES / 1024} KB is shown short: without it, with \`"truncated": true\` and \`"${size}"\` (its size in bytes).`;

/**
 * The seqs one request looks at, newest first: [from, below). With
 * `windowed`, at most WINDOW of them; `rest` is then true when there are
 * older ones beyond the window, to be looked at by the next request.
 */
export function seqWindow(below: number, floor: number, windowed: boolean): { from: number; below: number; rest: boolean } {
  const from = windowed ? Math.max(floor, below - WINDOW) : floor;
  return { from, below, rest: from > floor };
}

export interface PageSource<K> {
  limit: number;
  /** Positions of the items, newest first, as the query found them: up to limit + 1. */
  keys: Iterable<K> | AsyncIterable<K>;
  /** The item at a position as the list shows it; undefined when it went meanwhile (retention). Read only for the items the page takes. */
  item: (key: K) => unknown;
  /** next_cursor after this position. */
  cursorOf: (key: K) => string;
  /** next_cursor when the keys run out before the page is full: where the next window starts, or null at the end of the list. */
  rest: string | null;
}

/**
 * Gives `add` keys until it has taken `limit` items or `maxBytes` (`add`
 * answers an item's size, or undefined for none); returns the last key given
 * when it stopped with keys left, else undefined.
 */
async function fill<K>(
  keys: Iterable<K> | AsyncIterable<K>,
  limit: number,
  maxBytes: number,
  add: (key: K) => Promise<number | undefined>,
): Promise<{ stoppedAfter: K | undefined }> {
  let count = 0;
  let bytes = 0;
  let last: K | undefined;
  for await (const key of keys) {
    if (count === limit || bytes >= maxBytes) return { stoppedAfter: last };
    last = key;
    const size = await add(key);
    if (size === undefined) continue;
    count += 1;
    bytes += size;
  }
  return { stoppedAfter: undefined };
}

/**
 * `{"items":[…],"next_cursor":…}` (README §Lists), written as the items are
 * read: each is serialized once, and the page ends at `limit` items or at
 * about PAGE_BYTES, whichever comes first.
 */
export async function listPage<K>(c: Context, source: PageSource<K>): Promise<Response> {
  const parts: string[] = [];
  const { stoppedAfter } = await fill(source.keys, source.limit, PAGE_BYTES, async (key) => {
    const item = await source.item(key);
    if (item === undefined) return undefined;
    const json = JSON.stringify(item);
    parts.push(json);
    return Buffer.byteLength(json);
  });
  const next = stoppedAfter !== undefined ? source.cursorOf(stoppedAfter) : source.rest;
  return c.body(`{"items":[${parts.join(',')}],"next_cursor":${JSON.stringify(next)}}`, 200, { 'content-type': 'application/json' });
}
