// Shared by both engines' job runners (sqlite/jobs.ts, postgres/jobs.ts).

/** README §Alerts in chat apps: device.clock_skew at most once an hour per terminal. */
const SKEW_EVERY_MS = 3_600_000;

/**
 * When each terminal's clock was last reported off, in the writer's memory:
 * a restart may report one again within the hour. Rows of terminals not
 * reported for an hour go, so it holds at most those of the last hour.
 */
export function createSkewReport() {
  const reported = new Map<string, number>();
  return {
    due(sn: string, at: number): boolean {
      const last = reported.get(sn);
      if (last !== undefined && at - last < SKEW_EVERY_MS && at >= last) return false;
      if (reported.size >= 1024) for (const [key, when] of reported) if (at - when >= SKEW_EVERY_MS) reported.delete(key);
      reported.set(sn, at);
      return true;
    },
  };
}
