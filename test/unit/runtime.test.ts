import { describe, expect, it } from 'vitest';
import { runtimeSupport, runtimeWarning } from '../../src/lib/runtime.ts';
import { checkRuntime } from '../../src/ops/doctor.ts';

// README §Quick start: which Node.js lines are maintained, and what a start and doctor say on one that is not.

const day = (iso: string) => new Date(`${iso}T12:00:00Z`);

describe('the Node.js release line', () => {
  it('is maintained through its last day and ended the day after', () => {
    expect(runtimeSupport('v20.18.1', day('2026-04-30'))).toEqual({ major: 20, endOfLife: '2026-04-30', status: 'maintained' });
    expect(runtimeSupport('v20.20.2', day('2026-05-01')).status).toBe('ended');
    expect(runtimeSupport('v22.11.0', day('2026-12-05')).status).toBe('maintained');
    expect(runtimeSupport('v24.21.0', day('2026-12-05')).status).toBe('maintained');
  });

  it('is unknown for a line facegate does not list (an odd current line, or an old one)', () => {
    expect(runtimeSupport('v25.1.0').status).toBe('unknown');
    expect(runtimeSupport('v18.20.0').status).toBe('unknown');
  });

  it('gives a warning that names the end of life and the line to run, only when there is one', () => {
    expect(runtimeWarning(runtimeSupport('v20.20.2', day('2026-12-05')))).toBe(
      'Node.js 20 reached its end of life on 2026-04-30 and gets no security fixes: run Node.js 24 LTS',
    );
    expect(runtimeWarning(runtimeSupport('v25.1.0'))).toMatch(/^Node\.js 25 is not a release line facegate supports: run Node\.js 24 LTS/);
    expect(runtimeWarning(runtimeSupport('v24.21.0', day('2026-12-05')))).toBeUndefined();
  });

  it('is a warning in doctor on an ended line and ok on a maintained one, recommending 24', () => {
    expect(checkRuntime('v20.20.2', day('2026-12-05'))).toMatchObject({ verdict: 'warn', check: 'Node.js' });
    expect(checkRuntime('v22.11.0', day('2026-12-05'))).toEqual({
      verdict: 'ok',
      check: 'Node.js',
      detail: 'v22.11.0, maintained until 2027-04-30; Node.js 24 LTS is recommended',
    });
    expect(checkRuntime('v24.21.0', day('2026-12-05')).detail).toBe('v24.21.0, maintained until 2028-04-30');
  });
});
