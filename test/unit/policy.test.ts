import { afterEach, describe, expect, it } from 'vitest';
import { type Answer, decide, retryAfterMs } from '../../src/delivery/policy.ts';

const SCHEDULE = [1_000, 5_000, 30_000, 120_000];
const NOW = Date.parse('2026-11-22T10:00:00Z');
const DAY = 24 * 3_600_000;
const half = () => 0.5;
const zero = () => 0;
const almostOne = () => 0.999_999_999;
const opts = (random = half, schedule: readonly number[] = SCHEDULE) => ({ schedule, random, now: () => NOW });

describe('decide', () => {
  describe('success', () => {
    it.each([200, 201, 204, 299])('counts %i as delivered', (status) => {
      expect(decide(1, { status }, opts())).toEqual({ kind: 'delivered' });
    });

    it('counts a 2xx as delivered on the last attempt, even with an empty schedule', () => {
      expect(decide(SCHEDULE.length + 1, { status: 200 }, opts())).toEqual({ kind: 'delivered' });
      expect(decide(1, { status: 204 }, opts(half, []))).toEqual({ kind: 'delivered' });
    });

    it('ignores a Retry-After on a 2xx', () => {
      expect(decide(1, { status: 200, retryAfter: '120' }, opts())).toEqual({ kind: 'delivered' });
    });

    it.each([199, 300])('does not count %i as delivered', (status) => {
      expect(decide(1, { status }, opts()).kind).toBe('retry');
    });
  });

  describe('410 Gone', () => {
    it('is gone on the first attempt', () => {
      expect(decide(1, { status: 410 }, opts())).toEqual({ kind: 'gone' });
    });

    it('is gone on the last attempt rather than dead', () => {
      expect(decide(SCHEDULE.length + 1, { status: 410 }, opts())).toEqual({ kind: 'gone' });
    });

    it('is gone with an empty schedule', () => {
      expect(decide(1, { status: 410 }, opts(half, []))).toEqual({ kind: 'gone' });
    });
  });

  describe('retries', () => {
    it.each<[string, Answer]>([
      ['500', { status: 500 }],
      ['404', { status: 404 }],
      ['429', { status: 429 }],
      ['301', { status: 301 }],
      ['a network error', { error: 'ECONNREFUSED' }],
      ['a timeout', { error: 'timeout' }],
    ])('retries after %s', (_label, answer) => {
      expect(decide(1, answer, opts())).toEqual({ kind: 'retry', afterMs: 500 });
    });

    it('retries a chat app’s 2xx whose code failed, waiting at least as long as a throttle asks', () => {
      expect(decide(1, { error: 'dingtalk code 310000: sign not match', status: 200 }, opts())).toEqual({ kind: 'retry', afterMs: 500 });
      expect(decide(1, { error: 'dingtalk code 130101: send too fast', status: 200, retryAfterMs: 600_000 }, opts())).toEqual({
        kind: 'retry',
        afterMs: 600_000,
      });
      expect(decide(SCHEDULE.length + 1, { error: 'feishu code 19021', status: 200 }, opts())).toEqual({ kind: 'dead' });
    });

    it('uses the ceiling of the attempt just made', () => {
      expect(SCHEDULE.map((_, i) => decide(i + 1, { status: 500 }, opts()))).toEqual([
        { kind: 'retry', afterMs: 500 },
        { kind: 'retry', afterMs: 2_500 },
        { kind: 'retry', afterMs: 15_000 },
        { kind: 'retry', afterMs: 60_000 },
      ]);
    });

    it('retries at once when random() is 0', () => {
      expect(decide(3, { status: 503 }, opts(zero))).toEqual({ kind: 'retry', afterMs: 0 });
    });

    it('waits the full ceiling when random() is just under 1', () => {
      expect(decide(3, { status: 503 }, opts(almostOne))).toEqual({ kind: 'retry', afterMs: 30_000 });
    });

    it('rounds the jittered delay to whole milliseconds', () => {
      expect(
        decide(
          1,
          { status: 500 },
          opts(() => 0.123_45, [1_000]),
        ),
      ).toEqual({ kind: 'retry', afterMs: 123 });
    });

    it('retries on the last attempt of the schedule', () => {
      expect(decide(SCHEDULE.length, { error: 'reset' }, opts())).toEqual({ kind: 'retry', afterMs: 60_000 });
    });
  });

  describe('dead', () => {
    it('is dead after the last attempt', () => {
      expect(decide(SCHEDULE.length + 1, { status: 500 }, opts())).toEqual({ kind: 'dead' });
      expect(decide(SCHEDULE.length + 1, { error: 'ECONNRESET' }, opts())).toEqual({ kind: 'dead' });
    });

    it('is dead on the first failure with an empty schedule', () => {
      expect(decide(1, { status: 500 }, opts(half, []))).toEqual({ kind: 'dead' });
      expect(decide(1, { error: 'ETIMEDOUT' }, opts(half, []))).toEqual({ kind: 'dead' });
    });

    it('is dead after the last attempt even when Retry-After asks for more', () => {
      expect(decide(SCHEDULE.length + 1, { status: 429, retryAfter: '120' }, opts())).toEqual({ kind: 'dead' });
      expect(decide(SCHEDULE.length + 1, { status: 503, retryAfter: 'Sun, 22 Nov 2026 10:00:30 GMT' }, opts())).toEqual({ kind: 'dead' });
    });
  });

  describe('Retry-After', () => {
    it('raises the delay to the seconds it asks for', () => {
      expect(decide(1, { status: 429, retryAfter: '120' }, opts())).toEqual({ kind: 'retry', afterMs: 120_000 });
    });

    it('raises the delay to an HTTP date', () => {
      expect(decide(1, { status: 503, retryAfter: 'Sun, 22 Nov 2026 10:00:30 GMT' }, opts())).toEqual({ kind: 'retry', afterMs: 30_000 });
    });

    it('does not lower a longer jittered delay', () => {
      expect(decide(3, { status: 429, retryAfter: '2' }, opts())).toEqual({ kind: 'retry', afterMs: 15_000 });
    });

    it('does not lower the delay when it is in the past', () => {
      expect(decide(2, { status: 503, retryAfter: 'Sun, 22 Nov 2026 09:00:00 GMT' }, opts())).toEqual({ kind: 'retry', afterMs: 2_500 });
      expect(decide(2, { status: 503, retryAfter: 'Sun, 22 Nov 2026 09:00:00 GMT' }, opts(zero))).toEqual({ kind: 'retry', afterMs: 0 });
    });

    it.each([['soon'], [''], [null], [undefined]])('ignores %j', (retryAfter) => {
      expect(decide(2, { status: 429, retryAfter }, opts())).toEqual({ kind: 'retry', afterMs: 2_500 });
    });

    it('is capped at 24 h', () => {
      expect(decide(1, { status: 429, retryAfter: '999999999' }, opts())).toEqual({ kind: 'retry', afterMs: DAY });
      expect(decide(1, { status: 503, retryAfter: 'Fri, 01 Jan 2100 00:00:00 GMT' }, opts())).toEqual({ kind: 'retry', afterMs: DAY });
    });

    it('reads the date against the injected now', () => {
      const later = { schedule: SCHEDULE, random: zero, now: () => NOW + 10_000 };
      expect(decide(1, { status: 503, retryAfter: 'Sun, 22 Nov 2026 10:00:30 GMT' }, later)).toEqual({ kind: 'retry', afterMs: 20_000 });
    });
  });

  describe('jitter bounds (property)', () => {
    const schedules: number[][] = [
      SCHEDULE,
      [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000],
      [1, 2, 3],
      [0, 7],
    ];
    // 0, 1/97, 2/97, … and the largest double below 1: covers [0, 1) without a library.
    const randoms = [...Array.from({ length: 97 }, (_, k) => k / 97), 1 - Number.EPSILON / 2];

    it('keeps every delay within [0, ceiling] and retries while the schedule lasts', () => {
      let checked = 0;
      for (const schedule of schedules) {
        for (let attempt = 1; attempt <= schedule.length; attempt++) {
          for (const r of randoms) {
            const outcome = decide(
              attempt,
              { status: 500 },
              opts(() => r, schedule),
            );
            expect(outcome.kind).toBe('retry');
            const afterMs = outcome.kind === 'retry' ? outcome.afterMs : Number.NaN;
            expect(Number.isInteger(afterMs)).toBe(true);
            expect(afterMs).toBeGreaterThanOrEqual(0);
            expect(afterMs).toBeLessThanOrEqual(schedule[attempt - 1]);
            checked++;
          }
        }
        expect(decide(schedule.length + 1, { status: 500 }, opts(half, schedule))).toEqual({ kind: 'dead' });
      }
      expect(checked).toBe(randoms.length * schedules.reduce((n, s) => n + s.length, 0));
    });

    it('grows with random() for a given ceiling', () => {
      const delays = randoms.map((r) => {
        const outcome = decide(
          2,
          { error: 'x' },
          opts(() => r),
        );
        return outcome.kind === 'retry' ? outcome.afterMs : -1;
      });
      expect(delays).toEqual([...delays].sort((a, b) => a - b));
      expect(delays[0]).toBe(0);
      expect(delays.at(-1)).toBe(SCHEDULE[1]);
    });
  });
});

describe('retryAfterMs', () => {
  it('reads whole seconds', () => {
    expect(retryAfterMs('120', NOW)).toBe(120_000);
    expect(retryAfterMs('0', NOW)).toBe(0);
  });

  it('trims surrounding whitespace', () => {
    expect(retryAfterMs(' 120 ', NOW)).toBe(120_000);
  });

  it('reads an IMF-fixdate relative to now', () => {
    expect(retryAfterMs('Sun, 22 Nov 2026 10:00:30 GMT', NOW)).toBe(30_000);
  });

  it('reads the obsolete RFC 850 date form', () => {
    expect(retryAfterMs('Sunday, 22-Nov-26 10:00:30 GMT', NOW)).toBe(30_000);
  });

  it('gives 0 for a date in the past', () => {
    expect(retryAfterMs('Sun, 22 Nov 2026 09:59:00 GMT', NOW)).toBe(0);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:00 GMT', NOW)).toBe(0);
  });

  it('caps seconds and dates at 24 h', () => {
    expect(retryAfterMs('86401', NOW)).toBe(DAY);
    expect(retryAfterMs('86400', NOW)).toBe(DAY);
    expect(retryAfterMs('99999999999999999999999999', NOW)).toBe(DAY);
    expect(retryAfterMs('Mon, 23 Nov 2026 10:00:01 GMT', NOW)).toBe(DAY);
  });

  it.each([['soon'], [''], ['   '], ['5s'], ['1e3'], ['2 minutes'], [null], [undefined]])('ignores %j', (value) => {
    expect(retryAfterMs(value, NOW)).toBeUndefined();
  });

  // BUG: anything that is neither digits nor a valid HTTP-date goes to Date.parse,
  // which in V8 is lenient: "-5" and "+5" read as May 2001, "1.5" as 5 Jan 2001
  // (both → 0 instead of ignored), and "retry in 2030" as 1 Jan 2030 (→ 24 h).
  it('ignores strings that Date.parse accepts but are no HTTP-date', () => {
    const values = ['-5', '+5', '1.5', 'retry in 2030', 'Dec 2099'];
    const read = Object.fromEntries(values.map((v) => [v, retryAfterMs(v, NOW)]));
    expect(read).toEqual(Object.fromEntries(values.map((v) => [v, undefined])));
  });

  it('does not let a non-date string push a retry out by a day', () => {
    expect(decide(1, { status: 503, retryAfter: 'retry in 2030' }, opts())).toEqual({ kind: 'retry', afterMs: 500 });
  });

  describe('in a time zone other than UTC', () => {
    const saved = process.env.TZ;
    afterEach(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });

    it('reads an IMF-fixdate as GMT', () => {
      process.env.TZ = 'Asia/Shanghai';
      expect(retryAfterMs('Sun, 22 Nov 2026 10:00:30 GMT', NOW)).toBe(30_000);
    });

    // BUG: RFC 9110 §5.6.7 asks recipients to accept asctime dates, which are GMT;
    // Date.parse reads a date without a zone as local time (8 h off in Shanghai → 0).
    it('reads an asctime date as GMT', () => {
      process.env.TZ = 'Asia/Shanghai';
      expect(new Date(NOW).getHours()).toBe(18); // the zone change took effect
      expect(retryAfterMs('Sun Nov 22 10:00:30 2026', NOW)).toBe(30_000);
    });
  });
});
