import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateDrizzleJson, generateMigration, generateSQLiteDrizzleJson, generateSQLiteMigration } from 'drizzle-kit/api';
import { describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { drizzleEntry } from '../../src/store/drizzle.ts';
import * as pgSchema from '../../src/store/postgres/schema.ts';
import { migrateDatabase, openDatabase } from '../../src/store/sqlite/open.ts';
import * as schema from '../../src/store/sqlite/schema.ts';

const { drizzle } = drizzleEntry('drizzle-orm/better-sqlite3');
const { migrate } = drizzleEntry('drizzle-orm/better-sqlite3/migrator');

// The tables are made by the migrations in drizzle/, never by the schema
// itself: a change to schema.ts without its migration (README §Development,
// `npm run db:generate`) compiles and type-checks, and fails only once a
// query meets a column the database does not have.

const MIGRATIONS = new URL('../../drizzle/', import.meta.url).pathname;
const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] };

describe('the drizzle schema and the committed migrations', () => {
  it('agree: drizzle-kit finds nothing to migrate between the latest snapshot and schema.ts', async () => {
    const latest = journal.entries.at(-1)!;
    const snapshot = JSON.parse(readFileSync(join(MIGRATIONS, `meta/${String(latest.idx).padStart(4, '0')}_snapshot.json`), 'utf8'));
    const current = await generateSQLiteDrizzleJson(schema);
    expect(await generateSQLiteMigration(snapshot, current)).toEqual([]);
  });

  it('agree on PostgreSQL too: nothing to migrate between drizzle/postgres/ and postgres/schema.ts', async () => {
    const folder = join(MIGRATIONS, 'postgres');
    const pgJournal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] };
    const latest = pgJournal.entries.at(-1)!;
    const snapshot = JSON.parse(readFileSync(join(folder, `meta/${String(latest.idx).padStart(4, '0')}_snapshot.json`), 'utf8'));
    expect(await generateMigration(snapshot, generateDrizzleJson(pgSchema, snapshot.id))).toEqual([]);
    for (const { tag } of pgJournal.entries) expect(() => readFileSync(join(folder, `${tag}.sql`))).not.toThrow();
  });

  it('has a migration file for every entry of the journal', () => {
    for (const { tag } of journal.entries) expect(() => readFileSync(join(MIGRATIONS, `${tag}.sql`))).not.toThrow();
  });
});

describe('disabled_reason', () => {
  it('becomes a value when a database of an earlier version is migrated: config, gone, or none once enabled', () => {
    const dir = makeTempDir('facegate-schema-');
    try {
      // The migrations of the release before the values.
      const older = join(dir, 'drizzle');
      mkdirSync(join(older, 'meta'), { recursive: true });
      const before = journal.entries.slice(
        0,
        journal.entries.findIndex((entry) => /disabled_reason/.test(entry.tag)),
      );
      for (const entry of before) cpSync(join(MIGRATIONS, `${entry.tag}.sql`), join(older, `${entry.tag}.sql`));
      writeFileSync(join(older, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: before }));
      const sqlite = new Database(join(dir, 'facegate.db'));
      migrate(drizzle(sqlite), { migrationsFolder: older });
      sqlite.exec(`
        insert into endpoints (id, url, event_types, enabled, disabled_reason, created_at) values
          ('ep_default', 'http://a', '["face.verified"]', 0, 'WEBHOOK_URL is not set', 1),
          ('ep_gone', 'http://b', '["face.verified"]', 0, 'the receiver answered 410 Gone', 1),
          ('ep_on', 'http://c', '["face.verified"]', 1, null, 1)`);
      sqlite.close();

      const { sqlite: upgraded, db } = openDatabase(dir, 'normal');
      migrateDatabase(db);
      expect(
        db
          .select({ id: schema.endpoints.id, enabled: schema.endpoints.enabled, reason: schema.endpoints.disabledReason, types: schema.endpoints.eventTypes })
          .from(schema.endpoints)
          .orderBy(schema.endpoints.id)
          .all(),
      ).toEqual([
        { id: 'ep_default', enabled: false, reason: 'config', types: ['face.verified'] },
        { id: 'ep_gone', enabled: false, reason: 'gone', types: ['face.verified'] },
        { id: 'ep_on', enabled: true, reason: null, types: ['face.verified'] },
      ]);
      upgraded.close();
    } finally {
      removeTempDir(dir);
    }
  });
});

describe('commands of an earlier version', () => {
  it('keep their state, and get their name, their order and, when published, the time they went out', () => {
    const dir = makeTempDir('facegate-schema-');
    try {
      const older = join(dir, 'drizzle');
      mkdirSync(join(older, 'meta'), { recursive: true });
      const before = journal.entries.slice(
        0,
        journal.entries.findIndex((entry) => /commands_with_replies/.test(entry.tag)),
      );
      for (const entry of before) cpSync(join(MIGRATIONS, `${entry.tag}.sql`), join(older, `${entry.tag}.sql`));
      writeFileSync(join(older, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: before }));
      const sqlite = new Database(join(dir, 'facegate.db'));
      migrate(drizzle(sqlite), { migrationsFolder: older });
      sqlite.exec(`
        insert into commands (id, device_sn, body, status, error, created_at) values
          ('cmd_a', 'D1', '{"cmd":"openDoorD","door":1}', 'published', null, 1000),
          ('cmd_b', 'D1', '{"cmd":"rebootD"}', 'failed', 'terminal D1 is not connected', 2000)`);
      sqlite.close();

      const { sqlite: upgraded, db } = openDatabase(dir, 'normal');
      migrateDatabase(db);
      const c = schema.commands;
      expect(
        db
          .select({ id: c.id, seq: c.seq, cmd: c.cmd, status: c.status, publishedAt: c.publishedAt, expiresAt: c.expiresAt, reply: c.reply })
          .from(c)
          .orderBy(c.seq)
          .all(),
      ).toEqual([
        { id: 'cmd_a', seq: 1, cmd: 'openDoorD', status: 'published', publishedAt: 1000, expiresAt: null, reply: null },
        { id: 'cmd_b', seq: 2, cmd: 'rebootD', status: 'failed', publishedAt: null, expiresAt: null, reply: null },
      ]);
      upgraded.close();
    } finally {
      removeTempDir(dir);
    }
  });
});
