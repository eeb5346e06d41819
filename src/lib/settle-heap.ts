import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * One full collection of this thread's heap that gives memory back, asked
 * for once the thread's start is done (README §Performance, Node 24 and
 * drizzle's exports). Node 24's V8 grows each thread's young generation to
 * its largest while the bridge starts, and its memory reducer shrinks it
 * only ~100 s after the last collection: until then an idle bridge held
 * ~20 MB more. V8's heap profiler makes that collection on request
 * (`HeapProfiler.collectGarbage`, V8's low-memory collection), through a
 * session of the thread with itself, which opens no port.
 *
 * Never throws: a Node.js built without the inspector keeps its heap as it
 * is. The session is closed a turn after its answer: closed from within the
 * answer's callback (or the microtasks that run with it), it can leave the
 * thread's loop stuck, and the bridge could not stop.
 */
export async function settleHeap(): Promise<void> {
  let session: import('node:inspector/promises').Session | undefined;
  try {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.collectGarbage');
  } catch {
    // No inspector in this build, or a session refused: the heap stays as it is.
  }
  if (!session) return;
  await nextTurn();
  session.disconnect();
}
