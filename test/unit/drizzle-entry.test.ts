import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { drizzleEntry } from '../../src/store/drizzle.ts';

// src/store/drizzle.ts: drizzle-orm through its CommonJS build, whose
// modules Node loads without looking up their package (README §Performance,
// "Node 24 and drizzle's exports").

const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('/node_modules/drizzle-orm/'));

describe('drizzleEntry', () => {
  it("loads an entry point's .cjs files, once", () => {
    const core = drizzleEntry('drizzle-orm/sqlite-core');
    expect(typeof core.sqliteTable).toBe('function');
    expect(drizzleEntry('drizzle-orm/sqlite-core')).toBe(core);
    expect(loaded()).toContainEqual(expect.stringMatching(/\/drizzle-orm\/sqlite-core\/index\.cjs$/));
    expect(loaded().filter((path) => !path.endsWith('.cjs'))).toEqual([]);
  });

  it('makes tables the operators of the core entry point build queries on', () => {
    const { sqliteTable, integer } = drizzleEntry('drizzle-orm/sqlite-core');
    const { eq, is, Column } = drizzleEntry('drizzle-orm');
    const table = sqliteTable('t', { n: integer('n') });
    expect(is(table.n, Column)).toBe(true);
    expect(eq(table.n, 1).queryChunks.length).toBeGreaterThan(0);
  });
});
