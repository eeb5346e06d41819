import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { PURGE_CANDIDATES } from '../../src/store/sqlite/outbox.ts';
import { startBridge, stopDuringCommit, type TestBridge } from '../support/bridge.ts';

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

const DAY = 86_400_000;

it('purges events, images, finished deliveries, rejects and commands past RETENTION_DAYS, keeping what a delivery still waits for', async () => {
  const WEBHOOK_URL = 'http://127.0.0.1:9/never';
  // A store with a month and a half of history.
  let b = await startBridge({ WEBHOOK_URL });
  const dataDir = b.dataDir;
  await b.stop({ keepData: true });
  const db = new Database(join(dataDir, 'facegate.db'));
  const old = Date.now() - 45 * DAY;
  const insertEvent = db.prepare("insert into events (id, type, device_sn, received_at, fields, has_image) values (?, 'face.verified', 'OLD1', ?, '{}', 1)");
  const insertImage = db.prepare("insert into images (event_seq, base64) values (?, '/9j/old')");
  const insertDelivery = db.prepare('insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values (?, ?, ?, ?, ?)');
  db.prepare(
    "insert into endpoints (id, url, event_types, enabled, disabled_reason, created_at) values ('ep_gone', 'http://127.0.0.1:9/gone', '[\"face.verified\"]', 0, 'gone', ?)",
  ).run(old);
  db.transaction(() => {
    for (let i = 0; i < 450; i++) {
      const { lastInsertRowid } = insertEvent.run(`evt_old_${i}`, old + i);
      insertImage.run(lastInsertRowid);
      // One old event is still owed to the backend; another only to an endpoint that is disabled, which retention does not wait for.
      const [endpoint, status] = i === 7 ? ['ep_default', 'pending'] : i === 8 ? ['ep_gone', 'pending'] : ['ep_default', 'delivered'];
      insertDelivery.run(lastInsertRowid, endpoint, status, old, old);
    }
    const reject = db.prepare(
      "insert into rejects (received_at, topic, device_sn, reason, detail, size, sample) values (?, 't', 'OLD1', 'not_json', 'x', 1, 'x')",
    );
    for (let i = 0; i < 30; i++) reject.run(old);
    db.prepare(
      'insert into commands (id, device_sn, body, status, created_at) values (\'cmd_old\', \'OLD1\', \'{"cmd":"addPersonD","name":"Li Si"}\', \'published\', ?)',
    ).run(old);
  })();
  db.close();

  b = await startBridge({ RETENTION_DAYS: '30', WEBHOOK_URL }, dataDir);
  bridge = b;
  const t = await connectTerminal(b.brokerUrl, 'NEW1');
  await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] });
  await until(() => b.count('events', "device_sn = 'OLD1'") === 1);
  expect(b.db().prepare("select id from events where device_sn = 'OLD1'").get()).toEqual({ id: 'evt_old_7' });
  expect(b.count('images')).toBe(2); // the kept old one and the new one
  // The old event's pending delivery stays; the delivered ones are gone.
  expect(b.db().prepare("select d.status from deliveries d join events e on e.seq = d.event_seq where e.device_sn = 'OLD1'").all()).toEqual([
    { status: 'pending' },
  ]);
  expect(b.count('rejects')).toBe(0);
  expect(b.count('commands')).toBe(0);
  expect(b.count('events', "device_sn = 'NEW1' and type = 'face.verified'")).toBe(1);
  // The line comes once the writer's answer to the last batch is back, which may be after the commit shows.
  const purged = (line: string) => line.includes('"retention purge"') && line.includes('"removed":480');
  await until(() => b.logLines.some(purged));
  expect(b.logLines.some(purged)).toBe(true);
  await t.client.endAsync(true);
});

it('walks past more kept events than one step looks at, ties of received_at included, and purges what lies beyond them', async () => {
  let b = await startBridge({ WEBHOOK_URL: 'http://127.0.0.1:9/never', DELIVERY_SCHEDULE: '1h' });
  const dataDir = b.dataDir;
  await b.stop({ keepData: true });
  const db = new Database(join(dataDir, 'facegate.db'));
  const old = Date.now() - 45 * DAY;
  const insertEvent = db.prepare("insert into events (id, type, device_sn, received_at, fields, has_image) values (?, 'face.verified', 'OLD1', ?, '{}', 0)");
  const insertDelivery = db.prepare("insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values (?, 'ep_default', ?, ?, ?)");
  const kept: string[] = [];
  db.transaction(() => {
    // 2,500 old events in five runs of one millisecond each: a step's cursor lands inside a run.
    for (let i = 0; i < 2500; i++) {
      const id = `evt_old_${i}`;
      const { lastInsertRowid } = insertEvent.run(id, old + Math.floor(i / 500));
      // The first 1,700 are owed to the backend (more than a step looks at), one in three after them.
      const waiting = i < 1700 || i % 3 === 0;
      if (waiting) kept.push(id);
      insertDelivery.run(lastInsertRowid, waiting ? 'pending' : 'delivered', old + 100 * DAY, old);
    }
  })();
  db.close();
  expect(kept.length).toBeGreaterThan(PURGE_CANDIDATES);

  b = await startBridge({ WEBHOOK_URL: 'http://127.0.0.1:9/never', DELIVERY_SCHEDULE: '1h', RETENTION_DAYS: '30' }, dataDir);
  bridge = b;
  const line = await until(() => b.logLines.find((l) => l.includes('"retention purge"')));
  const purged = 2500 - kept.length;
  expect(JSON.parse(line)).toMatchObject({ removed: purged, steps: expect.any(Number), longest_step_ms: expect.any(Number) });
  // Each step deletes 200 at most and looks at 1,000 events at most: at least as many steps as either asks.
  expect(JSON.parse(line).steps).toBeGreaterThanOrEqual(Math.max(Math.ceil(purged / 200), Math.ceil(2500 / PURGE_CANDIDATES)));
  const left = (b.db().prepare("select id from events where device_sn = 'OLD1' order by seq").all() as { id: string }[]).map((row) => row.id);
  expect(left).toEqual(kept);
  expect(b.count('deliveries', "status = 'delivered'")).toBe(0);
});

it('does not hold a stop behind a retention step that waits for the database', async () => {
  // A purge every few milliseconds: one is in the writer's queue when the stop comes.
  const b = await startBridge({}, undefined, { retentionEveryMs: 5 });
  bridge = b;
  const t = await connectTerminal(b.brokerUrl, 'RS1');
  // The write lock is held elsewhere until the stop has closed the HTTP server (stopDuringCommit).
  await stopDuringCommit(b, () => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }));
  bridge = undefined;
  await t.client.endAsync(true);
  const db = new Database(join(b.dataDir, 'facegate.db'), { readonly: true });
  expect(db.prepare("select count(*) as n from events where type = 'face.verified'").get()).toEqual({ n: 1 });
  db.close();
  rmSync(b.dataDir, { recursive: true, force: true });
});
