/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC on Linux,
 * which process.hrtime reads): one clock for every process on the machine,
 * unlike performance.now(), whose origin is each process's start. The
 * terminals' publish times, taken here, and the webhook receiver's arrival
 * times, taken in its own process, are therefore directly comparable, and
 * neither moves when the wall clock is stepped.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
