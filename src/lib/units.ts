import { hostZoneName } from './host-zone.ts';

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

/** The zone's name, asked once: the process's `TZ` does not change while it runs. */
let zoneName: string | undefined;

/** The site's zone as the process has it (`TZ`), and its offset now (README §Operators, time zone). */
export function siteZone(now = new Date()): { timeZone: string; utcOffset: string } {
  zoneName ??= hostZoneName();
  return { timeZone: zoneName, utcOffset: utcOffset(now) };
}

/**
 * A terminal's "YYYY-MM-DD HH:mm:ss" read back as the instant it names in
 * the site's zone (the process's, as localTimestamp writes it); undefined
 * when it is not exactly that. Fixed positions, no pattern: it is read once
 * per face message on the writer's path.
 */
export function parseLocalTimestamp(text: string): number | undefined {
  if (text.length !== 19 || text[4] !== '-' || text[7] !== '-' || text[10] !== ' ' || text[13] !== ':' || text[16] !== ':') return undefined;
  const part = (from: number, to: number) => {
    let n = 0;
    for (let i = from; i < to; i += 1) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return Number.NaN;
      n = n * 10 + digit;
    }
    return n;
  };
  const month = part(5, 7);
  const day = part(8, 10);
  const hour = part(11, 13);
  const minute = part(14, 16);
  const second = part(17, 19);
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 59)) return undefined;
  const at = new Date(part(0, 4), month - 1, day, hour, minute, second).getTime();
  return Number.isNaN(at) ? undefined : at;
}
