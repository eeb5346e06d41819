import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { connectTerminal, type TestTerminal, verifiedRecord } from '../support/terminal.ts';
import { until } from '../support/until.ts';

// A real full disk: the data dir on a 6 MB tmpfs (CI runs as root, which may mount one).
let mountpoint: string | undefined;
let bridge: TestBridge | undefined;
let terminals: TestTerminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  // The data dir is the mount point: it goes with the umount below.
  await bridge?.stop({ keepData: true });
  bridge = undefined;
  if (mountpoint) {
    execFileSync('umount', [mountpoint]);
    rmSync(mountpoint, { recursive: true, force: true });
    mountpoint = undefined;
  }
});

/** Fills the filesystem to the last byte; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  for (;;) {
    try {
      writeFileSync(filler, chunk, { flag: size === 0 ? 'w' : 'a' });
      size += chunk.length;
    } catch {
      break;
    }
  }
  // Top off what a 64 KB chunk could not take.
  for (const bytes of [4096, 512, 1]) {
    try {
      for (;;) writeFileSync(filler, Buffer.alloc(bytes, 1), { flag: 'a' });
    } catch {
      // full at this grain
    }
  }
  return filler;
}

it('stops acknowledging while the disk is full, keeps answering heartbeats, and recovers by itself', async () => {
  mountpoint = mkdtempSync(join(tmpdir(), 'facegate-tiny-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountpoint]);
  const b = await startBridge({}, mountpoint);
  bridge = b;
  const door = await connectTerminal(b.brokerUrl, 'FULL1', { reconnectPeriod: 100 });
  const other = await connectTerminal(b.brokerUrl, 'FULL2');
  terminals.push(door, other);
  await door.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'before' })] });
  expect((await b.api('GET', '/readyz')).status).toBe(200);

  const filler = fill(mountpoint);
  let acknowledged = false;
  const record = door.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'during', liveImageBase64: 'A'.repeat(300_000) })] }).then(() => (acknowledged = true));
  await until(async () => (await b.api('GET', '/readyz')).status === 503);
  expect(acknowledged).toBe(false);
  // Heartbeats need no disk.
  const reply = other.next((m) => m.cmd === 'heartD');
  await other.send({ cmd: 'heartU' });
  expect((await reply).cmd).toBe('heartD');

  // Space again: the terminal's retransmission is stored, once, and the bridge is ready again.
  unlinkSync(filler);
  await record;
  await until(async () => (await b.api('GET', '/readyz')).status === 200);
  expect(b.count('events', "type = 'face.verified'")).toBe(2);
  expect(b.count('events', `type = 'face.verified' and json_extract(fields, '$.num') = 'during'`)).toBe(1);
});
