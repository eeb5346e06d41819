import type { NewEvent, StoredEvent } from '../../events/events.ts';
import { randomId } from '../../events/ids.ts';
import { type PersonCommands, renderCommand, replyOutcome } from '../../people/person-commands.ts';
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, CLEAR_SENT, ERASE_STEP, type SyncRow } from '../person-sync-rules.ts';
import type { Erased, Job, JobResults, PersonOp, SyncStatus } from '../store.ts';
import type { Db } from './open.ts';
import type { SegmentRef } from './segment-files.ts';

// The writer thread's side of people on the terminals (README §People on the
// terminals): the people and their sync rows, a terminal's turn (its one
// person command in flight, rendered here), and what becomes of that command
// (published, replied, unanswered, failed), each in the transaction of the
// job that learns it. Written as SQL: upserts with conditions and
// INSERT … SELECT say it more plainly than the query builder. Nothing here
// holds the roster or a photo in memory: each job reads what it needs.

type JobOf<K extends Job['kind']> = Extract<Job, { kind: K }>;
type StoreEvent = (event: NewEvent) => StoredEvent | undefined;
/** A queued command row for one terminal (command-rows.ts); its id. */
type QueueCommand = (command: { id: string; sn: string; cmd: string; body: string; at: number; person: string; actor: string | null }) => void;

/**
 * The queries a terminal's turn and a reply run, apart so that their plans
 * can be checked (test/integration/query-plans.test.ts): each reads through
 * the index written for it, whatever the number of rows.
 */
export const PERSON_SQL = {
  /** person_sync_in_flight. */
  inFlight: 'select 1 as one from person_sync where device_sn = ? and command_id is not null limit 1',
  /** person_sync_queue: the terminal's oldest row due. */
  nextDue: `select * from person_sync where device_sn = ? and status = 'pending' and next_attempt_at <= ? order by next_attempt_at limit 1`,
  /** person_sync_command. */
  byCommand: 'select * from person_sync where command_id = ?',
  /** person_sync_status: whether any terminal of the person is not applied yet. */
  unsettled: `select 1 as one from person_sync where status in ('pending', 'sent', 'failed') and num = ? limit 1`,
  /** events_person. */
  eraseEvents: 'select seq from events where person = ? limit ?',
  /** commands_person. */
  eraseCommands: 'delete from commands where person = ?',
} as const;

export function createPersonRows(
  db: Db,
  storeEvent: StoreEvent,
  commands: PersonCommands,
  queueCommand: QueueCommand,
  /** Overwrites images in their segments with zeros, synced (segment-writer.ts). */
  zeroImages: (refs: SegmentRef[]) => void,
) {
  const raw = db.$client;

  /**
   * A photo replaced or a person removed: its bytes are overwritten, not
   * only unlinked, so no later erase has to find them in a free page
   * (README §People on the terminals, erase). Rare writes; the rest of the
   * batch keeps the cheaper default.
   */
  function securely<T>(write: () => T): T {
    raw.pragma('secure_delete = ON');
    try {
      return write();
    } finally {
      raw.pragma('secure_delete = OFF');
    }
  }

  const getPerson = raw.prepare<[string], { num: string; name: string; fields: string; has_photo: number; deleted: number; actor: string | null }>(
    'select num, name, fields, photo is not null as has_photo, deleted, actor from people where num = ?',
  );
  const putPerson = raw.prepare(
    `insert into people (num, name, fields, photo, hash, all_devices, deleted, created_at, updated_at, actor)
     values (@num, @name, @fields, @photo, @hash, @all, 0, @at, @at, @actor)
     on conflict (num) do update set name = excluded.name, fields = excluded.fields, photo = excluded.photo, hash = excluded.hash,
       all_devices = excluded.all_devices, deleted = 0, updated_at = excluded.updated_at, actor = excluded.actor
     where people.hash is not excluded.hash or people.all_devices is not excluded.all_devices or people.deleted`,
  );
  // A row that wants other content (or a removal) now wants this: applied at once when the terminal holds it already;
  // one whose command is out stays `sent` (its reply finds the row changed, and the newer content goes next).
  const retarget = `op = 'upsert', want = @hash,
       status = case when status = 'sent' then 'sent' when applied_hash is @hash and command_id is null then 'applied' else 'pending' end,
       code = null, message = null, attempts = 0, next_attempt_at = @at, updated_at = @at`;
  const targetOne = raw.prepare(
    `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
     values (@num, @sn, 'upsert', @hash, 'pending', 0, @at, @at)
     on conflict (num, device_sn) do update set ${retarget}
     where op is not 'upsert' or want is not @hash`,
  );
  const retargetAll = raw.prepare(`update person_sync set ${retarget} where num = @num and (op is not 'upsert' or want is not @hash)`);
  // devices "all": every terminal known now (those seen later get theirs when their row is made: learned()).
  const targetKnown = raw.prepare(
    `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
     select @num, sn, 'upsert', @hash, 'pending', 0, @at, @at from terminals where true
     on conflict (num, device_sn) do nothing`,
  );
  // A terminal no longer targeted (or the person deleted): a removal where it has or may have the person, else its row goes.
  const removeWhere = (which: string) => [
    raw.prepare(`delete from person_sync where num = @num and ${which} and applied_hash is null and command_id is null and status is not 'sent'`),
    raw.prepare(
      `update person_sync set op = 'delete', want = null, status = case when status = 'sent' then 'sent' else 'pending' end,
         code = null, message = null, attempts = 0, next_attempt_at = @at, updated_at = @at
       where num = @num and ${which} and op is not 'delete'`,
    ),
  ];
  const untarget = removeWhere('device_sn not in (select value from json_each(@list))');
  const removeAll = removeWhere('true');
  const items = raw.prepare<[string], { deviceSn: string; status: SyncStatus }>(
    'select device_sn as deviceSn, status from person_sync where num = ? order by device_sn',
  );
  const rowsLeft = raw.prepare<[string], { n: number }>('select count(*) as n from person_sync where num = ?');
  const markDeleted = raw.prepare('update people set deleted = 1, all_devices = 0, updated_at = @at, actor = @actor where num = @num');
  const dropPerson = raw.prepare('delete from people where num = ?');

  const retryFailed = raw.prepare(
    `update person_sync set status = 'pending', code = null, message = null, attempts = 0, next_attempt_at = @at, updated_at = @at
     where num = @num and status = 'failed' and (@device is null or device_sn = @device)`,
  );

  const inFlight = raw.prepare<[string], { one: number }>(PERSON_SQL.inFlight);
  const nextDue = raw.prepare<[string, number], SyncRow>(PERSON_SQL.nextDue);
  const sending = raw.prepare(
    'update person_sync set command_id = @id, sent_op = @op, sent_hash = @hash, updated_at = @at where num = @num and device_sn = @sn',
  );

  const byCommand = raw.prepare<[string], SyncRow>(PERSON_SQL.byCommand);
  const sent = raw.prepare(`update person_sync set status = 'sent', updated_at = @at where command_id = @id and status = 'pending'`);
  const commandFailed = raw.prepare(`update person_sync set status = 'pending', ${CLEAR_SENT}, updated_at = @at where command_id = @id`);
  const interrupted = raw.prepare<[string]>(`update person_sync set status = 'pending', ${CLEAR_SENT} where command_id = ?`);
  const unanswered = raw.prepare<{ id: string; at: number; first: number; max: number }, { device_sn: string }>(
    `update person_sync set status = 'pending', ${CLEAR_SENT}, attempts = attempts + 1,
       next_attempt_at = @at + min(@max, @first * (1 << min(attempts, 16))), updated_at = @at
     where command_id = @id returning device_sn`,
  );
  const setRow = raw.prepare(
    `update person_sync set status = @status, applied_hash = @applied, code = @code, message = @message, ${CLEAR_SENT},
       attempts = case when @status = 'applied' then 0 else attempts end, next_attempt_at = @at, updated_at = @at
     where num = @num and device_sn = @sn`,
  );
  // Refused: what the terminal holds is as it was.
  const refused = raw.prepare(
    `update person_sync set status = @status, code = @code, message = @message, ${CLEAR_SENT}, next_attempt_at = @at, updated_at = @at
     where num = @num and device_sn = @sn`,
  );
  const dropRow = raw.prepare('delete from person_sync where num = ? and device_sn = ?');
  const unsettled = raw.prepare<[string], { one: number }>(PERSON_SQL.unsettled);

  const exists = raw.prepare<[string], { one: number }>('select 1 as one from terminals where sn = ?');
  const learnAll = raw.prepare(
    `insert into person_sync (num, device_sn, op, want, status, attempts, next_attempt_at, updated_at)
     select num, @sn, 'upsert', hash, 'pending', 0, @at, @at from people where all_devices = 1 and deleted = 0
     on conflict (num, device_sn) do nothing`,
  );
  const forgetRows = raw.prepare('delete from person_sync where device_sn in (select value from json_each(?))');

  const eraseEvents = raw.prepare<[string, number], { seq: number }>(PERSON_SQL.eraseEvents);
  const eraseImages = raw.prepare('delete from images where event_seq in (select value from json_each(?))');
  const imagesInSegments = raw.prepare<[string], SegmentRef>(
    'select segment, position, length from images where event_seq in (select value from json_each(?)) and segment is not null',
  );
  const erasePending = raw.prepare<[string], { n: number }>(
    `select count(*) as n from deliveries where event_seq in (select value from json_each(?)) and status = 'pending'`,
  );
  const eraseDeliveries = raw.prepare('delete from deliveries where event_seq in (select value from json_each(?))');
  const eraseEventRows = raw.prepare('delete from events where seq in (select value from json_each(?))');
  const eraseRows = raw.prepare(
    `update person_sync set op = 'delete', want = null, status = 'pending', ${CLEAR_SENT}, code = null, message = null,
       attempts = 0, next_attempt_at = @at, updated_at = @at where num = @num`,
  );
  const eraseCommands = raw.prepare(PERSON_SQL.eraseCommands);
  const hasPhoto = raw.prepare<[string], { photo: number }>('select photo is not null as photo from people where num = ?');
  const pendingSerials = raw.prepare<[string], { sn: string }>(
    `select device_sn as sn from person_sync where num = ? and status = 'pending' and command_id is null`,
  );

  const wakeOf = (num: string) => pendingSerials.all(num).map((row) => row.sn);

  function put(job: JobOf<'person-put'>): JobResults['person-put'] {
    const { num, hash, at } = job;
    const changed =
      securely(() =>
        putPerson.run({
          num,
          name: job.name,
          fields: job.fields,
          photo: job.photo && Buffer.from(job.photo),
          hash,
          all: job.devices === 'all' ? 1 : 0,
          at,
          actor: job.actor,
        }),
      ).changes > 0;
    if (job.devices === 'all') {
      retargetAll.run({ num, hash, at });
      targetKnown.run({ num, hash, at });
    } else {
      for (const sn of job.devices) targetOne.run({ num, sn, hash, at });
      const list = JSON.stringify(job.devices);
      untarget[0].run({ num, list });
      untarget[1].run({ num, list, at });
    }
    return { changed, items: items.all(num), wake: wakeOf(num) };
  }

  function remove({ num, at, actor }: JobOf<'person-delete'>): JobResults['person-delete'] {
    if (markDeleted.run({ num, at, actor }).changes === 0) return { found: false, items: [], wake: [] };
    removeAll[0].run({ num });
    removeAll[1].run({ num, at });
    // Never on any terminal: gone at once.
    if (rowsLeft.get(num)!.n === 0) securely(() => dropPerson.run(num));
    return { found: true, items: items.all(num), wake: wakeOf(num) };
  }

  function retry({ num, device, at }: JobOf<'person-retry'>): JobResults['person-retry'] {
    if (!getPerson.get(num) && rowsLeft.get(num)!.n === 0) return { found: false, retried: 0, wake: [] };
    const retried = retryFailed.run({ num, device: device ?? null, at }).changes;
    return { found: true, retried, wake: wakeOf(num) };
  }

  /** Terminals' turns: each one's oldest due row becomes a queued command, unless one is in flight already (one at a time per terminal). */
  function send({ serials, at }: JobOf<'person-send'>): JobResults['person-send'] {
    const queued: string[] = [];
    for (const sn of serials) if (sendOne(sn, at)) queued.push(sn);
    return { queued };
  }

  /** Whether a command was made for this terminal. */
  function sendOne(sn: string, at: number): boolean {
    if (inFlight.get(sn)) return false;
    const row = nextDue.get(sn, at);
    if (!row) return false;
    const person = row.op === 'upsert' ? getPerson.get(row.num) : undefined;
    // A removal carries num alone: after ?erase=true nothing else is kept (README §People on the terminals).
    const op: PersonOp = person ? 'upsert' : 'delete';
    const rendered = renderCommand(
      commands,
      op,
      person
        ? { num: row.num, name: person.name, hasPhoto: person.has_photo === 1, fields: JSON.parse(person.fields) as Record<string, unknown> }
        : { num: row.num, hasPhoto: false, fields: {} },
    );
    const id = randomId('cmd');
    // Made by whoever last changed the person (README §Tokens and roles); none once they were erased.
    const actor = (person ?? getPerson.get(row.num))?.actor ?? null;
    queueCommand({ id, sn, cmd: rendered.cmd, body: rendered.body, at, person: row.num, actor });
    sending.run({ id, op, hash: op === 'upsert' ? row.want : null, at, num: row.num, sn });
    return true;
  }

  /** events.person set: erasing the person takes it too. */
  function event(type: 'person.synced' | 'person.sync_failed', num: string, sn: string, at: number, fields: Record<string, unknown>) {
    return storeEvent({ id: randomId('evt'), type, deviceSn: sn, receivedAt: at, fields: JSON.stringify({ num, ...fields }), person: num });
  }

  /**
   * A person command's reply, in the transaction that stores it: success
   * (PERSON_COMMANDS) makes the row applied, or removes it for a removal;
   * anything else is `failed` with the terminal's code and message. A row
   * that changed meanwhile goes back to pending: the newer content goes
   * next. Its events: person.sync_failed; person.synced once no row of the
   * person is pending, sent or failed any more.
   */
  function replied(commandId: string, sn: string, reply: string, at: number): StoredEvent[] {
    const row = byCommand.get(commandId);
    if (!row) return [];
    const outcome = replyOutcome(commands, JSON.parse(reply) as unknown);
    const changed = row.op !== row.sent_op || (row.op === 'upsert' && row.want !== row.sent_hash);
    const out: StoredEvent[] = [];
    const keep = (e: StoredEvent | undefined) => e && out.push(e);
    if (!outcome.ok) {
      refused.run({ num: row.num, sn, status: changed ? 'pending' : 'failed', code: JSON.stringify(outcome.code), message: outcome.message, at });
      keep(event('person.sync_failed', row.num, sn, at, { code: outcome.code, message: outcome.message }));
      return out;
    }
    if (row.sent_op === 'delete' && !changed) dropRow.run(row.num, sn);
    else
      setRow.run({
        num: row.num,
        sn,
        status: changed ? 'pending' : 'applied',
        applied: row.sent_op === 'delete' ? null : row.sent_hash,
        code: null,
        message: null,
        at,
      });
    if (changed || unsettled.get(row.num)) return out;
    const person = getPerson.get(row.num);
    if (!person) return out;
    if (person.deleted) {
      if (rowsLeft.get(row.num)!.n > 0) return out;
      securely(() => dropPerson.run(row.num));
      keep(event('person.synced', row.num, sn, at, { deleted: true }));
    } else keep(event('person.synced', row.num, sn, at, {}));
    return out;
  }

  /** A terminal seen for the first time: a pending row for everyone meant for every terminal (INSERT … SELECT, nothing in memory). */
  function learned(sn: string, at: number) {
    learnAll.run({ sn, at });
  }

  /** ?erase=true, one step (README §People on the terminals): events first, ERASE_STEP at a time; the rest with the last step. */
  function erase({ num, at }: JobOf<'person-erase'>): JobResults['person-erase'] {
    const counted: Erased = { events: 0, images: 0, deliveries: 0, photo: 0, terminals: 0 };
    const seqs = eraseEvents.all(num, ERASE_STEP).map((row) => row.seq);
    if (seqs.length > 0) {
      const list = JSON.stringify(seqs);
      // Their bytes are zeros on disk before the COMMIT that deletes their rows: should it fail, rows of a person being erased
      // are left without their images, never images without rows (README §People on the terminals, erase).
      zeroImages(imagesInSegments.all(list));
      counted.images = eraseImages.run(list).changes;
      counted.deliveries = erasePending.get(list)!.n;
      eraseDeliveries.run(list);
      counted.events = eraseEventRows.run(list).changes;
    }
    if (seqs.length === ERASE_STEP) return { ...counted, more: true, wake: [] };
    counted.photo = hasPhoto.get(num)?.photo ?? 0;
    dropPerson.run(num);
    // Terminals that have or may have the person get a removal that carries num alone; the others forget the row.
    removeAll[0].run({ num });
    counted.terminals = eraseRows.run({ num, at }).changes;
    eraseCommands.run(num);
    return { ...counted, more: false, wake: wakeOf(num) };
  }

  return {
    put,
    remove,
    retry,
    send,
    replied,
    learned,
    /** Whether a terminal's row is there before it is written: a new one is learned(). */
    known: (sn: string) => exists.get(sn) !== undefined,
    forgotten: (serials: string[]) => forgetRows.run(JSON.stringify(serials)),
    erase,
    published: (id: string, at: number) => sent.run({ id, at }),
    failed: (id: string, at: number) => commandFailed.run({ id, at }),
    /** Before the commands queued without a ttl fail at start: their rows wait again. */
    interrupted: (ids: string[]) => {
      for (const id of ids) interrupted.run(id);
    },
    /** Terminals whose person command went unanswered: the row waits out its backoff. */
    unanswered: (id: string, at: number) => unanswered.all({ id, at, first: BACKOFF_FIRST_MS, max: BACKOFF_MAX_MS }).map((row) => row.device_sn),
  };
}

export type PersonRows = ReturnType<typeof createPersonRows>;
