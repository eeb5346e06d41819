import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf } from '../../src/cluster/cluster.ts';
import { type Mosquitto, startMosquitto } from '../../src/kit/mosquitto.ts';
import { type Postgres, startPostgres } from '../../src/kit/postgres.ts';
import { heartU } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// README §Running several replicas: replicas in this process (the real
// bridge, each with its own data dir and MQTT client id) on one PostgreSQL
// and one Mosquitto. A reply that reaches another replica than the one that
// published its command, at once, is paired all the same; a replica that
// starts fails only the queued commands of a replica that is gone; a flip
// told while a replica did not listen is read from the table.

const SLOTS = 2;
const cleanup = cleanupAfterEach();
let postgres: Postgres;
let mosquitto: Mosquitto;
let databases = 0;

beforeAll(async () => {
  postgres = await startPostgres({ fsync: 'off' });
  mosquitto = await startMosquitto();
});
afterAll(async () => {
  await mosquitto?.dispose();
  await postgres?.dispose();
});

/** Replicas of one site: one database (its URL as `.database`), one share group, `slots` slots. */
async function site(group: string, slots = SLOTS) {
  const database = await postgres.database(`${group}_${++databases}`);
  let n = 0;
  const replica = async (env: Record<string, string> = {}): Promise<TestBridge> => {
    const b = await startBridge({
      DATABASE_URL: database,
      MQTT_URL: mosquitto.url,
      MQTT_SLOTS: String(slots),
      MQTT_SHARE_GROUP: group,
      MQTT_CLIENT_ID: `${group}-replica-${n++}`,
      ...env,
    });
    cleanup(() => b.stop());
    return b;
  };
  return Object.assign(replica, { database });
}

const slotsHeld = async (b: TestBridge): Promise<number[]> => ((await b.api('GET', '/readyz')).json as { slots?: number[] }).slots ?? [];

/** Waits until the replicas hold one slot each; the first serial of `prefix` whose slot `owner` holds. */
async function ownedBy(replicas: TestBridge[], owner: TestBridge, prefix: string): Promise<string> {
  await until(async () => (await Promise.all(replicas.map(slotsHeld))).every((held) => held.length === SLOTS / replicas.length));
  const held = await slotsHeld(owner);
  for (let i = 0; ; i++) if (held.includes(slotOf(`${prefix}${i}`, SLOTS))) return `${prefix}${i}`;
}

/** A terminal that answers every command at once, known online by every replica. */
async function terminal(sn: string, replicas: TestBridge[], answer: boolean): Promise<Terminal> {
  const t = await connectTerminal(mosquitto.url, sn, answer ? { answer: {} } : {});
  cleanup(() => t.stop(0));
  await t.send(heartU());
  for (const b of replicas) await until(async () => (await b.api('GET', `/api/devices/${sn}`)).json?.online === true);
  return t;
}

const counted = async (b: TestBridge, outcome: string) =>
  Number(new RegExp(`^facegate_commands_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(await b.metric('facegate_commands_total'))?.[1] ?? 0);

describe('commands across replicas', () => {
  it('pairs a reply sent at once with its command, whichever replica the reply reaches', async () => {
    // A rate no loop below reaches: a command refused 429 would say nothing of pairing.
    const replica = await site('fast');
    const publisher = await replica({ COMMAND_RATE: '100/s' });
    const other = await replica({ COMMAND_RATE: '100/s' });
    const sn = await ownedBy([publisher, other], publisher, 'FAST');
    const t = await terminal(sn, [publisher, other], true);
    // Commands with `wait` through both replicas: the publisher is the slot's holder. Mosquitto gives each message
    // under the filter to the members in turn: the command's own publish too, and a heartbeat's heartD (the filter
    // matches the downLink), so a command, its reply and a heartbeat are four. A message nobody answers makes five, odd:
    // the replies reach each replica in turn, whichever had the first. Until the other stored three. A command not
    // replied shows as its HTTP status and error.
    const statuses: string[] = [];
    for (let i = 0; i < 40 && (i < 8 || (await counted(other, 'replied')) < 3); i++) {
      const through = i % 2 === 0 ? publisher : other;
      const res = await through.api('POST', `/api/devices/${sn}/commands?wait=10s`, { cmd: 'openDoorD' });
      statuses.push(res.json?.status ?? `${res.status} ${res.json?.error}`);
      await t.send(heartU());
      await t.send({ cmd: 'noticeU' });
    }
    const holds = async (b: TestBridge) => Number(/^facegate_replies_held_total (\d+)/m.exec(await b.metric('facegate_replies_held_total'))?.[1] ?? 0);
    console.log(
      `cluster commands: ${statuses.length} commands, replies stored ${await counted(publisher, 'replied')} at the publisher and ${await counted(other, 'replied')} at the other, held ${await holds(publisher)} and ${await holds(other)} times`,
    );
    expect(statuses.filter((s) => s !== 'replied')).toEqual([]);
    // Every command was published by the holder of the terminal's slot; replies were stored by the other replica too.
    expect(await counted(publisher, 'published')).toBe(statuses.length);
    expect(await counted(other, 'replied')).toBeGreaterThanOrEqual(3);
    expect((await counted(publisher, 'replied')) + (await counted(other, 'replied'))).toBe(statuses.length);
  });

  it("fails a replica's queued commands without a ttl only once it is gone, not when another replica starts", async () => {
    // One command a minute (a burst of two): the holder keeps the rest of a fan-out queued, in order, for minutes.
    const replica = await site('gone');
    const holder = await replica({ COMMAND_RATE: '1/m' });
    const accepter = await replica({ COMMAND_RATE: '1/m' });
    const sn = await ownedBy([holder, accepter], holder, 'GONE');
    await terminal(sn, [holder, accepter], false);
    // Fanned out (paced at the holder, never refused at the accepter), one at a time: eight queued commands, no ttl.
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const fanned = await accepter.api('POST', '/api/commands', { devices: [sn], command: { cmd: 'setConfigD', n: i } });
      expect(fanned.json.items).toMatchObject([{ status: 'queued' }]);
      ids.push(fanned.json.items[0].id);
    }
    const status = async (id: string) => (await holder.api('GET', `/api/commands/${id}`)).json?.status as string;
    // The burst goes out; the rest wait for their turn at the holder, no ttl, accepted by the other replica.
    await until(async () => (await Promise.all(ids.map(status))).filter((s) => s === 'published').length === 2);
    // A third replica starts (its start fails what dead processes left queued): the live replica's are not that.
    await replica({ COMMAND_RATE: '1/m' });
    const afterStart = await Promise.all(ids.map((id) => holder.api('GET', `/api/commands/${id}`)));
    expect(afterStart.filter((r) => r.json.error === 'interrupted')).toEqual([]);
    expect(afterStart.filter((r) => r.json.status === 'queued').length).toBeGreaterThan(0);
    // The accepting replica goes: what it accepted and nobody sent yet is never sent late.
    await accepter.stop();
    await until(async () => (await Promise.all(ids.map(status))).every((s) => s !== 'queued'));
    const after = await Promise.all(ids.map((id) => holder.api('GET', `/api/commands/${id}`)));
    const interrupted = after.filter((r) => r.json.status === 'failed' && r.json.error === 'interrupted');
    expect(interrupted.length).toBeGreaterThan(0);
    expect(interrupted.length + after.filter((r) => r.json.status === 'published').length).toBe(ids.length);
  });
});

describe('presence across replicas', () => {
  it('reads the flips it was not told while its notifications connection was down, once it listens again', async () => {
    // One slot: the first replica hears every terminal, the second only what it is told (or reads).
    const replica = await site('told', 1);
    const hearing = await replica();
    const told = await replica();
    await until(async () => (await slotsHeld(hearing)).length === 1);
    expect(await slotsHeld(told)).toEqual([]);
    // The second replica's notifications connection is the newest: cut, and gone before the terminal speaks.
    const db = new pg.Client({ connectionString: replica.database });
    await db.connect();
    cleanup(() => db.end());
    const listening = "select pid from pg_stat_activity where application_name like 'facegate-wake-%' and datname = current_database()";
    const [{ pid }] = (await db.query<{ pid: number }>(`${listening} order by backend_start desc limit 1`)).rows;
    await db.query('select pg_terminate_backend($1)', [pid]);
    await until(async () => !(await db.query(listening)).rows.some((row) => row.pid === pid));
    const t = await connectTerminal(mosquitto.url, 'TOLD1');
    cleanup(() => t.stop(0));
    await t.send(heartU());
    await until(async () => (await hearing.api('GET', '/api/devices/TOLD1')).json?.online === true);
    // Told to nobody there (the notification went while it did not listen): read once it listens again.
    await until(async () => (await told.api('GET', '/api/devices/TOLD1')).json?.online === true);
    expect(await told.metric('facegate_terminals_online')).toMatch(/^facegate_terminals_online 1$/m);
  });
});
