import type { Logger } from '../lib/log.ts';
import { isSerial } from '../protocol/serial.ts';
import type { Store } from '../store/store.ts';

/** Rows one forgetting job deletes at most: a job in the writer's queue like any message. */
const FORGET_BATCH = 500;

/**
 * The terminals table, read once at start. A serial an earlier version
 * learned that is no serial (README §Topics) is no topic's any more: its row
 * goes.
 */
export async function storedTerminals(store: Store, log: Logger) {
  const stored = await store.terminals();
  const invalid = stored.filter((t) => !isSerial(t.sn)).map((t) => t.sn);
  for (let i = 0; i < invalid.length; i += FORGET_BATCH) await store.write({ kind: 'forget', serials: invalid.slice(i, i + FORGET_BATCH) });
  if (invalid.length > 0) log.warn({ count: invalid.length }, 'stored terminals whose serial is no serial forgotten');
  return invalid.length > 0 ? stored.filter((t) => isSerial(t.sn)) : stored;
}
