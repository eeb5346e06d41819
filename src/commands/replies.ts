import type { Replied } from '../ingest/interpret.ts';

/** A request waiting for its command's reply (`?wait=`): the reply, or undefined once the wait is over. */
export interface ReplyWait {
  reply: Promise<Replied | undefined>;
  /** Ends the wait now (the command was refused). */
  cancel(): void;
}

/**
 * Requests waiting for replies (README §Commands with replies, `?wait=`). The
 * writer matches a reply where it commits it; the main thread hands each
 * match here, which wakes the requests waiting for that command: no polling.
 * A wait ends with its time, or when its client goes away (the request's
 * abort signal), and then leaves nothing behind.
 */
export function createReplies() {
  const waiting = new Map<string, Set<(replied: Replied | undefined) => void>>();

  function wait(id: string, ms: number, signal?: AbortSignal): ReplyWait {
    let end: (replied: Replied | undefined) => void = () => {};
    const reply = new Promise<Replied | undefined>((resolve) => {
      const timer = setTimeout(() => end(undefined), ms);
      const abort = () => end(undefined);
      end = (replied) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        const set = waiting.get(id);
        set?.delete(end);
        if (set?.size === 0) waiting.delete(id);
        resolve(replied);
      };
      if (signal?.aborted) return end(undefined);
      signal?.addEventListener('abort', abort, { once: true });
      let set = waiting.get(id);
      if (!set) {
        set = new Set();
        waiting.set(id, set);
      }
      set.add(end);
    });
    return { reply, cancel: () => end(undefined) };
  }

  return {
    wait,
    /** A reply was committed: the requests waiting for its command get it. */
    replied(replied: Replied): void {
      const set = waiting.get(replied.commandId);
      if (set) for (const end of [...set]) end(replied);
    },
    /** Requests waiting now. */
    get size() {
      let n = 0;
      for (const set of waiting.values()) n += set.size;
      return n;
    },
  };
}

export type Replies = ReturnType<typeof createReplies>;
