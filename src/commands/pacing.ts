// The dispatcher's bounds for all terminals together (dispatcher.ts, README §POST /api/commands).

/** Bytes held by publishes in flight: `acquire(n)` resolves in order once n fit (or, for n over the whole, once nothing is held). */
export function budget(size: number) {
  let held = 0;
  const waiting: { bytes: number; resolve: () => void }[] = [];
  const serve = () => {
    while (waiting.length > 0) {
      const bytes = Math.min(size, waiting[0].bytes);
      if (held + bytes > size) return;
      held += bytes;
      waiting.shift()!.resolve();
    }
  };
  return {
    acquire(bytes: number): Promise<void> {
      return new Promise((resolve) => {
        waiting.push({ bytes, resolve });
        serve();
      });
    },
    release(bytes: number): void {
      held -= Math.min(size, bytes);
      serve();
    },
  };
}

/**
 * A token bucket served in order: `take` resolves once one of `perSecond`
 * is free, at most `perSecond` at once after a pause. One timer for all
 * who wait, however many.
 */
export function pace(perSecond: number) {
  let tokens = perSecond;
  let at = performance.now();
  let waiting: (() => void)[] = [];
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  const refill = () => {
    const now = performance.now();
    tokens = Math.min(perSecond, tokens + (Math.max(0, now - at) / 1000) * perSecond);
    at = now;
  };
  const serve = () => {
    timer = undefined;
    refill();
    while (tokens >= 1 && next < waiting.length) {
      tokens -= 1;
      waiting[next++]();
    }
    if (next === waiting.length || next > 1024) {
      // Those served are dropped from the front now and then, not one shift each.
      waiting = waiting.slice(next);
      next = 0;
    }
    if (next < waiting.length) timer = setTimeout(serve, Math.ceil(((1 - tokens) / perSecond) * 1000));
  };
  return {
    take(): Promise<void> {
      refill();
      if (next === waiting.length && tokens >= 1) {
        tokens -= 1;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        waiting.push(resolve);
        if (timer === undefined) timer = setTimeout(serve, Math.ceil(((1 - tokens) / perSecond) * 1000));
      });
    },
  };
}
