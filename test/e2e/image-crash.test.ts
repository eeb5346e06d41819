import { expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { loadFixtures } from '../../src/kit/fixtures.ts';
import { stampJpeg } from '../../src/kit/jpeg.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// README §What survives what, face images: an image is in its segment before
// the commit of its row, and the row's commit comes before the PUBACK. The
// compiled CLI is killed with SIGKILL the moment the last of 40 records with
// images is acknowledged; after the restart every one of them is served whole.

const RECORDS = 40;
const TOKEN = 'image-crash-token-0123';
const cleanup = cleanupAfterEach();

it('serves every acknowledged image after a SIGKILL right after its acknowledgement', async () => {
  const dataDir = makeTempDir('facegate-image-crash-');
  cleanup(() => removeTempDir(dataDir));
  const [brokerPort, httpPort] = [await freePort(), await freePort()];
  const start = () => startCli({ DATA_DIR: dataDir, ADMIN_TOKEN: TOKEN, BROKER_PORT: String(brokerPort), PORT: String(httpPort) });
  let bridge: CliProcess = await start();
  cleanup(() => bridge.kill('SIGKILL'));

  const [face] = await loadFixtures();
  const images = new Map(Array.from({ length: RECORDS }, (_, i) => [`${8000 + i}`, stampJpeg(face, `image-crash-${i}`)]));
  const terminal = await connectTerminal(`mqtt://127.0.0.1:${brokerPort}`, 'CRASHIMG', { reconnectPeriod: 0 });
  cleanup(() => terminal.client.endAsync(true));
  // All in flight at once: they share commits, each PUBACK after its own.
  await Promise.all([...images].map(([num, jpeg]) => terminal.send(verifiedRecordU([verifiedRecord({ num, liveImageBase64: jpeg.toString('base64') })]))));
  await bridge.kill('SIGKILL');

  bridge = await start();
  const api = (path: string) => fetch(`http://127.0.0.1:${httpPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const listed = (await (await api(`/api/events?type=face.verified&limit=${RECORDS}`)).json()) as { items: { id: string; user_id: string }[] };
  expect(listed.items.map((item) => item.user_id).sort()).toEqual([...images.keys()].sort());
  for (const { id, user_id } of listed.items) {
    const response = await api(`/api/events/${id}/image`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(images.get(user_id)!)).toBe(true);
  }
});
