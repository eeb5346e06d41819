import type { NewEvent, StoredEvent } from '../../events/events.ts';
import { randomId } from '../../events/ids.ts';
import { type PersonCommands, renderCommand, replyOutcome } from '../../people/person-commands.ts';
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, CLEAR_SENT, ERASE_STEP, type SyncRow } from '../person-sync-rules.ts';
import type { Erased, Job, JobResults, PersonOp, SyncStatus } from '../store.ts';
import type { Sql } from './open.ts';

// People on the terminals on PostgreSQL: the statements of
// sqlite/person-rows.ts (which says what each job does), in PostgreSQL's
// words (`is distinct from`, arrays for lists).

type JobOf<K extends Job['kind']> = Extract<Job, { kind: K }>;
type StoreEvents = (events: NewEvent[]) => Promise<StoredEvent[]>;
type QueueCommand = (command: { id: string; sn: string; cmd: string; body: string; at: number; person: string; actor: string | null }) => Promise<void>;

// $1 num, $2 hash, $3 at.
const RETARGET = `op = 'upsert', want = $2,
  status = case when person_sync.status = 'sent' then 'sent' when person_sync.applied_hash is not distinct from $2 and person_sync.command_id is null then 'applied' else 'pending' end,
  code = null, message = null, attempts = 0, next_attempt_at = $3, updated_at = $3`;

/**
 * A terminal no longer targeted (or the person deleted): a removal where it
 * has or may have the person, else its row goes. The delete takes $1 num
 * (and `which` its $2); the update $1 num, $2 at (and `which` its $3).
 */
const removeWhere = (which: (param: number) => string) => [
  `delete from person_sync where num = $1 and ${which(2)} and applied_hash is null and command_id is null and status <> 'sent'`,
  `update person_sync set op = 'delete', want = null, status = case when status = 'sent' then 'sent' else 'pending' end,
     code = null, message = null, attempts = 0, next_attempt_at = $2, updated_at = $2
   where num = $1 and ${which(3)} and op <> 'delete'`,
];
const UNTARGET = removeWhere((param) => `device_sn <> all($${param}::text[])`);
const REMOVE_ALL = removeWhere(() => 'true');

type PersonFound = { num: string; name: string; fields: string; has_photo: boolean; deleted: boolean; actor: string | null };

export function createPersonRows(sql: () => Sql, storeEvents: StoreEvents, commands: PersonCommands, queueCommand: QueueCommand) {
  const getPerson = (num: string) =>
    sql().one<PersonFound>('select num, name, fields, photo is not null as has_photo, deleted, actor from people where num = $1', [num]);
  const items = (num: string) =>
    sql().rows<{ deviceSn: string; status: SyncStatus }>('select device_sn as "deviceSn", status from person_sync where num = $1 order by device_sn', [num]);
  const rowsLeft = async (num: string) => (await sql().one<{ n: number }>('select count(*) as n from person_sync where num = $1', [num]))!.n;
  const dropPerson = (num: string) => sql().run('delete from people where num = $1', [num]);
  const wakeOf = async (num: string) =>
    (await sql().rows<{ sn: string }>(`select device_sn as sn from person_sync where num = $1 and status = 'pending' and command_id is null`, [num])).map(
      (row) => row.sn,
    );

  async function put(job: JobOf<'person-put'>): Promise<JobResults['person-put']> {
    const { num, hash, at } = job;
    const changed =
      (await sql().run(
        `insert into people (num, name, fields, photo, hash, all_devices, deleted, created_at, updated_at, actor)
         values ($1, $2, $3, $4, $5, $6, false, $7, $7, $8)
         on conflict (num) do update set name = excluded.name, fields = excluded.fields, photo = excluded.photo, hash = excluded.hash,
           all_devices = excluded.all_devices, deleted = false, updated_at = excluded.updated_at, actor = excluded.actor
         where people.hash is distinct from excluded.hash or people.all_devices is distinct from excluded.all_devices or people.deleted`,
        [num, job.name, job.fields, job.photo && Buffer.from(job.photo), hash, job.devices === 'all', at, job.actor],
      )) > 0;
    if (job.devices === 'all') {
      await sql().run(`update person_sync set ${RETARGET} where num = $1 and (op <> 'upsert' or want is distinct from $2)`, [num, hash, at]);
      await sql().run(
        `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
         select $1, sn, 'upsert', $2, 'pending', 0, $3, $3 from terminals order by sn
         on conflict (num, device_sn) do nothing`,
        [num, hash, at],
      );
    } else {
      const devices = [...new Set(job.devices)].sort();
      await sql().run(
        `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
         select $1, sn, 'upsert', $2, 'pending', 0, $3, $3 from unnest($4::text[]) sn
         on conflict (num, device_sn) do update set ${RETARGET}
         where person_sync.op <> 'upsert' or person_sync.want is distinct from $2`,
        [num, hash, at, devices],
      );
      await sql().run(UNTARGET[0], [num, devices]);
      await sql().run(UNTARGET[1], [num, at, devices]);
    }
    return { changed, items: await items(num), wake: await wakeOf(num) };
  }

  async function remove({ num, at, actor }: JobOf<'person-delete'>): Promise<JobResults['person-delete']> {
    const marked = await sql().run('update people set deleted = true, all_devices = false, updated_at = $2, actor = $3 where num = $1', [num, at, actor]);
    if (marked === 0) return { found: false, items: [], wake: [] };
    await sql().run(REMOVE_ALL[0], [num]);
    await sql().run(REMOVE_ALL[1], [num, at]);
    // Never on any terminal: gone at once.
    if ((await rowsLeft(num)) === 0) await dropPerson(num);
    return { found: true, items: await items(num), wake: await wakeOf(num) };
  }

  async function retry({ num, device, at }: JobOf<'person-retry'>): Promise<JobResults['person-retry']> {
    if (!(await getPerson(num)) && (await rowsLeft(num)) === 0) return { found: false, retried: 0, wake: [] };
    const retried = await sql().run(
      `update person_sync set status = 'pending', code = null, message = null, attempts = 0, next_attempt_at = $2, updated_at = $2
       where num = $1 and status = 'failed' and ($3::text is null or device_sn = $3)`,
      [num, at, device ?? null],
    );
    return { found: true, retried, wake: await wakeOf(num) };
  }

  async function send({ serials, at }: JobOf<'person-send'>): Promise<JobResults['person-send']> {
    const queued: string[] = [];
    for (const sn of serials) if (await sendOne(sn, at)) queued.push(sn);
    return { queued };
  }

  /** Whether a command was made for this terminal: its oldest due row, unless one is in flight already. */
  async function sendOne(sn: string, at: number): Promise<boolean> {
    if (await sql().one('select 1 from person_sync where device_sn = $1 and command_id is not null limit 1', [sn])) return false;
    const row = await sql().one<SyncRow>(
      `select * from person_sync where device_sn = $1 and status = 'pending' and next_attempt_at <= $2 order by next_attempt_at limit 1`,
      [sn, at],
    );
    if (!row) return false;
    const person = row.op === 'upsert' ? await getPerson(row.num) : undefined;
    const op: PersonOp = person ? 'upsert' : 'delete';
    const rendered = renderCommand(
      commands,
      op,
      person
        ? { num: row.num, name: person.name, hasPhoto: person.has_photo, fields: JSON.parse(person.fields) as Record<string, unknown> }
        : { num: row.num, hasPhoto: false, fields: {} },
    );
    const id = randomId('cmd');
    const actor = (person ?? (await getPerson(row.num)))?.actor ?? null;
    await queueCommand({ id, sn, cmd: rendered.cmd, body: rendered.body, at, person: row.num, actor });
    await sql().run('update person_sync set command_id = $1, sent_op = $2, sent_hash = $3, updated_at = $4 where num = $5 and device_sn = $6', [
      id,
      op,
      op === 'upsert' ? row.want : null,
      at,
      row.num,
      sn,
    ]);
    return true;
  }

  async function event(type: 'person.synced' | 'person.sync_failed', num: string, sn: string, at: number, fields: Record<string, unknown>) {
    return storeEvents([{ id: randomId('evt'), type, deviceSn: sn, receivedAt: at, fields: JSON.stringify({ num, ...fields }), person: num }]);
  }

  async function replied(commandId: string, sn: string, reply: string, at: number): Promise<StoredEvent[]> {
    const row = await sql().one<SyncRow>('select * from person_sync where command_id = $1', [commandId]);
    if (!row) return [];
    const outcome = replyOutcome(commands, JSON.parse(reply) as unknown);
    const changed = row.op !== row.sent_op || (row.op === 'upsert' && row.want !== row.sent_hash);
    if (!outcome.ok) {
      await sql().run(
        `update person_sync set status = $3, code = $4, message = $5, ${CLEAR_SENT}, next_attempt_at = $6, updated_at = $6 where num = $1 and device_sn = $2`,
        [row.num, sn, changed ? 'pending' : 'failed', JSON.stringify(outcome.code), outcome.message, at],
      );
      return event('person.sync_failed', row.num, sn, at, { code: outcome.code, message: outcome.message });
    }
    if (row.sent_op === 'delete' && !changed) await sql().run('delete from person_sync where num = $1 and device_sn = $2', [row.num, sn]);
    else {
      const status = changed ? 'pending' : 'applied';
      await sql().run(
        `update person_sync set status = $3, applied_hash = $4, code = null, message = null, ${CLEAR_SENT},
           attempts = case when $3 = 'applied' then 0 else attempts end, next_attempt_at = $5, updated_at = $5
         where num = $1 and device_sn = $2`,
        [row.num, sn, status, row.sent_op === 'delete' ? null : row.sent_hash, at],
      );
    }
    if (changed) return [];
    if (await sql().one(`select 1 from person_sync where status in ('pending', 'sent', 'failed') and num = $1 limit 1`, [row.num])) return [];
    const person = await getPerson(row.num);
    if (!person) return [];
    if (person.deleted) {
      if ((await rowsLeft(row.num)) > 0) return [];
      await dropPerson(row.num);
      return event('person.synced', row.num, sn, at, { deleted: true });
    }
    return event('person.synced', row.num, sn, at, {});
  }

  async function erase({ num, at }: JobOf<'person-erase'>): Promise<JobResults['person-erase']> {
    const counted: Erased = { events: 0, images: 0, deliveries: 0, photo: 0, terminals: 0 };
    const seqs = (await sql().rows<{ seq: number }>('select seq from events where person = $1 limit $2', [num, ERASE_STEP])).map((row) => row.seq);
    if (seqs.length > 0) {
      counted.images = await sql().run('delete from images where event_seq = any($1::bigint[])', [seqs]);
      counted.deliveries = (await sql().one<{ n: number }>(`select count(*) as n from deliveries where event_seq = any($1::bigint[]) and status = 'pending'`, [
        seqs,
      ]))!.n;
      await sql().run('delete from deliveries where event_seq = any($1::bigint[])', [seqs]);
      counted.events = await sql().run('delete from events where seq = any($1::bigint[])', [seqs]);
    }
    if (seqs.length === ERASE_STEP) return { ...counted, more: true, wake: [] };
    counted.photo = (await sql().one<{ photo: boolean }>('select photo is not null as photo from people where num = $1', [num]))?.photo ? 1 : 0;
    await dropPerson(num);
    await sql().run(REMOVE_ALL[0], [num]);
    counted.terminals = await sql().run(
      `update person_sync set op = 'delete', want = null, status = 'pending', ${CLEAR_SENT}, code = null, message = null,
         attempts = 0, next_attempt_at = $2, updated_at = $2 where num = $1`,
      [num, at],
    );
    await sql().run('delete from commands where person = $1', [num]);
    return { ...counted, more: false, wake: await wakeOf(num) };
  }

  return {
    put,
    remove,
    retry,
    send,
    replied,
    erase,
    /** A terminal seen for the first time: a pending row for everyone meant for every terminal. */
    learned: (sn: string, at: number) =>
      sql().run(
        `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
         select num, $1, 'upsert', hash, 'pending', 0, $2, $2 from people where all_devices and not deleted order by num
         on conflict (num, device_sn) do nothing`,
        [sn, at],
      ),
    known: async (sn: string) => (await sql().one('select 1 from terminals where sn = $1', [sn])) !== undefined,
    forgotten: (serials: string[]) => sql().run('delete from person_sync where device_sn = any($1::text[])', [serials]),
    published: (id: string, at: number) =>
      sql().run(`update person_sync set status = 'sent', updated_at = $2 where command_id = $1 and status = 'pending'`, [id, at]),
    failed: (id: string, at: number) => sql().run(`update person_sync set status = 'pending', ${CLEAR_SENT}, updated_at = $2 where command_id = $1`, [id, at]),
    interrupted: (ids: string[]) => sql().run(`update person_sync set status = 'pending', ${CLEAR_SENT} where command_id = any($1::text[])`, [ids]),
    unanswered: async (id: string, at: number) =>
      (
        await sql().rows<{ device_sn: string }>(
          `update person_sync set status = 'pending', ${CLEAR_SENT}, attempts = attempts + 1,
             next_attempt_at = $2 + least($4::bigint, $3::bigint * (1::bigint << least(attempts, 16))), updated_at = $2
           where command_id = $1 returning device_sn`,
          [id, at, BACKOFF_FIRST_MS, BACKOFF_MAX_MS],
        )
      ).map((row) => row.device_sn),
  };
}

export type PersonRows = ReturnType<typeof createPersonRows>;
