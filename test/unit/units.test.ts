import { describe, expect, it } from 'vitest';
import { clockSkew } from '../../src/ingest/interpret.ts';
import { hostZoneName } from '../../src/lib/host-zone.ts';
import { localTimestamp, parseDuration, parseLocalTimestamp, parseSize } from '../../src/lib/units.ts';

describe('hostZoneName', () => {
  // The name a bridge reports (GET /api/info, its start line) is the one ICU gives in the process itself, aliases and all.
  it.each(['Asia/Shanghai', 'Asia/Kolkata', 'Etc/UTC', 'America/Argentina/Buenos_Aires'])('is what Intl says in the process with TZ=%s', (zone) => {
    const saved = process.env.TZ;
    process.env.TZ = zone;
    try {
      expect(hostZoneName()).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['15s', 15_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
  ])('parses %s to %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads a bare number as seconds', () => {
    expect(parseDuration('90')).toBe(90_000);
  });

  it('ignores surrounding spaces and case', () => {
    expect(parseDuration(' 15S ')).toBe(15_000);
  });

  it.each(['', 'soon', 's15', '-1s', '1,5s'])('throws on %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it('throws on an unknown unit instead of answering NaN', () => {
    expect(() => parseDuration('15x')).toThrow(/not a duration/);
  });
});

describe('parseSize', () => {
  it.each([
    ['512kb', 512 * 1024],
    ['1mb', 1024 ** 2],
    ['8mb', 8 * 1024 ** 2],
    ['1gb', 1024 ** 3],
    ['1.5kb', 1536],
    ['10b', 10],
  ])('parses %s to %i bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('reads a bare number as bytes', () => {
    expect(parseSize('100')).toBe(100);
  });

  it('ignores case', () => {
    expect(parseSize('8MB')).toBe(8 * 1024 ** 2);
  });

  it.each(['', 'big', 'mb', '-1mb'])('throws on %j', (text) => {
    expect(() => parseSize(text)).toThrow(/not a size/);
  });

  it('throws on an unknown unit instead of answering NaN', () => {
    expect(() => parseSize('8zb')).toThrow(/not a size/);
  });
});

describe('localTimestamp', () => {
  it('writes local time as YYYY-MM-DD HH:mm:ss', () => {
    expect(localTimestamp(new Date(2026, 10, 22, 10, 0, 0))).toBe('2026-11-22 10:00:00');
  });

  it('zero-pads every field', () => {
    expect(localTimestamp(new Date(2026, 0, 5, 3, 4, 5))).toBe('2026-01-05 03:04:05');
  });

  it('drops milliseconds', () => {
    expect(localTimestamp(new Date(2026, 11, 31, 23, 59, 59, 999))).toBe('2026-12-31 23:59:59');
  });
});

describe('parseLocalTimestamp', () => {
  it('reads back what localTimestamp writes, in the site zone', () => {
    const at = new Date(2026, 11, 5, 9, 7, 3).getTime();
    expect(parseLocalTimestamp(localTimestamp(new Date(at)))).toBe(at);
  });

  it.each(['', '2026-12-05', '2026-12-05T09:07:03', '2026-13-05 09:07:03', '2026-12-05 24:00:00', '2026-12-05 09:07:0x', '２026-12-05 09:07:03'])(
    'says nothing of %j',
    (text) => {
      expect(parseLocalTimestamp(text)).toBeUndefined();
    },
  );
});

describe('clockSkew', () => {
  const at = new Date(2026, 11, 5, 9, 0, 0).getTime();
  it('is the record time minus the receipt, past the limit only', () => {
    expect(clockSkew('2026-12-05 09:10:00', at, 300_000)).toEqual({ seconds: 600, recordTime: '2026-12-05 09:10:00' });
    expect(clockSkew('2026-12-05 08:50:00', at, 300_000)).toEqual({ seconds: -600, recordTime: '2026-12-05 08:50:00' });
    expect(clockSkew('2026-12-05 09:05:00', at, 300_000)).toBeUndefined();
    expect(clockSkew(undefined, at, 300_000)).toBeUndefined();
    expect(clockSkew('yesterday', at, 300_000)).toBeUndefined();
  });
});
