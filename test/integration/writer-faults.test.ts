import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { contentId } from '../../src/events/ids.ts';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { createLogger } from '../../src/lib/log.ts';
import { databasePath } from '../../src/store/sqlite/open.ts';
import { startWriter, type Writer } from '../../src/store/sqlite/writer.ts';
import type { Job } from '../../src/store/store.ts';
import { Unprocessable } from '../../src/store/store.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// The writer thread under jobs that fail or kill it: one bad job must not
// take its batch with it, and a message that ends the thread must not end
// the bridge nor come back after a restart (README §What survives what).
// Running a thread out of memory takes a few seconds of collections each time.
const OUT_OF_MEMORY_TIMEOUT = 120_000;

const cleanup = cleanupAfterEach();

function tempDir(): string {
  const dir = makeTempDir('facegate-writer-');
  cleanup(() => removeTempDir(dir));
  return dir;
}

/** The real writer thread on a fresh database, its log lines kept. */
async function writerIn(dataDir: string, { heapMb }: { heapMb?: number } = {}) {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const fatal: Error[] = [];
  const writer: Writer = await startWriter(
    { dataDir, sync: 'full', forward: 'passed', images: 'inline', maxRecords: 1000, replyWindowMs: 30_000 },
    { log: createLogger('info', stream), onFatal: (err) => fatal.push(err), heapMb },
  );
  cleanup(() => writer.stop());
  return { writer, lines, fatal };
}

const uplink = (sn: string, message: object | string): Job => ({
  kind: 'uplink',
  sn,
  topic: `fungxi_${sn}_upLink`,
  payload: Buffer.from(typeof message === 'string' ? message : JSON.stringify(message)),
  receivedAt: Date.now(),
});
const command = (id: string): Job => ({
  kind: 'commands',
  actor: null,
  at: Date.now(),
  cmd: 'openDoorD',
  body: '{"cmd":"openDoorD"}',
  expiresAt: null,
  batch: null,
  rows: [{ id, sn: 'W1', status: 'queued', error: null }],
});

/** A device message of ~7.4 MB of empty arrays: decoding it takes well over 64 MB of heap. */
const heapEater = () => `{"cmd":"bigU","x":[${'[],'.repeat(2_600_000)}[]]}`;

it('commits the good jobs of a batch that holds a failing one, and fails that one alone', async () => {
  const dataDir = tempDir();
  const { writer } = await writerIn(dataDir);
  // Written in one turn of the event loop, they form one batch; the second
  // command breaks the primary key of the first.
  const settled = await Promise.allSettled([
    writer.write(command('cmd_same')),
    writer.write(uplink('W1', { cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '1' })] })),
    writer.write(command('cmd_same')),
    writer.write(uplink('W1', { cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '2' })] })),
  ]);

  expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed: commands\.id/);
  expect((settled[1] as PromiseFulfilledResult<any>).value.events).toHaveLength(1);
  const db = new Database(databasePath(dataDir), { readonly: true });
  cleanup(() => db.close());
  expect(db.prepare('select count(*) as n from commands').get()).toEqual({ n: 1 });
  expect(db.prepare("select count(*) as n from events where type = 'face.verified'").get()).toEqual({ n: 2 });
  expect(writer.healthy).toBe(true);
});

it('commits every payload intact when they are more than its shared memory holds (payload-ring.ts): the rest in buffers of their own', async () => {
  const { writer } = await writerIn(tempDir());
  // 40 records of ~1 MB written in one turn: batches of 8 MB, the ring holds two, and goes round.
  const records = Array.from({ length: 40 }, (_, i) =>
    verifiedRecord({ num: String(i), liveImageBase64: String.fromCharCode(65 + (i % 26)).repeat(1_000_000 + i) }),
  );
  const results = await Promise.all(records.map((record) => writer.write(uplink('W1', { cmd: 'verifiedRecordU', data: [record] }))));
  // An event's id hashes every byte of its record: the thread read each payload as it was written.
  const ids = results.map((result) => (result as { events: { id: string }[] }).events.map((event) => event.id));
  expect(ids).toEqual(records.map(({ liveImageBase64, ...rest }) => [contentId('W1', rest, Buffer.from(liveImageBase64 as string))]));
});

it(
  'fails a job that kills the writer thread on its own as unprocessable, never to be tried again, and commits the rest of its batch',
  async () => {
    const dataDir = tempDir();
    const { writer, lines, fatal } = await writerIn(dataDir, { heapMb: 64 });
    const poison = heapEater();
    const settled = await Promise.allSettled([
      writer.write(uplink('W1', { cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '1' })] })),
      writer.write(uplink('POISON', poison)),
      writer.write(uplink('W1', { cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '2' })] })),
    ]);

    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // What ingest keeps as the reject that stands for it: the detail, its first 2 KB and its size.
    const failure = (settled[1] as PromiseRejectedResult).reason;
    expect(failure).toBeInstanceOf(Unprocessable);
    expect(failure).toMatchObject({ detail: 'applying it ran the database writer thread out of memory (heap limit 64 MB)', size: poison.length });
    expect(Buffer.from(failure.sample).toString()).toBe(poison.slice(0, 2048));
    const db = new Database(databasePath(dataDir), { readonly: true });
    cleanup(() => db.close());
    expect(db.prepare('select count(*) as n from rejects').get()).toEqual({ n: 0 });
    expect(db.prepare("select count(*) as n from events where type = 'face.verified'").get()).toEqual({ n: 2 });
    expect(fatal).toEqual([]);
    expect(writer.healthy).toBe(true);
    // The batch's death, then the job's own: each logged, and the poison named by serial and size, never by content.
    expect(lines.filter((line) => line.includes('database writer thread died')).length).toBe(2);
    const [kept] = lines.filter((line) => line.includes('unprocessable')).map((line) => JSON.parse(line));
    expect(kept).toMatchObject({ sn: 'POISON', bytes: poison.length });
    expect(lines.join('\n')).not.toContain('[],[],[],[]');
    // Each start names its thread as the operating system does (top -H, the bench's CPU per thread): three threads, the last one running.
    const started = lines.filter((line) => line.includes('database writer thread started')).map((line) => JSON.parse(line).thread);
    expect(started).toHaveLength(3);
    expect(new Set(started).size).toBe(3);
    expect(existsSync(`/proc/${process.pid}/task/${started[2]}`)).toBe(true);
  },
  OUT_OF_MEMORY_TIMEOUT,
);

it(
  'gives up, as before, when the thread keeps dying without committing anything',
  async () => {
    const dataDir = tempDir();
    const { writer, fatal } = await writerIn(dataDir, { heapMb: 64 });
    // The database can no longer be opened: every new thread dies at its start.
    renameSync(databasePath(dataDir), join(dataDir, 'moved.db'));
    mkdirSync(databasePath(dataDir));
    // The message that ends the running thread fails at once as unprocessable;
    // the reject that ingest then writes for it waits for a thread that never starts.
    const write = writer.write(uplink('W1', heapEater()));
    await expect(write).rejects.toBeInstanceOf(Unprocessable);
    const next = writer.write(command('cmd_after'));
    await expect(next).rejects.toThrow(/database writer thread died 11 times within a minute without writing anything/);
    expect(fatal).toHaveLength(1);
    expect(writer.healthy).toBe(false);
  },
  OUT_OF_MEMORY_TIMEOUT,
);

it(
  'keeps serving when a message runs the writer thread out of memory; the message is acknowledged, kept as unprocessable, and does not come back after a restart',
  async () => {
    const brokerPort = String(await freePort());
    const env = { BROKER_PORT: brokerPort };
    let bridge: TestBridge | undefined;
    cleanup(() => bridge?.stop());
    let b = (bridge = await startBridge(env, undefined, { writerHeapMb: 64 }));
    const dataDir = b.dataDir;
    const terminals: Terminal[] = [];
    cleanup(() => Promise.all(terminals.map((t) => t.client.endAsync(true))));
    const poisoner = await connectTerminal(b.brokerUrl, 'POISON1', { reconnectPeriod: 100, clean: false });
    const other = await connectTerminal(b.brokerUrl, 'OTHER1', { reconnectPeriod: 100 });
    terminals.push(poisoner, other);
    const poison = heapEater();

    // Each send resolves on its PUBACK: a terminal would send again whatever was not acknowledged.
    await Promise.all([
      poisoner.send(poison),
      ...Array.from({ length: 30 }, (_, i) => other.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `b${i}` })] })),
    ]);

    expect(b.count('events', "device_sn = 'OTHER1' and type = 'face.verified'")).toBe(30);
    expect(b.count('events', "device_sn = 'POISON1' and type = 'device.message'")).toBe(0);
    expect(b.db().prepare('select reason, detail, device_sn, size, sample from rejects').all()).toEqual([
      {
        reason: 'unprocessable',
        detail: 'applying it ran the database writer thread out of memory (heap limit 64 MB)',
        device_sn: 'POISON1',
        size: poison.length,
        sample: poison.slice(0, 2048),
      },
    ]);
    expect(await b.metric('facegate_messages_rejected_total')).toContain('reason="unprocessable"} 1');
    expect((await b.api('GET', '/healthz')).status).toBe(200);
    await until(async () => (await b.api('GET', '/readyz')).status === 200);
    const reply = other.next((m) => m.cmd === 'heartD');
    await other.send({ cmd: 'heartU' });
    await reply;

    await b.stop({ keepData: true });
    b = bridge = await startBridge(env, dataDir, { writerHeapMb: 64 });
    // Each terminal reconnects by itself; MQTT.js sends what was not acknowledged
    // before anything new, so once a new message of each is acknowledged,
    // anything owed would have come back.
    await poisoner.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'a-after' })] });
    await other.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'b-after' })] });
    expect(b.count('rejects')).toBe(1);
    expect(b.logLines.filter((line) => line.includes('database writer thread died'))).toEqual([]);
    expect(b.count('events', "device_sn = 'POISON1' and type = 'face.verified'")).toBe(1);
    expect(b.count('events', "device_sn = 'OTHER1' and type = 'face.verified'")).toBe(31);
  },
  OUT_OF_MEMORY_TIMEOUT,
);
