import { expect, it } from 'vitest';
import { measureDisk } from '../../src/bench/measures/disk.ts';

it('the disk ceiling syncs every append and, when paced, spreads them over the time asked for', async () => {
  const backToBack = await measureDisk({ appends: 20, bytes: 4096 });
  expect(backToBack).toMatchObject({ appends: 20, bytes: 4096, pace: undefined, sync: { count: 20 } });

  // 20 appends at 200 a second: the last is due 95 ms after the first, so no more than 20 / 0.095 a second.
  const paced = await measureDisk({ appends: 20, bytes: 4096, pace: 200 });
  expect(paced).toMatchObject({ appends: 20, pace: 200, sync: { count: 20 } });
  expect(paced.perSecond).toBeLessThanOrEqual(20 / 0.095);
});
