import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import type { Job } from '../../src/store/jobs.ts';
import { databasePath } from '../../src/store/open.ts';
import { startWriter, type Writer } from '../../src/store/writer.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';
import { verifiedRecord } from '../support/terminal.ts';

// The writer thread under jobs that fail: one bad job must not take its
// batch with it (README §What survives what).

const cleanup = cleanupAfterEach();

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'facegate-writer-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The real writer thread on a fresh database, its log lines kept. */
async function writerIn(dataDir: string) {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const fatal: Error[] = [];
  const writer: Writer = await startWriter(
    { dataDir, sync: 'full', forward: 'passed', images: 'inline', maxRecords: 1000 },
    { log: createLogger('info', stream), onFatal: (err) => fatal.push(err), rejectsNotKept: () => {} },
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
const command = (id: string): Job => ({ kind: 'command', id, sn: 'W1', body: '{"cmd":"openDoorD"}', status: 'published', error: null, at: Date.now() });

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
