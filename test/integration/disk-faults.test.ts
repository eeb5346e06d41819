import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { freePort } from '../../src/kit/ports.ts';
import { verifiedRecord } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectTerminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// SQLite made unable to write for real: a full filesystem, one the kernel
// turned read-only, a write lock held by another connection. The tests mount
// filesystems, so they run as root (CI does).

// Undone after each test in reverse order, failed or not: so the fault ends
// before the bridge stops, and the bridge stops before its filesystem goes.
const cleanup = cleanupAfterEach();

function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  cleanup(() => removeTempDir(dir));
  return dir;
}

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

/**
 * Begins the fault with a record on its way, and checks that while it lasts
 * the record is not acknowledged, /readyz says 503 and another terminal's
 * heartbeat is answered. Returns the record's acknowledgement still to come
 * (wrapped: an async function would otherwise wait for it).
 */
async function underFault(bridge: TestBridge, serial: string, begin: () => void): Promise<{ acknowledgement: Promise<unknown> }> {
  const door = await connectTerminal(bridge.brokerUrl, `${serial}1`, { reconnectPeriod: 100 });
  const other = await connectTerminal(bridge.brokerUrl, `${serial}2`);
  cleanup(() => Promise.all([door.client.endAsync(true), other.client.endAsync(true)]));
  await door.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'before' })] });
  expect((await bridge.api('GET', '/readyz')).status).toBe(200);

  begin();
  let acknowledged = false;
  // Far more than the bytes a full disk has left.
  const record = door
    .send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: 'during', liveImageBase64: 'A'.repeat(300_000) })] })
    .then(() => (acknowledged = true));
  await until(async () => (await bridge.api('GET', '/readyz')).status === 503);
  // Heartbeats need no disk.
  const reply = other.next();
  await other.send({ cmd: 'heartU' });
  expect((await reply).cmd).toBe('heartD');
  expect(acknowledged).toBe(false);
  return { acknowledgement: record };
}

/** Once the fault is gone, the terminal's retransmission alone stores the record, once, and /readyz is 200 again. */
async function recovers(bridge: TestBridge, fault: string, { acknowledgement }: { acknowledgement: Promise<unknown> }, since: number) {
  await acknowledgement;
  await until(async () => (await bridge.api('GET', '/readyz')).status === 200);
  console.log(`disk-faults: ${fault} recovered in ${Math.round(performance.now() - since)} ms`);
  expect(bridge.count('events', "type = 'face.verified'")).toBe(2);
  expect(bridge.count('events', `type = 'face.verified' and json_extract(fields, '$.num') = 'during'`)).toBe(1);
}

it('holds records while the disk is full, and recovers by itself once there is space', async () => {
  const dir = tempDir('facegate-tiny-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
  cleanup(() => execFileSync('umount', [dir]));
  const bridge = await startBridge({}, dir);
  // The data dir is the mount point: it goes with the umount.
  cleanup(() => bridge.stop({ keepData: true }));

  let filler = '';
  cleanup(() => filler && rmSync(filler, { force: true }));
  const record = await underFault(bridge, 'FULL', () => (filler = fill(dir)));
  const since = performance.now();
  rmSync(filler);
  await recovers(bridge, 'disk full', record, since);
});

it('holds records while another connection keeps the database locked past the busy timeout, and recovers by itself once it lets go', async () => {
  const bridge = await startBridge();
  cleanup(() => bridge.stop());
  const locker = new Database(join(bridge.dataDir, 'facegate.db'));
  // Closing ends its transaction.
  cleanup(() => locker.close());

  const record = await underFault(bridge, 'LOCK', () => locker.exec('BEGIN IMMEDIATE'));
  const since = performance.now();
  locker.exec('ROLLBACK');
  await recovers(bridge, 'locked', record, since);
});

// Linux refuses `mount -o remount,ro` while any file on the filesystem is
// open for writing ("mount point is busy"), and the bridge always holds its
// database so. What does turn a filesystem read-only under a running process
// is the kernel itself after a filesystem error (ext4's errors=remount-ro,
// here triggered through sysfs). That state ends only with an unmount, which
// needs every file closed: recovering from it takes a restart, not just time.
it('holds records while the kernel has turned the filesystem read-only, and takes them once restarted on the repaired filesystem', async () => {
  const image = join(tempDir('facegate-image-'), 'fs.img');
  writeFileSync(image, '');
  truncateSync(image, 32 * 1024 * 1024);
  execFileSync('mkfs.ext4', ['-q', image]);
  const device = execFileSync('losetup', ['--find', '--show', image]).toString().trim();
  cleanup(() => execFileSync('losetup', ['-d', device]));
  const dir = tempDir('facegate-ext4-');
  let mounted = false;
  const mount = () => {
    execFileSync('mount', ['-o', 'errors=remount-ro', device, dir]);
    mounted = true;
  };
  const unmount = () => {
    execFileSync('umount', [dir]);
    mounted = false;
  };
  mount();
  cleanup(() => mounted && unmount());
  const port = await freePort();
  let bridge = await startBridge({ BROKER_PORT: String(port) }, dir);
  cleanup(() => bridge.stop({ keepData: true }));

  const record = await underFault(bridge, 'RO', () => writeFileSync(`/sys/fs/ext4/${basename(device)}/trigger_fs_error`, 'facegate test'));
  await bridge.stop({ keepData: true });
  unmount();
  // 0: clean, 1: errors corrected (the error the trigger recorded).
  expect(spawnSync('e2fsck', ['-fy', device]).status).toBeLessThanOrEqual(1);
  mount();
  const since = performance.now();
  bridge = await startBridge({ BROKER_PORT: String(port) }, dir);
  await recovers(bridge, 'read-only (restart included)', record, since);
});
