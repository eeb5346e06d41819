import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { expect, it } from 'vitest';
import { measureDisk, measureImageWrites } from '../../src/bench/measures/disk.ts';

it('the disk ceiling syncs every append and, when paced, spreads them over the time asked for', async () => {
  const backToBack = await measureDisk({ appends: 20, bytes: 4096 });
  expect(backToBack).toMatchObject({ appends: 20, bytes: 4096, pace: undefined, sync: { count: 20 } });

  // 20 appends at 200 a second: the last is due 95 ms after the first, so no more than 20 / 0.095 a second.
  const paced = await measureDisk({ appends: 20, bytes: 4096, pace: 200 });
  expect(paced).toMatchObject({ appends: 20, pace: 200, sync: { count: 20 } });
  expect(paced.perSecond).toBeLessThanOrEqual(20 / 0.095);
});

it('the write ceiling writes the images to a new file and then over it again, and leaves no file behind', () => {
  // 12 images of 36 KB in writes of 100 KB: the last write is a short one.
  const passes = measureImageWrites({ images: 12, imageBytes: 36 * 1024, writeBytes: 100 * 1024 });
  expect(passes.map(({ pages, images, imageBytes }) => [pages, images, imageBytes])).toEqual([
    ['new', 12, 36 * 1024],
    ['cached', 12, 36 * 1024],
  ]);
  for (const pass of passes) {
    expect(pass.microsPerImage).toBeGreaterThan(0);
    expect(pass.perSecond).toBeGreaterThan(0);
  }
  expect(readdirSync(tmpdir()).filter((name) => name.startsWith('facegate-bench-writes-'))).toEqual([]);
});
