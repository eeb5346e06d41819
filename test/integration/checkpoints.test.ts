import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { databasePath } from '../../src/store/sqlite/open.ts';
import { segmentsSize } from '../../src/store/sqlite/segment-files.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// SQLite's automatic checkpoint is off (it ran inside commits): the writer
// thread must copy the WAL back into the database file by itself, after its
// commits, or the WAL would only grow. The images are not among those pages:
// they are written once, to their segment files (README §What survives what).

let bridge: TestBridge | undefined;
let terminal: Terminal | undefined;

afterEach(async () => {
  await terminal?.client.endAsync(true);
  await bridge?.stop();
  terminal = bridge = undefined;
});

const RECORDS = 300;

it('copies committed pages back into the database file while records keep coming', async () => {
  bridge = await startBridge();
  const file = databasePath(bridge.dataDir);
  const before = statSync(file).size;
  terminal = await connectTerminal(bridge.brokerUrl, 'CKPT1');
  // ~11 MB of records with their images, to the segments; their rows to the database.
  const image = randomBytes(27 * 1024).toString('base64');
  await Promise.all(
    Array.from({ length: RECORDS }, (_, i) => terminal!.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `r${i}`, liveImageBase64: image })] })),
  );
  expect(bridge.count('events', "type = 'face.verified'")).toBe(RECORDS);
  // Every page of a WAL mode database is written first to the WAL: the file grows only by a checkpoint.
  await until(() => statSync(file).size > before);
  expect(segmentsSize(bridge.dataDir).bytes).toBeGreaterThanOrEqual(RECORDS * image.length);
  expect(statSync(file).size).toBeLessThan(RECORDS * image.length);
});
