import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { drizzleEntry } from '../../src/store/drizzle.ts';
import { migrateDatabase, openDatabase } from '../../src/store/sqlite/open.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';

const { drizzle } = drizzleEntry('drizzle-orm/better-sqlite3');
const { migrate } = drizzleEntry('drizzle-orm/better-sqlite3/migrator');

// facegate_outbox_depth is kept by triggers on deliveries instead of counted
// at each scrape (README §Webhooks, Metrics): at every settled point of a
// delivery's life it must equal a COUNT(*) of the pending deliveries.

let bridge: TestBridge | undefined;
let terminal: Terminal | undefined;
let receivers: Receiver[] = [];

afterEach(async () => {
  await terminal?.client.endAsync(true);
  terminal = undefined;
  await bridge?.stop();
  bridge = undefined;
  await Promise.all(receivers.map((r) => r.close().catch(() => {})));
  receivers = [];
});

async function receiver(status: number) {
  const r = await startReceiver(() => ({ status }));
  receivers.push(r);
  return r;
}

/** facegate_outbox_depth as /metrics shows it, by endpoint. */
async function scraped(b: TestBridge): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^facegate_outbox_depth\{endpoint="([^"]+)"\} (\d+)$/gm)].map(([, id, n]) => [id, Number(n)]));
}

/** The same, counted: every endpoint with its pending deliveries, 0 included. */
function counted(b: TestBridge): Record<string, number> {
  const rows = b
    .db()
    .prepare("select e.id, (select count(*) from deliveries d where d.endpoint_id = e.id and d.status = 'pending') as n from endpoints e")
    .all() as { id: string; n: number }[];
  return Object.fromEntries(rows.map((row) => [row.id, row.n]));
}

async function expectDepth(b: TestBridge, expected: Record<string, number>) {
  expect(counted(b)).toEqual(expected);
  expect(await scraped(b)).toEqual(expected);
}

const passes = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => verifiedRecord({ num: String(from + i), time: `2026-11-22 10:00:${String(from + i).padStart(2, '0')}` }));

describe('facegate_outbox_depth', () => {
  it('equals a count of the pending deliveries through enqueue, delivery, retries, dead, retry, redelivery and removal', async () => {
    const ok = await receiver(200);
    const failing = await receiver(500);
    const gone = await receiver(410);
    // One retry, then dead; few enough failures that the failing lane never slows to probing.
    const b = await startBridge({ WEBHOOK_URL: ok.url, DELIVERY_SCHEDULE: '10ms' });
    bridge = b;
    const add = async (url: string) => (await b.api('POST', '/api/webhooks', { url, event_types: ['face.verified'] })).json.id as string;
    const fail = await add(failing.url);
    const gon = await add(gone.url);
    await expectDepth(b, { ep_default: 0, [fail]: 0, [gon]: 0 });

    terminal = await connectTerminal(b.brokerUrl, 'D1');
    await terminal.send({ cmd: 'verifiedRecordU', data: passes(2) });
    // Delivered to one; dead after two attempts at another; at the third, 410 disables the endpoint and its deliveries wait.
    await ok.received(2);
    await until(() => b.count('deliveries', "endpoint_id = ? and status = 'dead'", fail) === 2);
    await until(async () => (await b.api('GET', `/api/webhooks/${gon}`)).json.enabled === false);
    await until(() => b.count('deliveries', "endpoint_id = 'ep_default' and status = 'delivered'") === 2);
    await expectDepth(b, { ep_default: 0, [fail]: 0, [gon]: 2 });

    // A dead delivery put back: pending, then delivered once the receiver answers.
    failing.script(() => ({ status: 200 }));
    const [dead] = (await b.api('GET', `/api/deliveries?status=dead&endpoint=${fail}&limit=1`)).json.items;
    expect((await b.api('POST', `/api/deliveries/${dead.id}/retry`)).status).toBe(202);
    await until(async () => (await b.api('GET', `/api/deliveries/${dead.id}`)).json.status === 'delivered');
    await expectDepth(b, { ep_default: 0, [fail]: 0, [gon]: 2 });

    // Redelivery: the delivered ones go back to pending and out again; a new endpoint gets its first.
    expect((await b.api('POST', '/api/webhooks/ep_default/redeliver', { since: '2000-01-01T00:00:00Z' })).json.deliveries).toBe(2);
    await ok.received(4);
    await until(() => b.count('deliveries', "endpoint_id = 'ep_default' and status = 'delivered'") === 2);
    const late = await add(gone.url);
    expect((await b.api('POST', `/api/webhooks/${late}/redeliver`, { since: '2000-01-01T00:00:00Z' })).json.deliveries).toBe(2);
    await until(async () => (await b.api('GET', `/api/webhooks/${late}`)).json.enabled === false);
    await expectDepth(b, { ep_default: 0, [fail]: 0, [gon]: 2, [late]: 2 });

    // New events while one endpoint is disabled: its depth grows.
    await terminal.send({ cmd: 'verifiedRecordU', data: passes(3, 10) });
    await ok.received(7);
    await until(() => b.count('deliveries', "endpoint_id = 'ep_default' and status = 'delivered'") === 5);
    await until(() => b.count('deliveries', "endpoint_id = ? and status = 'delivered'", fail) === 4);
    await expectDepth(b, { ep_default: 0, [fail]: 0, [gon]: 5, [late]: 5 });

    // An endpoint removed takes its deliveries and its series with it.
    expect((await b.api('DELETE', `/api/webhooks/${gon}`)).status).toBe(204);
    await expectDepth(b, { ep_default: 0, [fail]: 0, [late]: 5 });
  });

  it('equals the count after retention purges what a disabled endpoint waited for and keeps what an enabled one waits for', async () => {
    const DAY = 86_400_000;
    let b = await startBridge({ WEBHOOK_URL: 'http://127.0.0.1:9/down', DELIVERY_SCHEDULE: '1h' });
    const dataDir = b.dataDir;
    await b.stop({ keepData: true });
    const db = new Database(join(dataDir, 'facegate.db'));
    const old = Date.now() - 45 * DAY;
    db.prepare(
      "insert into endpoints (id, url, event_types, enabled, disabled_reason, created_at) values ('ep_off', 'http://127.0.0.1:9/off', '[\"face.verified\"]', 0, 'gone', ?)",
    ).run(old);
    const insertEvent = db.prepare("insert into events (id, type, device_sn, received_at, fields, has_image) values (?, 'face.verified', 'OLD1', ?, '{}', 0)");
    const insertDelivery = db.prepare("insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values (?, ?, 'pending', ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < 1500; i++) {
        const { lastInsertRowid } = insertEvent.run(`evt_old_${i}`, old);
        insertDelivery.run(lastInsertRowid, i % 3 === 0 ? 'ep_default' : 'ep_off', old + DAY * 100, old);
      }
    })();
    db.close();
    b = await startBridge({ WEBHOOK_URL: 'http://127.0.0.1:9/down', DELIVERY_SCHEDULE: '1h', RETENTION_DAYS: '30' }, dataDir);
    bridge = b;
    await until(() => b.logLines.some((line) => line.includes('"retention purge"')));
    expect(b.count('events', "device_sn = 'OLD1'")).toBe(500);
    await expectDepth(b, { ep_default: 500, ep_off: 0 });
  });

  it('starts from the deliveries a database already held before the triggers existed', () => {
    const dir = makeTempDir('facegate-depth-');
    try {
      // The migrations of a release before the outbox depth table.
      const migrations = new URL('../../drizzle/', import.meta.url).pathname;
      const older = join(dir, 'drizzle');
      mkdirSync(join(older, 'meta'), { recursive: true });
      const journal = JSON.parse(readFileSync(join(migrations, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
      const before = journal.entries.slice(
        0,
        journal.entries.findIndex((entry) => /outbox_depth/.test(entry.tag)),
      );
      for (const entry of before) cpSync(join(migrations, `${entry.tag}.sql`), join(older, `${entry.tag}.sql`));
      writeFileSync(join(older, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: before }));
      const sqlite = new Database(join(dir, 'facegate.db'));
      migrate(drizzle(sqlite), { migrationsFolder: older });
      sqlite.exec(`
        insert into endpoints (id, url, event_types, created_at) values ('ep_a', 'http://a', '[]', 1), ('ep_b', 'http://b', '[]', 1), ('ep_idle', 'http://c', '[]', 1);
        insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values
          (1, 'ep_a', 'pending', 0, 0), (2, 'ep_a', 'pending', 0, 0), (3, 'ep_a', 'dead', 0, 0), (1, 'ep_b', 'delivered', 0, 0), (2, 'ep_b', 'pending', 0, 0);`);
      sqlite.close();

      const { sqlite: upgraded, db } = openDatabase(dir, 'normal');
      migrateDatabase(db);
      expect(upgraded.prepare('select endpoint_id, pending from outbox_depth order by endpoint_id').all()).toEqual([
        { endpoint_id: 'ep_a', pending: 2 },
        { endpoint_id: 'ep_b', pending: 1 },
        { endpoint_id: 'ep_idle', pending: 0 },
      ]);
      // And from then on the triggers keep it.
      upgraded.exec(
        "update deliveries set status = 'delivered' where endpoint_id = 'ep_a' and event_seq = 1; insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at) values (9, 'ep_idle', 'pending', 0, 0)",
      );
      expect(upgraded.prepare('select endpoint_id, pending from outbox_depth order by endpoint_id').all()).toEqual([
        { endpoint_id: 'ep_a', pending: 1 },
        { endpoint_id: 'ep_b', pending: 1 },
        { endpoint_id: 'ep_idle', pending: 1 },
      ]);
      upgraded.close();
    } finally {
      removeTempDir(dir);
    }
  });
});
