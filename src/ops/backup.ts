import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { databasePath } from '../store/sqlite/open.ts';
import { intact, type SegmentRef, segmentDir, segmentPath } from '../store/sqlite/segment-files.ts';

// README §Backup and restore: `facegate backup FILE` copies the store while
// the bridge runs; `facegate restore FILE` puts a copy back while none does.

/** What a copy holds, read back from it: the proof that it is whole. */
export interface CopyReport {
  file: string;
  bytes: number;
  events: number;
  deliveries: number;
  commands: number;
}

/** Something the operator must fix, in one line; the CLI exits 1 with it. */
export class CopyRefused extends Error {}

/**
 * Opens a copy read-only and checks it is a whole facegate store: SQLite's
 * integrity check passes and the store's tables are there. Counts what it holds.
 */
function verify(file: string): CopyReport {
  let copy: Database.Database;
  try {
    copy = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CopyRefused(`${file} cannot be opened as a database: ${(err as Error).message}`);
  }
  try {
    const integrity = copy.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new CopyRefused(`${file} is damaged: ${String(integrity)}`);
    const tables = new Set((copy.prepare(`select name from sqlite_master where type = 'table'`).all() as { name: string }[]).map((row) => row.name));
    for (const table of ['__drizzle_migrations', 'events', 'deliveries', 'commands', 'endpoints'])
      if (!tables.has(table)) throw new CopyRefused(`${file} is not a facegate store: it has no ${table} table`);
    // A copy of facegate.db itself (not `facegate backup`'s) points at segments it does not hold.
    const columns = copy.prepare(`select name from pragma_table_info('images')`).all() as { name: string }[];
    if (columns.some((column) => column.name === 'segment') && copy.prepare('select 1 from images where segment is not null limit 1').get())
      throw new CopyRefused(`${file} is not a copy made by facegate backup: its images are in segment files it does not hold`);
    const count = (table: string) => (copy.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    return { file, bytes: statSync(file).size, events: count('events'), deliveries: count('deliveries'), commands: count('commands') };
  } catch (err) {
    if (err instanceof CopyRefused) throw err;
    throw new CopyRefused(`${file} cannot be read as a facegate store: ${(err as Error).message}`);
  } finally {
    copy.close();
  }
}

/** Image rows brought into the copy per transaction. */
const INLINE_STEP = 500;

/**
 * The image bytes the copy's rows point at, read from the data dir's segments
 * and written into the rows themselves (as a row of an earlier version holds
 * its text): the copy is one file that holds its images, restored as it is.
 * Consistent with the copy: bytes are never rewritten once a row points at
 * them, except by an erasure (zeros) and by retention (the segment unlinked),
 * both of a row the live store no longer has either; such a row of the copy
 * loses its image, as the live store's read answers no image (README §Backup
 * and restore).
 */
function inlineImages(dataDir: string, file: string): void {
  const copy = new Database(file, { fileMustExist: true });
  const opened = new Map<number, number | undefined>();
  const fdOf = (segment: number) => {
    if (!opened.has(segment)) {
      try {
        opened.set(segment, openSync(segmentPath(dataDir, segment), 'r'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        opened.set(segment, undefined);
      }
    }
    return opened.get(segment);
  };
  const read = ({ segment, position, length }: SegmentRef): Buffer | undefined => {
    const fd = fdOf(segment);
    if (fd === undefined) return undefined;
    const bytes = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const n = readSync(fd, bytes, filled, length - filled, position + filled);
      if (n === 0) return undefined;
      filled += n;
    }
    return intact(bytes);
  };
  try {
    const page = copy.prepare<[number, number], SegmentRef & { seq: number }>(
      'select event_seq as seq, segment, position, length from images where segment is not null and event_seq > ? order by event_seq limit ?',
    );
    const inline = copy.prepare('update images set base64 = ?, segment = null, position = null, length = null where event_seq = ?');
    const drop = copy.prepare('delete from images where event_seq = ?');
    let after = 0;
    for (;;) {
      const rows = page.all(after, INLINE_STEP);
      if (rows.length === 0) break;
      copy.transaction(() => {
        for (const row of rows) {
          const bytes = read(row);
          if (bytes) inline.run(bytes.toString('utf8'), row.seq);
          else drop.run(row.seq);
        }
      })();
      after = rows.at(-1)!.seq;
    }
  } finally {
    for (const fd of opened.values()) if (fd !== undefined) closeSync(fd);
    copy.close();
  }
}

/** Makes what was written to `file` durable, its name included. */
function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * An online, consistent copy: `VACUUM INTO` reads the store in one read
 * transaction, so the copy is the store as of one commit however much the
 * bridge writes meanwhile (SQLite's backup API would start over at every
 * commit of the bridge and might never end under load). It goes to a
 * temporary name beside FILE and takes FILE's name only once it is verified:
 * FILE is never half a copy. The images the copy's rows point at are
 * brought into it from their segments (inlineImages).
 */
export function backup(dataDir: string, file: string): CopyReport {
  const source = databasePath(dataDir);
  if (!existsSync(source)) throw new CopyRefused(`no store to back up: ${source} does not exist`);
  if (existsSync(file)) throw new CopyRefused(`${file} exists already: choose a new name`);
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare('vacuum into ?').run(partial);
  } finally {
    db.close();
  }
  try {
    // Face images and webhook secrets: for the service's user alone, as the store is.
    chmodSync(partial, 0o600);
    inlineImages(dataDir, partial);
    const report = verify(partial);
    syncFile(partial);
    renameSync(partial, file);
    syncFile(file);
    return { ...report, file };
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
}

/**
 * Whether a bridge has the store open: a store in WAL mode can leave it only
 * when no other connection has it open, so asking for that answers the
 * question without a lock file a crash could leave behind. Leaving WAL also
 * folds the WAL into the file and removes it: nothing stale is left to be
 * read into the copy that replaces it.
 */
function assertUnused(store: string): void {
  const db = new Database(store, { fileMustExist: true, timeout: 0 });
  try {
    const mode = db.pragma('journal_mode = DELETE', { simple: true });
    if (mode !== 'delete') throw new CopyRefused(`a facegate bridge is running on ${dirname(store)}: stop it before restoring`);
  } catch (err) {
    if (err instanceof CopyRefused) throw err;
    throw new CopyRefused(`a facegate bridge is running on ${dirname(store)}: stop it before restoring (${(err as Error).message})`);
  } finally {
    db.close();
  }
}

/**
 * Puts a verified copy in place of the store, refused while a bridge runs on
 * the data dir. The copy is written beside the store and renamed over it:
 * a crash midway leaves the old store or the new one, never a mix. The next
 * start migrates it if it comes from an older version. The old store's image
 * segments go after it: the copy holds its images in its rows, and a crash
 * before they are gone leaves segments no row refers to, unlinked by the
 * next retention step.
 */
export function restore(dataDir: string, file: string): CopyReport {
  const report = verify(file);
  const store = databasePath(dataDir);
  if (existsSync(store)) assertUnused(store);
  const incoming = join(dataDir, 'facegate.db.restoring');
  copyFileSync(file, incoming);
  chmodSync(incoming, 0o600);
  syncFile(incoming);
  for (const leftover of [`${store}-wal`, `${store}-shm`]) rmSync(leftover, { force: true });
  renameSync(incoming, store);
  syncFile(store);
  rmSync(segmentDir(dataDir), { recursive: true, force: true });
  return report;
}
