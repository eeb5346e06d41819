import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdmission } from '../../src/terminals/admission.ts';
import { capturedLog } from '../support/captured-log.ts';

const MINUTE = 60_000;

beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
afterEach(() => vi.useRealTimers());

/** Admission over a clock the test moves, a count of known terminals it sets, and the warnings it logs. */
function setup({ maxTerminals = 5, perSecond = 2, burst = 4 } = {}) {
  const clock = { t: 1_000_000 };
  let known = 0;
  const { log, lines } = capturedLog();
  const admission = createAdmission({ maxTerminals, rate: { perSecond, burst }, known: () => known, log, now: () => clock.t });
  /** Asks for `sn` as ingest does: one admitted is known from then on. */
  const admit = (sn: string) => {
    const why = admission.admit(sn);
    if (why === undefined) known += 1;
    return why?.limit ?? 'learned';
  };
  const pass = (ms: number) => {
    clock.t += ms;
    vi.advanceTimersByTime(ms);
  };
  const warnings = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return lines.filter((l) => l.msg === 'new terminals not learned');
  };
  return { admission, admit, pass, warnings, setKnown: (n: number) => void (known = n) };
}

describe('createAdmission', () => {
  it('learns a burst of 2 × N at once, then N a second', () => {
    const { admit, pass } = setup({ maxTerminals: 100, perSecond: 2, burst: 4 });
    expect(['a', 'b', 'c', 'd', 'e'].map(admit)).toEqual(['learned', 'learned', 'learned', 'learned', 'DISCOVERY_RATE']);
    pass(500);
    expect(['f', 'g'].map(admit)).toEqual(['learned', 'DISCOVERY_RATE']);
  });

  it('learns nothing once MAX_TERMINALS are known, and spends no token on it', () => {
    const { admit, pass, setKnown } = setup({ maxTerminals: 5, perSecond: 2, burst: 4 });
    setKnown(5);
    pass(10_000);
    expect(['a', 'b'].map(admit)).toEqual(['MAX_TERMINALS', 'MAX_TERMINALS']);
    setKnown(1); // some were forgotten
    expect(['c', 'd', 'e', 'f', 'g'].map(admit)).toEqual(['learned', 'learned', 'learned', 'learned', 'MAX_TERMINALS']);
  });

  it('warns at once, then at most once a minute with the count refused since', async () => {
    const { admission, admit, pass, warnings, setKnown } = setup({ maxTerminals: 5 });
    setKnown(5);
    for (let i = 0; i < 1000; i++) admit(`X${i}`);
    let lines = await warnings();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, refused: 1, overMaxTerminals: 1, overDiscoveryRate: 0, known: 5, maxTerminals: 5, last: 'X0' });
    pass(MINUTE - 1);
    expect(await warnings()).toHaveLength(1);
    pass(1);
    lines = await warnings();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ refused: 999, last: 'X999' });
    // A quiet minute: no line; the next refusal warns at once again.
    pass(MINUTE);
    pass(MINUTE);
    expect(await warnings()).toHaveLength(2);
    admit('Y1');
    admit('Y2');
    expect(await warnings()).toHaveLength(3);
    // Stopping writes what the last line did not count.
    admission.stop();
    lines = await warnings();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ refused: 1, last: 'Y2' });
  });
});
