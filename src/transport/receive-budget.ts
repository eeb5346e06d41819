/**
 * The bytes of upLink payloads held in memory until their commit, shared by
 * every client of the site's broker in this process (the single client, or
 * each slot of a shared subscription: README §Running several replicas). Each
 * client keeps its own count window; the bytes are one budget, so eight slots
 * do not hold eight times the memory one client may. A client that found no
 * room waits here, and is woken when a commit frees some.
 */
export function createReceiveBudget(limit: number) {
  let bytes = 0;
  const waiting = new Set<() => boolean>();
  return {
    get bytes() {
      return bytes;
    },
    /** Room for one more message of up to `maxPayload` bytes. */
    fits(maxPayload: number): boolean {
      return bytes + maxPayload <= limit;
    },
    take(size: number): void {
      bytes += size;
    },
    /** Frees `size` bytes and lets the clients that waited for room read on, while there is room. */
    release(size: number): void {
      bytes -= size;
      for (const resume of waiting) {
        if (resume()) waiting.delete(resume);
      }
    },
    /** `resume` is tried at every release until it returns true (it read on). */
    wait(resume: () => boolean): void {
      waiting.add(resume);
    },
    forget(resume: () => boolean): void {
      waiting.delete(resume);
    },
  };
}

export type ReceiveBudget = ReturnType<typeof createReceiveBudget>;
