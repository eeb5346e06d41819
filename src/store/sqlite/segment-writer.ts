import { closeSync, constants, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import type { Sync } from './open.ts';
import { listSegments, SEGMENT_BYTES, type SegmentRef, segmentDir, segmentPath } from './segment-files.ts';

// The writer thread's half of the image segments (segment-files.ts): it
// appends a transaction's images to the newest segment and writes them out
// before that transaction's COMMIT, so a committed row always points at bytes
// that are on disk as durably as the row (README §What survives what).

/** Zeros written over an erased image, this many at a time. */
const ZEROS = Buffer.alloc(64 * 1024);

export interface SegmentWriter {
  /** Where `bytes` will be once flushed: the caller records it in the same transaction. */
  append(bytes: Uint8Array): SegmentRef;
  /**
   * Writes what was appended since the last flush, and with SQLITE_SYNC=full
   * syncs it: called inside the transaction, just before its COMMIT. Returns
   * the bytes written.
   */
  flush(): number;
  /** The transaction failed before its flush: what it appended is forgotten (its offsets are given again). */
  discard(): void;
  /** Syncs the newest segment: with SQLITE_SYNC=normal, before each checkpoint, which makes the WAL's commits durable. */
  sync(): void;
  /** Overwrites images with zeros and syncs them, whatever SQLITE_SYNC says (README §People on the terminals, erase). */
  zero(refs: SegmentRef[]): void;
  /**
   * Unlinks every segment but the newest that no row refers to: `referenced`
   * lists those that a row does. Called after a commit only: a rolled-back
   * deletion must find its images.
   */
  unlinkUnreferenced(referenced: ReadonlySet<number>): number;
  close(): void;
}

const utcDay = (ms: number) => Math.floor(ms / 86_400_000);

/** `segmentBytes`: SEGMENT_BYTES, unless a test makes it small. */
export function openSegmentWriter(dataDir: string, sync: Sync, segmentBytes = SEGMENT_BYTES): SegmentWriter {
  mkdirSync(segmentDir(dataDir), { recursive: true, mode: 0o700 });
  /** The segment appended to: the newest there is, after whatever a crash left past its last referenced image (unreferenced, harmless). */
  let current = listSegments(dataDir).at(-1) ?? 1;
  let fd = open(current);
  let end = fstatSync(fd).size;
  /** The UTC day the segment was last written on: at the next one, a new segment starts. */
  let day = utcDay(end > 0 ? fstatSync(fd).mtimeMs : Date.now());
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** Bytes written to the newest segment since it was last synced. */
  let unsynced = false;

  function open(segment: number): number {
    // Face images: for the service's user alone, as the database is.
    const opened = openSync(segmentPath(dataDir, segment), constants.O_RDWR | constants.O_CREAT, 0o600);
    // A new file's name is durable only once its directory is synced.
    if (sync === 'full') syncDir();
    return opened;
  }

  function syncDir() {
    const dir = openSync(segmentDir(dataDir), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  function write(): number {
    if (pendingBytes === 0) return 0;
    let at = end;
    let rest = pending;
    // writev may write less than asked (a signal, a full disk): go on from where it stopped.
    while (rest.length > 0) {
      const written = writevSync(fd, rest, at);
      if (written === 0) throw new Error('image segment: nothing written');
      at += written;
      let skip = written;
      const left: Uint8Array[] = [];
      for (const buf of rest) {
        if (skip >= buf.length) skip -= buf.length;
        else {
          left.push(skip > 0 ? buf.subarray(skip) : buf);
          skip = 0;
        }
      }
      rest = left;
    }
    const bytes = pendingBytes;
    unsynced = true;
    end = at;
    pending = [];
    pendingBytes = 0;
    return bytes;
  }

  /** A new segment: what the current one has waiting goes out first (before its COMMIT still: unreferenced if that fails). */
  function rotate() {
    write();
    // Whatever SQLITE_SYNC says: sync() before a checkpoint reaches the newest segment only. Once a day, or per 64 MB.
    syncNow();
    closeSync(fd);
    current += 1;
    fd = open(current);
    end = 0;
  }

  function syncNow() {
    if (!unsynced) return;
    fdatasyncSync(fd);
    unsynced = false;
  }

  return {
    append(bytes) {
      const filled = end + pendingBytes;
      const today = utcDay(Date.now());
      if (filled > 0 && (filled + bytes.length > segmentBytes || today !== day)) rotate();
      day = today;
      const ref = { segment: current, position: end + pendingBytes, length: bytes.length };
      pending.push(bytes);
      pendingBytes += bytes.length;
      return ref;
    },
    flush() {
      const bytes = write();
      // Also what an erasure in this transaction wrote out early (zero()).
      if (sync === 'full') syncNow();
      return bytes;
    },
    discard() {
      pending = [];
      pendingBytes = 0;
    },
    sync: syncNow,
    zero(refs) {
      // An image appended by this very transaction is written first, so that it is overwritten too.
      write();
      const bySegment = new Map<number, SegmentRef[]>();
      for (const ref of refs) bySegment.set(ref.segment, [...(bySegment.get(ref.segment) ?? []), ref]);
      for (const [segment, ofSegment] of bySegment) {
        let target: number;
        try {
          target = segment === current ? fd : openSync(segmentPath(dataDir, segment), constants.O_RDWR);
        } catch (err) {
          // Gone already: nothing of it is left to overwrite.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        try {
          const size = fstatSync(target).size;
          for (const { position, length } of ofSegment) {
            // Never past the end: a torn segment is not grown by its erasure.
            const stop = Math.min(position + length, size);
            for (let at = position; at < stop; ) at += writeSync(target, ZEROS, 0, Math.min(ZEROS.length, stop - at), at);
          }
          fdatasyncSync(target);
          if (target === fd) unsynced = false;
        } finally {
          if (target !== fd) closeSync(target);
        }
      }
    },
    unlinkUnreferenced(referenced) {
      let unlinked = 0;
      for (const segment of listSegments(dataDir)) {
        if (segment >= current || referenced.has(segment)) continue;
        try {
          unlinkSync(segmentPath(dataDir, segment));
          unlinked += 1;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      return unlinked;
    },
    close() {
      closeSync(fd);
    },
  };
}
