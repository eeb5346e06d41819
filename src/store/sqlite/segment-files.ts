import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Face images live apart from the database, appended to segment files in the
// data dir (README §What survives what): an image is written once, where the
// database wrote it twice (the WAL, then the checkpoint's copy), and the rows
// say where each one is (schema.ts, images). This module owns the layout:
// where the segments are, their names and how big one grows.

/**
 * A segment is closed at the end of its UTC day, or once the next image
 * would take it past SEGMENT_BYTES, whichever comes first. A segment is
 * unlinked whole once no row refers to it: a day's images are purged
 * together (RETENTION_DAYS), so a segment per day lets their bytes go with
 * their rows, and a busy day is cut in files of a bounded size. An image
 * larger than SEGMENT_BYTES (MAX_PAYLOAD allows it) is a segment of its own.
 */
export const SEGMENT_BYTES = 64 * 1024 * 1024;

const NAME = /^(\d{10})\.seg$/;

export function segmentDir(dataDir: string): string {
  return join(dataDir, 'images');
}

export function segmentPath(dataDir: string, segment: number): string {
  return join(segmentDir(dataDir), `${String(segment).padStart(10, '0')}.seg`);
}

/** The segments there are, in order; none when the directory is not there yet. */
export function listSegments(dataDir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(segmentDir(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((name) => NAME.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** What the segments take on disk, together: `facegate doctor` reports it beside the database's size. */
export function segmentsSize(dataDir: string): { segments: number; bytes: number } {
  const segments = listSegments(dataDir);
  let bytes = 0;
  for (const segment of segments) {
    try {
      bytes += statSync(segmentPath(dataDir, segment)).size;
    } catch {
      // Unlinked by retention meanwhile.
    }
  }
  return { segments: segments.length, bytes };
}

/** Where an image's bytes are. */
export interface SegmentRef {
  segment: number;
  position: number;
  length: number;
}

/**
 * An image's bytes as read, or undefined when they are not an image any more:
 * the stored text never holds a NUL (it is JSON string content), so one in
 * it means zeros, an erased image or a torn disk (README §What survives what).
 */
export const intact = (bytes: Buffer): Buffer | undefined => (bytes.includes(0) ? undefined : bytes);
