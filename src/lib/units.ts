const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** What parseDuration takes: `500ms`, `15s`, `2m`, `1h`, `1d`, a bare number of seconds. */
export const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h|d)?$/i;

/** "15s" → 15000; a bare number is seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim().toLowerCase());
  if (!match) throw new Error(`not a duration: ${text}`);
  return Math.round(Number(match[1]) * MS[match[2] ?? 's']);
}

/** "8mb" → 8388608; a bare number is bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)?$/.exec(text.trim().toLowerCase());
  if (!match) throw new Error(`not a size: ${text}`);
  return Math.round(Number(match[1]) * BYTES[match[2] ?? 'b']);
}

/** Local wall-clock time as terminals write it: "YYYY-MM-DD HH:mm:ss". */
export function localTimestamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** The site's offset from UTC at that moment, as "+08:00" (what localTimestamp's times are in). */
export function utcOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The site's zone as the process has it (`TZ`), and its offset now (README §Operators, time zone). */
export function siteZone(now = new Date()): { timeZone: string; utcOffset: string } {
  return { timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone, utcOffset: utcOffset(now) };
}
