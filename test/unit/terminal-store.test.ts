import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { migrateDatabase, openDatabase } from '../../src/store/sqlite/open.ts';
import { createTerminalStore, silentTerminals } from '../../src/store/sqlite/terminals.ts';

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);

let dir: string;
let store: ReturnType<typeof openDatabase>;

beforeEach(() => {
  dir = makeTempDir('facegate-terminals-');
  store = openDatabase(dir, 'normal');
  migrateDatabase(store.db);
});

afterEach(() => {
  store.sqlite.close();
  removeTempDir(dir);
});

function insert(sn: string, { registered = false, online = false, lastSeenAt = (NOW - 10 * MINUTE) as number | null } = {}) {
  store.sqlite
    .prepare('insert into terminals (sn, registered, first_seen_at, last_seen_at, online) values (?, ?, ?, ?, ?)')
    .run(sn, registered ? 1 : 0, lastSeenAt, lastSeenAt, online ? 1 : 0);
}
const serials = () => (store.sqlite.prepare('select sn from terminals order by sn').all() as { sn: string }[]).map((row) => row.sn);

describe('forgetting silent terminals (FORGET_AFTER)', () => {
  it('takes those learned from traffic, offline and silent since before, longest silent first, a batch at a time', () => {
    insert('OLD1', { lastSeenAt: NOW - 30 * MINUTE });
    insert('OLD2', { lastSeenAt: NOW - 20 * MINUTE });
    insert('OLD3', { lastSeenAt: NOW - 40 * MINUTE });
    insert('RECENT', { lastSeenAt: NOW - MINUTE });
    insert('LISTED', { registered: true, lastSeenAt: NOW - 60 * MINUTE });
    insert('NEVER', { registered: true, lastSeenAt: null });
    insert('ONLINE', { online: true, lastSeenAt: NOW - 60 * MINUTE });
    const terminals = createTerminalStore(store.db);
    const before = NOW - 5 * MINUTE;
    expect(terminals.forgetSilent(before, 2)).toEqual(['OLD3', 'OLD1']);
    expect(terminals.forgetSilent(before, 2)).toEqual(['OLD2']);
    expect(terminals.forgetSilent(before, 2)).toEqual([]);
    expect(serials()).toEqual(['LISTED', 'NEVER', 'ONLINE', 'RECENT']);
  });

  it('reads through the partial index, so a run reads only the rows it deletes', () => {
    const { sql } = silentTerminals(store.db).toSQL();
    const plan = store.sqlite.prepare(`explain query plan ${sql}`).all(NOW, 200) as { detail: string }[];
    expect(plan.map((step) => step.detail).join('\n')).toMatch(/USING INDEX terminals_forgettable/);
  });

  it('forgets given serials, registered or not', () => {
    insert('A1', { registered: true });
    insert('B2', { online: true });
    insert('C3');
    expect(createTerminalStore(store.db).forget(['A1', 'B2', 'NOPE'])).toBe(2);
    expect(serials()).toEqual(['C3']);
  });
});
