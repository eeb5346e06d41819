/**
 * Shared memory for the payloads the writer keeps until their batch is
 * answered (writer.ts): each is copied in as it is written, so the buffer it
 * came in dies young, in the next scavenge, instead of living through the
 * commit into V8's old generation, where only a full collection frees it
 * (README §Performance, The payloads' memory).
 *
 * A ring: payloads are taken in the order they are written and given back
 * in the same order, as the writer's batches are answered (a batch is the
 * front of its queue; the jobs of a batch whose thread died go back to the
 * front, in their order). So the free room is one stretch, after the last
 * payload taken. A payload that would run past the end starts again at the
 * beginning, and the end it skips counts as part of it until it is given
 * back. Past `soft` bytes a payload starts again at the beginning when the
 * payloads taken, with it, fit in `soft`: the pages the ring touches,
 * resident from then on, are those its load needs, not all of them. A load
 * larger than that goes on to the end, and has the whole ring: starting
 * again before the oldest payload whenever one more fitted there left the
 * rest of the ring unused until that payload was given back, so a load of
 * more than `soft` found room for ~`soft` bytes of it (README §Performance,
 * The payload ring's soft size).
 */
export interface PayloadRing {
  /** A copy of `payload` in the ring, and what giving it back returns; undefined when there is no room. */
  take(payload: Uint8Array): { view: Uint8Array; claim: number } | undefined;
  /** Gives back the oldest payload still taken: `claim` is what `take` said. */
  giveBack(claim: number): void;
  /** Every payload is given back at once (the writer failed for good). */
  clear(): void;
}

/** The ring's pages are made with its first payload: a bridge without terminals never touches them. */
export function payloadRing(bytes: number, soft = bytes): PayloadRing {
  let ring: Buffer | undefined;
  let head = 0;
  let used = 0;
  return {
    take(payload) {
      const size = payload.byteLength;
      // A load within `soft` bytes fits before the oldest payload, which then
      // starts at head - used >= soft - used. (Past an end skipped, used >= head.)
      const wraps = head + size > bytes || (head >= soft && used + size <= soft);
      // At the very end, a payload wraps and skips nothing.
      const skipped = wraps ? bytes - head : 0;
      if (used + skipped + size > bytes) return undefined;
      ring ??= Buffer.from(new SharedArrayBuffer(bytes));
      const start = wraps ? 0 : head;
      // Copied by fill, one memcpy: set() into shared memory copies as
      // atomics, word by word, or byte by byte when the payload and its place
      // are not aligned alike, as a payload inside a socket's read is not:
      // ~16 µs for 36 KB against ~2 (README §Performance, A record's CPU, function by function).
      ring.fill(payload, start, start + size);
      head = start + size;
      used += skipped + size;
      return { view: ring.subarray(start, head), claim: skipped + size };
    },
    giveBack(claim) {
      used -= claim;
      // Empty: the next payload starts at the beginning, and skips no end.
      if (used === 0) head = 0;
    },
    clear() {
      used = 0;
      head = 0;
    },
  };
}
