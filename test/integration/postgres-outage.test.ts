import { expect, it } from 'vitest';
import { startPostgres } from '../../src/kit/postgres.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { checkPostgres } from '../../src/ops/doctor.ts';
import { startBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// README §PostgreSQL: the bridge on DATABASE_URL while its server is down.
// SPEC: no local buffering; /readyz 503 within 10 s of losing PostgreSQL; back
// on its own, the process never exits.

const cleanup = cleanupAfterEach();

it('holds records while PostgreSQL is stopped, says 503 on /readyz (and doctor fails), and recovers by itself once it is back, losing nothing', async () => {
  const pg = await startPostgres({ fsync: 'off' });
  cleanup(() => pg.dispose());
  const url = await pg.database('outage');
  const bridge = await startBridge({ DATABASE_URL: url });
  cleanup(() => bridge.stop());
  const door = await connectTerminal(bridge.brokerUrl, 'PGDOWN1', { reconnectPeriod: 100 });
  const other = await connectTerminal(bridge.brokerUrl, 'PGDOWN2');
  cleanup(() => Promise.all([door.client.endAsync(true), other.client.endAsync(true)]));
  await door.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'before' })] });
  await other.send({ cmd: 'heartU' });
  expect((await bridge.api('GET', '/readyz')).status).toBe(200);

  await pg.stop();
  const down = performance.now();
  let acknowledged = false;
  const record = door.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'during' })] }).then(() => (acknowledged = true));
  await until(async () => (await bridge.api('GET', '/readyz')).status === 503);
  console.log(`postgres-outage: /readyz 503 ${Math.round(performance.now() - down)} ms after the server stopped`);
  // Heartbeats need no database.
  const reply = other.next();
  await other.send({ cmd: 'heartU' });
  expect((await reply).cmd).toBe('heartD');
  // Its commit failed: the message is not acknowledged, the broker closed the door's connection.
  await until(() => bridge.logLines.some((line) => line.includes('upLink message not stored')));
  expect(acknowledged).toBe(false);
  // facegate doctor says so too.
  expect((await checkPostgres(url)).finding).toMatchObject({ verdict: 'fail', check: 'database' });

  await pg.start();
  const up = performance.now();
  // The terminal's retransmission alone stores it, once the pool reconnects.
  await record;
  await until(async () => (await bridge.api('GET', '/readyz')).status === 200);
  console.log(`postgres-outage: recovered ${Math.round(performance.now() - up)} ms after the server was back`);
  const verified = await until(async () => {
    const { items } = (await bridge.api('GET', '/api/events?type=face.verified')).json as { items: { user_id: string }[] };
    return items.length === 2 ? items : undefined;
  });
  expect(verified.map((e) => e.user_id).sort()).toEqual(['before', 'during']);
  expect(bridge.count('events', "type = 'face.verified'")).toBe(2);
  expect((await checkPostgres(url)).finding).toMatchObject({ verdict: 'ok', detail: expect.stringMatching(/reachable, 4 migrations applied$/) });
});
