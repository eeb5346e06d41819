import { existsSync, readFileSync, rmSync, statSync, truncateSync, utimesSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFixtures } from '../../src/kit/fixtures.ts';
import { stampJpeg } from '../../src/kit/jpeg.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { backup, restore } from '../../src/ops/backup.ts';
import { databasePath } from '../../src/store/sqlite/open.ts';
import { listSegments, segmentPath } from '../../src/store/sqlite/segment-files.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';
import { startReceiver } from '../support/receiver.ts';

// README §What survives what, images: on SQLite a record's image is appended
// to a segment file in the data dir before the commit of its row, and read
// back from there; retention unlinks a segment no row refers to; a segment
// shorter than its rows say answers no image.

let bridge: TestBridge | undefined;
let terminal: Terminal | undefined;
const stops: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await terminal?.client.endAsync(true);
  await bridge?.stop();
  for (const stop of stops.splice(0)) await stop();
  terminal = bridge = undefined;
});

const [face] = await loadFixtures();
const DAY = 86_400_000;

/** A record of `num` with an image of its own, sent and acknowledged; its event and the image's base64. */
async function sendRecord(b: TestBridge, t: Terminal, num: string) {
  const image = stampJpeg(face, `segment-${num}`).toString('base64');
  const stored = b.eventsStored(
    1,
    (e) => e.type === 'face.verified' && e.deviceSn === t.sn && b.rows('select person from events where seq = ?', e.seq)[0]?.person === num,
  );
  await t.send(verifiedRecordU([verifiedRecord({ num, liveImageBase64: image })]));
  const [event] = await stored;
  return { event, image };
}

async function served(b: TestBridge, id: string) {
  const response = await fetch(`http://127.0.0.1:${b.httpPort}/api/events/${id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('images in segment files', () => {
  it('are written to a segment, not to the database, and read back after a restart', async () => {
    bridge = await startBridge();
    const dataDir = bridge.dataDir;
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG1');
    const { event, image } = await sendRecord(bridge, terminal, '7001');
    expect(bridge.rows('select base64, segment, position, length from images where event_seq = ?', event.seq)).toEqual([
      { base64: '', segment: 1, position: 0, length: image.length },
    ]);
    expect(readFileSync(segmentPath(dataDir, 1)).subarray(0, image.length).toString()).toBe(image);
    await terminal.client.endAsync(true);
    terminal = undefined;
    await bridge.stop({ keepData: true });

    bridge = await startBridge({}, dataDir);
    const { status, bytes } = await served(bridge, event.id);
    expect(status).toBe(200);
    expect(bytes.equals(Buffer.from(image, 'base64'))).toBe(true);
    // A restart appends after what is there.
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG1');
    const second = await sendRecord(bridge, terminal, '7002');
    expect(bridge.rows('select segment, position from images where event_seq = ?', second.event.seq)).toEqual([{ segment: 1, position: image.length }]);
  });

  it('answers no image for a segment cut short (a torn disk), in the API and in the webhook, and goes on', async () => {
    // The receiver is down until the segment is cut: both deliveries are still to come.
    const receiver = await startReceiver();
    stops.push(() => receiver.close());
    await receiver.down();
    bridge = await startBridge({ WEBHOOK_URL: receiver.url, DELIVERY_SCHEDULE: Array(100).fill('50ms').join(',') });
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG2');
    const whole = await sendRecord(bridge, terminal, '7101');
    const cut = await sendRecord(bridge, terminal, '7102');
    // The second image loses its last byte.
    truncateSync(segmentPath(bridge.dataDir, 1), whole.image.length + cut.image.length - 1);
    expect((await served(bridge, cut.event.id)).status).toBe(404);
    expect((await served(bridge, whole.event.id)).bytes.equals(Buffer.from(whole.image, 'base64'))).toBe(true);

    // Its webhook goes without `img`, as an event's without an image does.
    await receiver.up();
    const delivered = await receiver.received(2);
    const byNum = new Map(delivered.map((r) => [r.json.user_id, r.json]));
    expect(byNum.get('7101')?.img).toBe(whole.image);
    expect(byNum.get('7102')).toMatchObject({ user_id: '7102', type: 'face.verified' });
    expect(byNum.get('7102')).not.toHaveProperty('img');
    // The bridge goes on writing after the short end.
    const after = await sendRecord(bridge, terminal, '7103');
    expect((await served(bridge, after.event.id)).bytes.equals(Buffer.from(after.image, 'base64'))).toBe(true);
  });

  it('unlinks a segment once retention has deleted every row that refers to it, and keeps the newer ones', async () => {
    bridge = await startBridge();
    const dataDir = bridge.dataDir;
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG3');
    const old = await sendRecord(bridge, terminal, '7201');
    await terminal.client.endAsync(true);
    terminal = undefined;
    await bridge.stop({ keepData: true });
    // The record was received 45 days ago, and its segment last written then: the next image starts a segment of today.
    const db = new Database(databasePath(dataDir));
    db.prepare('update events set received_at = ? where seq = ?').run(Date.now() - 45 * DAY, old.event.seq);
    db.close();
    const then = new Date(Date.now() - 45 * DAY);
    utimesSync(segmentPath(dataDir, 1), then, then);

    bridge = await startBridge({ RETENTION_DAYS: '30' }, dataDir, { retentionEveryMs: 50 });
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG3');
    const recent = await sendRecord(bridge, terminal, '7202');
    expect(bridge.rows('select segment from images where event_seq = ?', recent.event.seq)).toEqual([{ segment: 2 }]);
    await until(() => !existsSync(segmentPath(dataDir, 1)));
    expect(bridge.count('events', 'seq = ?', old.event.seq)).toBe(0);
    expect(listSegments(dataDir)).toEqual([2]);
    expect((await served(bridge, recent.event.id)).bytes.equals(Buffer.from(recent.image, 'base64'))).toBe(true);
  });

  it('reads the images of rows stored before segments, which keep their text', async () => {
    bridge = await startBridge();
    const dataDir = bridge.dataDir;
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG4');
    const { event } = await sendRecord(bridge, terminal, '7301');
    await terminal.client.endAsync(true);
    terminal = undefined;
    await bridge.stop({ keepData: true });
    // The row as an earlier version wrote it: the text itself, no segment.
    const earlier = stampJpeg(face, 'segment-earlier').toString('base64');
    const db = new Database(databasePath(dataDir));
    db.prepare('update images set base64 = ?, segment = null, position = null, length = null where event_seq = ?').run(earlier, event.seq);
    db.close();
    bridge = await startBridge({}, dataDir);
    expect((await served(bridge, event.id)).bytes.equals(Buffer.from(earlier, 'base64'))).toBe(true);
  });

  it('are in a backup, and back after its restore, though the segments are gone', async () => {
    bridge = await startBridge();
    const dataDir = bridge.dataDir;
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG5');
    const kept = await sendRecord(bridge, terminal, '7401');
    const file = `${dataDir}-backup.db`;
    stops.push(async () => rmSync(file, { force: true }));
    // Online, while the bridge runs.
    const report = backup(dataDir, file);
    expect(report.events).toBeGreaterThanOrEqual(1);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare('select base64, segment from images where event_seq = ?').get(kept.event.seq)).toEqual({ base64: kept.image, segment: null });
    copy.close();
    const later = await sendRecord(bridge, terminal, '7402');
    await terminal.client.endAsync(true);
    terminal = undefined;
    await bridge.stop({ keepData: true });

    restore(dataDir, file);
    expect(existsSync(segmentPath(dataDir, 1))).toBe(false);
    bridge = await startBridge({}, dataDir);
    expect((await served(bridge, kept.event.id)).bytes.equals(Buffer.from(kept.image, 'base64'))).toBe(true);
    // Taken after the copy: not in it.
    expect((await served(bridge, later.event.id)).status).toBe(404);
    // New images go to segments again.
    terminal = await connectTerminal(bridge.brokerUrl, 'SEG5');
    const next = await sendRecord(bridge, terminal, '7403');
    expect(statSync(segmentPath(dataDir, 1)).size).toBe(next.image.length);
    expect((await served(bridge, next.event.id)).bytes.equals(Buffer.from(next.image, 'base64'))).toBe(true);
  });
});
