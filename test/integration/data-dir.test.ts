import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

it('keeps DATA_DIR and the database (face images, secrets, commands) to the service user alone', async () => {
  const dataDir = join(makeTempDir('facegate-modes-'), 'data');
  // No ADMIN_TOKEN: the generated one is written to DATA_DIR too.
  const b = await startBridge({ ADMIN_TOKEN: '' }, dataDir);
  bridge = b;
  const t = await connectTerminal(b.brokerUrl, 'M1');
  await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
  await t.client.endAsync(true);
  const mode = (file: string) => (statSync(join(dataDir, file)).mode & 0o777).toString(8);
  expect([mode('.'), mode('facegate.db'), mode('facegate.db-wal'), mode('facegate.db-shm'), mode('admin-token')]).toEqual(['700', '600', '600', '600', '600']);
});
