import { localTimestamp } from '../lib/units.ts';

/** The answer to a heartbeat: the bridge's local time (TZ), as terminals write theirs. */
export function heartD(now: Date): string {
  return JSON.stringify({ cmd: 'heartD', time: localTimestamp(now) });
}
