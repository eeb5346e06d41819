// README §Malformed messages: every reject is counted, but a terminal (or an
// intruder) sending garbage at 1,000 messages a second must not write 1,000
// rows of up to 2 KB a second. A token bucket per serial decides which rejects
// are kept as rows; rejects without a serial the bridge knows share one
// bucket, so made-up serials do not each bring a burst of their own.

export interface RejectGateOptions {
  /** Rows a serial may add a second, once its burst is spent. */
  perSecond: number;
  /** Rows a serial may add at once. */
  burst: number;
  /** Serials with a bucket of their own; past it, new ones share the shared bucket. */
  maxSerials: number;
}

export const REJECT_ROWS: RejectGateOptions = { perSecond: 1, burst: 20, maxSerials: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export function createRejectGate({ perSecond, burst, maxSerials }: RejectGateOptions = REJECT_ROWS, now = Date.now) {
  // Kept in order of last use (a use moves a bucket to the end), so the idle
  // ones are always at the front.
  const buckets = new Map<string, Bucket>();
  const shared: Bucket = { tokens: burst, at: now() };
  /** A bucket left alone this long is full again: the same as none. */
  const idleMs = (burst / perSecond) * 1000;

  function bucketOf(sn: string, t: number): Bucket {
    const found = buckets.get(sn);
    if (found) {
      buckets.delete(sn);
      buckets.set(sn, found);
      return found;
    }
    // Each bucket is dropped at most once after it was added: constant cost per reject.
    for (const [key, oldest] of buckets) {
      if (t - oldest.at < idleMs) break;
      buckets.delete(key);
    }
    if (buckets.size >= maxSerials) return shared;
    const bucket = { tokens: burst, at: t };
    buckets.set(sn, bucket);
    return bucket;
  }

  return {
    /** Whether a reject of this serial (undefined: none the bridge knows) is kept as a row; it takes a token if so. */
    keep(sn: string | undefined): boolean {
      const t = now();
      const bucket = sn === undefined ? shared : bucketOf(sn, t);
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, t - bucket.at) / 1000) * perSecond);
      bucket.at = t;
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
    /** Serials with a bucket of their own right now. */
    get serials() {
      return buckets.size;
    },
  };
}

export type RejectGate = ReturnType<typeof createRejectGate>;
