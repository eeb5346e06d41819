import { readFileSync } from 'node:fs';
import { monotonicMs } from './clock.ts';

/** The most memory the process has held (VmHWM), in bytes; undefined where /proc is not there. */
export function peakRssBytes(pid: number): number | undefined {
  return statusBytes(pid, 'VmHWM');
}

/** The memory the process holds now (VmRSS), in bytes; undefined where /proc is not there. */
export function rssBytes(pid: number): number | undefined {
  return statusBytes(pid, 'VmRSS');
}

function statusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSample {
  /** Monotonic ms (clock.ts). */
  at: number;
  bytes: number;
}

/**
 * Reads a process's resident memory every `everyMs` until stopped. VmHWM
 * gives only the peak of a whole life; a timeline tells what an outage held
 * from what the drain after it held, and whether it was given back.
 */
export function sampleRss(read: () => number | undefined, everyMs: number) {
  const samples: RssSample[] = [];
  const take = () => {
    const bytes = read();
    if (bytes !== undefined) samples.push({ at: monotonicMs(), bytes });
  };
  take();
  let timer: NodeJS.Timeout | undefined = setInterval(take, everyMs);
  return {
    samples,
    /** Takes a last sample; later calls do nothing. */
    stop(): void {
      if (!timer) return;
      clearInterval(timer);
      timer = undefined;
      take();
    },
  };
}

/** The largest sample taken from `from` to `to` (monotonic ms), or undefined when none was. */
export function peakBetween(samples: RssSample[], from: number, to: number): number | undefined {
  let peak: number | undefined;
  for (const { at, bytes } of samples) if (at >= from && at <= to && (peak === undefined || bytes > peak)) peak = bytes;
  return peak;
}
