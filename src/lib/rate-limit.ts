/**
 * A token bucket per key: `burst` at once, then `perSecond`. `take` answers 0
 * when allowed, else the milliseconds until the next token. Time is read from
 * a clock that does not jump (performance.now): an NTP step of the wall
 * clock an hour back would otherwise refuse every command for an hour; a
 * clock that goes back anyway counts as no time passed.
 */
export function createRateLimiter({ perSecond, burst }: { perSecond: number; burst: number }, now = () => performance.now()) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key: string): number {
      const t = now();
      const bucket = buckets.get(key) ?? { tokens: burst, at: t };
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, t - bucket.at) / 1000) * perSecond);
      bucket.at = t;
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
    },
  };
}
