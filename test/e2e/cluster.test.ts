import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from '../../src/kit/cli.ts';
import { startMosquitto } from '../../src/kit/mosquitto.ts';
import { freePort } from '../../src/kit/ports.ts';
import { startPostgres } from '../../src/kit/postgres.ts';
import { heartU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { connectLoad } from '../support/load.ts';
import { startReceiver } from '../support/receiver.ts';

// README §Running several replicas: three replicas (the compiled CLI) on one
// PostgreSQL and one Mosquitto, 2,000 records from 10 terminals, one replica
// SIGKILLed in the middle and PostgreSQL restarted: every record delivered
// under one webhook-id (duplicates counted), one device.online per terminal,
// and a command's `wait` answered whichever replica its reply reaches.

const RECORDS = 2000;
const TERMINALS = 10;
const SLOTS = 6;
const TOKEN = 'cluster-test-token-0001';
const SCHEDULE = Array.from({ length: 60 }, () => '1s').join(',');
const cleanup = cleanupAfterEach();

interface Replica {
  cli: CliProcess;
  port: number;
}

async function readySlots(port: number): Promise<number[] | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = (await res.json()) as { slots?: number[] };
    return res.ok ? (body.slots ?? []) : undefined;
  } catch {
    return undefined;
  }
}

describe('cluster', () => {
  it('three replicas lose nothing through a SIGKILL and a PostgreSQL restart, and answer a wait wherever the reply arrives', async () => {
    const postgres = await startPostgres({ fsync: 'off' });
    cleanup(() => postgres.dispose());
    const databaseUrl = await postgres.database('cluster');
    const mosquitto = await startMosquitto();
    cleanup(() => mosquitto.dispose());
    const receiver = await startReceiver();
    cleanup(() => receiver.close().catch(() => {}));

    const replicas: Replica[] = [];
    for (let i = 0; i < 3; i++) {
      const dataDir = makeTempDir(`facegate-cluster-${i}-`);
      cleanup(() => removeTempDir(dataDir));
      const port = await freePort();
      const cli = await startCli({
        DATA_DIR: dataDir,
        PORT: String(port),
        ADMIN_TOKEN: TOKEN,
        DATABASE_URL: databaseUrl,
        MQTT_URL: mosquitto.url,
        MQTT_CLIENT_ID: `cluster-replica-${i}`,
        MQTT_SLOTS: String(SLOTS),
        WEBHOOK_URL: receiver.url,
        DELIVERY_SCHEDULE: SCHEDULE,
        DELIVERY_TIMEOUT: '5s',
      });
      cleanup(() => cli.kill('SIGKILL'));
      replicas.push({ cli, port });
    }
    // Every slot held, by some replica.
    const allHeld = async (live: Replica[]) => {
      const held = (await Promise.all(live.map((r) => readySlots(r.port)))).flatMap((s) => s ?? []);
      return new Set(held).size === SLOTS;
    };
    await until(() => allHeld(replicas));

    const distinct = () => new Set(receiver.requests.map((q) => q.headers['webhook-id'])).size;
    const load = await connectLoad(mosquitto.url, TERMINALS, 'CLU');
    cleanup(() => load.end());
    const publishing = load.publish(RECORDS);

    // A replica killed in the middle; its slots taken over by the others.
    await until(() => distinct() >= RECORDS / 4);
    const [victim, ...survivors] = replicas;
    const killedAt = performance.now();
    await victim.cli.kill('SIGKILL');
    await until(() => allHeld(survivors));
    console.log(`cluster test: the dead replica's slots taken over in ${Math.round(performance.now() - killedAt)} ms`);

    // PostgreSQL restarted while the stream goes on.
    await until(() => distinct() >= RECORDS / 2);
    await postgres.stop();
    await postgres.start();

    await publishing;
    await until(() => distinct() >= RECORDS);
    const ids = new Set(receiver.requests.map((q) => q.headers['webhook-id']));
    expect(ids.size).toBe(RECORDS);
    // None under two ids: each record's event id is delivered once, whatever the duplicates.
    const byRecord = new Map<string, Set<string>>();
    for (const q of receiver.requests) {
      const body = JSON.parse(q.body) as { device_sn: string; user_id: string; bot_time: string };
      const key = `${body.device_sn} ${body.user_id} ${body.bot_time}`;
      if (!byRecord.has(key)) byRecord.set(key, new Set());
      byRecord.get(key)!.add(String(q.headers['webhook-id']));
    }
    expect([...byRecord.values()].filter((s) => s.size > 1)).toEqual([]);
    console.log(`cluster test: ${RECORDS} records, ${ids.size} distinct webhook-ids, ${receiver.requests.length - ids.size} duplicates`);

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    cleanup(() => db.end());
    const online = await db.query<{ device_sn: string; n: string }>(
      "select device_sn, count(*) as n from events where type = 'device.online' and device_sn like 'CLU%' group by device_sn",
    );
    expect(online.rows.length).toBe(TERMINALS);
    expect(online.rows.filter((r) => Number(r.n) !== 1)).toEqual([]);

    // A command's wait, through each survivor in turn: Mosquitto gives the messages under the filter to the members
    // (the six slots) in turn, so some replies reach another replica than the publisher. Once the slots are shared out
    // again: after the restart, the first replica back took them all, and gives the others' share back one a second.
    await until(async () => (await Promise.all(survivors.map((r) => readySlots(r.port)))).every((held) => held?.length === SLOTS / 2));
    // It answers at once (README §Running several replicas: a reply faster than the record of its publish is held for it, and paired).
    const terminal = await connectTerminal(mosquitto.url, 'CLUCMD', { answer: {} });
    cleanup(() => terminal.end());
    await terminal.send(heartU());
    const auth = { authorization: `Bearer ${TOKEN}` };
    // Heard by one replica, known online by every one (the flip is told).
    for (const replica of survivors)
      await until(async () => {
        const res = await fetch(`http://127.0.0.1:${replica.port}/api/devices/CLUCMD`, { headers: auth });
        return res.ok && ((await res.json()) as { online?: boolean }).online === true;
      });
    // Replies stored by each survivor (each counts those it stored; the publisher is the holder of the terminal's slot).
    const repliesStored = () =>
      Promise.all(
        survivors.map(async (r) => {
          const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
          return Number(/^facegate_commands_total\{outcome="replied"\} (\d+)/m.exec(text)?.[1] ?? 0);
        }),
      );
    // Until both survivors stored replies (some reached another replica than the publisher), 8 commands at least, 24 at most.
    let sent = 0;
    while (sent < 8 || (sent < 24 && (await repliesStored()).some((n) => n === 0))) {
      const replica = survivors[sent++ % survivors.length];
      const res = await fetch(`http://127.0.0.1:${replica.port}/api/devices/CLUCMD/commands?ttl=30s&wait=10s`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ cmd: 'openDoorD' }),
      });
      const answer = (await res.json()) as { status?: string };
      expect(answer, JSON.stringify(answer)).toMatchObject({ status: 'replied' });
      // The filter matches the downLink too: the command's own publish, its reply, a heartbeat and its heartD are four.
      // A message nobody answers makes five, prime to the six members: the replies go round every slot.
      await terminal.send(heartU());
      await terminal.send({ cmd: 'noticeU' });
    }
    const stored = await repliesStored();
    console.log(`cluster test: ${sent} commands answered at once, replies stored per survivor ${stored.join(', ')}`);
    expect(stored.every((n) => n > 0)).toBe(true);
    expect(stored.reduce((a, b) => a + b, 0)).toBe(sent);
  }, 240_000);
});
