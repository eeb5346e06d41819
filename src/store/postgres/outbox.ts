import type { DeadDelivery, EventType, NewEvent, StoredEvent } from '../../events/events.ts';
import { pickPurged } from '../purge-step.ts';
import type { Job, JobResults, PurgeCursor } from '../store.ts';
import { binaryCopyChunks } from './copy-in.ts';
import type { Sql } from './open.ts';

// The outbox on PostgreSQL (sqlite/outbox.ts says what each job does): events
// stored with their deliveries in one statement, attempts recorded, the
// admin's steps and retention. The endpoints are read in each statement
// rather than cached: another replica may have added or removed one.

type JobOf<K extends Job['kind']> = Extract<Job, { kind: K }>;

/** As in SQLite: rows an admin's change touches in one job. */
export const ADMIN_STEP = 2000;
/** As in SQLite: events one purge step looks at, at most. */
export const PURGE_CANDIDATES = 1000;

/**
 * Events in one multi-row INSERT … ON CONFLICT DO NOTHING: a retransmission's
 * content ids are there already (from any replica) and give no row. Their
 * deliveries (one per endpoint taking the type, none to `except`) go in the
 * same statement; their images in the next (COPY_IMAGES).
 */
const INSERT_EVENTS = `
  with given as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::boolean[], $7::text[])
      with ordinality as g(id, type, device_sn, received_at, fields, has_image, person, n)
  ), ins as (
    insert into events (id, type, device_sn, received_at, fields, has_image, person)
    select id, type, device_sn, received_at, fields, has_image, person from given order by n
    on conflict (id) do nothing
    returning seq, id, type, received_at
  ), del as (
    insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at)
    select ins.seq, ep.id, 'pending', ins.received_at, ins.received_at
    from ins join endpoints ep on ep.event_types ? ins.type and ($8::text is null or ep.id <> $8)
    on conflict (event_seq, endpoint_id) do nothing
  )
  select seq, id from ins`;

/** The images of the events just stored, as rows of a binary COPY (copy-in.ts). */
const COPY_IMAGES = 'copy images (event_seq, base64) from stdin with (format binary)';

export function createOutbox(sql: () => Sql) {
  /** Stores events and their deliveries; gives those that were new, in the order given. */
  async function storeEvents(list: NewEvent[], except?: string): Promise<StoredEvent[]> {
    // The same id twice (in one message, or a retransmission in the same batch): the first is stored, the others are not
    // sent at all (their images would meet the first's row in images).
    const ids = new Set<string>();
    const unique = list.filter((e) => !ids.has(e.id) && ids.add(e.id));
    if (unique.length === 0) return [];
    const rows = await sql().rows<{ seq: number; id: string }>(INSERT_EVENTS, [
      unique.map((e) => e.id),
      unique.map((e) => e.type),
      unique.map((e) => e.deviceSn),
      unique.map((e) => e.receivedAt),
      unique.map((e) => e.fields),
      unique.map((e) => e.image !== undefined),
      unique.map((e) => e.person ?? null),
      except ?? null,
    ]);
    const seqs = new Map(rows.map((row) => [row.id, row.seq]));
    const stored: StoredEvent[] = [];
    // An image's bytes go as they are: text's binary form is its UTF-8, no string made of them.
    const images: [number, Uint8Array][] = [];
    for (const event of unique) {
      const seq = seqs.get(event.id);
      if (seq === undefined) continue;
      stored.push({ seq, id: event.id, type: event.type, deviceSn: event.deviceSn, receivedAt: event.receivedAt });
      if (event.image !== undefined) images.push([seq, event.image]);
    }
    if (images.length > 0) await sql().copyIn(COPY_IMAGES, binaryCopyChunks(images));
    return stored;
  }

  async function upsertEndpoint({ endpoint, at }: JobOf<'endpoint'>): Promise<undefined> {
    await sql().run(
      `insert into endpoints (id, url, secret, event_types, enabled, disabled_reason, created_at, format, lang)
       values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
       on conflict (id) do update set url = excluded.url, secret = excluded.secret, event_types = excluded.event_types,
         enabled = excluded.enabled, disabled_reason = excluded.disabled_reason, format = excluded.format, lang = excluded.lang`,
      [
        endpoint.id,
        endpoint.url,
        endpoint.secret,
        JSON.stringify(endpoint.eventTypes),
        endpoint.enabled,
        endpoint.disabledReason,
        at,
        endpoint.format,
        endpoint.lang,
      ],
    );
    return undefined;
  }

  async function deleteEndpointStep({ id }: JobOf<'endpoint-delete'>): Promise<JobResults['endpoint-delete']> {
    // The endpoint goes first, so nothing is enqueued for it while its deliveries go, a step at a time.
    await sql().run('delete from endpoints where id = $1', [id]);
    const deleted = await sql().run('delete from deliveries where seq in (select seq from deliveries where endpoint_id = $1 limit $2)', [id, ADMIN_STEP]);
    return { more: deleted === ADMIN_STEP };
  }

  async function setEndpointState({ id, enabled, reason }: JobOf<'endpoint-state'>): Promise<{ changed: boolean; disabled?: { url: string } }> {
    // The state before, read under the row's lock: of two replicas meeting the same 410, one disables it and alerts.
    const before = await sql().one<{ enabled: boolean; url: string }>('select enabled, url from endpoints where id = $1 for update', [id]);
    const changed = (await sql().run('update endpoints set enabled = $2, disabled_reason = $3 where id = $1', [id, enabled, reason])) > 0;
    return before?.enabled && !enabled && reason === 'gone' ? { changed, disabled: { url: before.url } } : { changed };
  }

  async function recordOutcome(job: JobOf<'attempt'>): Promise<DeadDelivery | undefined> {
    const status = job.outcome === 'delivered' ? 'delivered' : job.outcome === 'dead' ? 'dead' : 'pending';
    await sql().run(
      `update deliveries set status = $2, attempts = attempts + 1, last_attempt_at = $3, last_status = $4, last_error = $5,
         next_attempt_at = $6, delivered_at = $7 where seq = $1`,
      [job.seq, status, job.at, job.status, job.error, job.nextAttemptAt, job.outcome === 'delivered' ? job.at : null],
    );
    if (job.outcome !== 'dead') return undefined;
    return sql().one<DeadDelivery>(
      `select d.seq as "deliverySeq", d.endpoint_id as "endpointId", d.attempts, d.last_status as "lastStatus", e.id as "eventId", e.type as "eventType"
       from deliveries d join events e on e.seq = d.event_seq where d.seq = $1`,
      [job.seq],
    );
  }

  /** Attempts that kill no delivery (no dead-delivery event to read back), each of another delivery, in one statement. */
  async function recordOutcomes(jobs: readonly JobOf<'attempt'>[]): Promise<void> {
    await sql().run(
      `update deliveries d set status = a.status, attempts = d.attempts + 1, last_attempt_at = a.at, last_status = a.code, last_error = a.error,
         next_attempt_at = a.next, delivered_at = a.delivered
       from unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::bigint[], $7::bigint[]) as a(seq, status, at, code, error, next, delivered)
       where d.seq = a.seq`,
      [
        jobs.map((job) => job.seq),
        jobs.map((job) => (job.outcome === 'delivered' ? 'delivered' : 'pending')),
        jobs.map((job) => job.at),
        jobs.map((job) => job.status),
        jobs.map((job) => job.error),
        jobs.map((job) => job.nextAttemptAt),
        jobs.map((job) => (job.outcome === 'delivered' ? job.at : null)),
      ],
    );
  }

  async function retryDelivery({ seq, at }: JobOf<'retry-delivery'>): Promise<JobResults['retry-delivery']> {
    const changes = await sql().run(`update deliveries set status = 'pending', next_attempt_at = $2 where seq = $1 and status = 'dead'`, [seq, at]);
    return { changed: changes > 0 };
  }

  async function redeliverStep(job: JobOf<'redeliver-since'>): Promise<JobResults['redeliver-since']> {
    const endpoint = await sql().one<{ eventTypes: EventType[] }>('select event_types as "eventTypes" from endpoints where id = $1', [job.endpointId]);
    if (!endpoint || endpoint.eventTypes.length === 0) return { deliveries: 0, more: false };
    const from =
      job.after ??
      ((await sql().one<{ seq: number }>('select seq from events where received_at >= $1 order by received_at, seq limit 1', [job.since]))?.seq ??
        Number.MAX_SAFE_INTEGER) - 1;
    const rows = await sql().rows<{ seq: number; type: string }>('select seq, type from events where seq > $1 order by seq limit $2', [from, ADMIN_STEP]);
    const types = new Set<string>(endpoint.eventTypes);
    const seqs = rows.filter((row) => types.has(row.type)).map((row) => row.seq);
    if (seqs.length > 0) {
      // New, or back to the queue, delivered or dead.
      await sql().run(
        `insert into deliveries (event_seq, endpoint_id, status, next_attempt_at, created_at)
         select s, $2, 'pending', $3, $3 from unnest($1::bigint[]) s
         on conflict (event_seq, endpoint_id) do update set status = 'pending', next_attempt_at = excluded.next_attempt_at, delivered_at = null`,
        [seqs, job.endpointId, job.at],
      );
    }
    return { deliveries: seqs.length, more: rows.length === ADMIN_STEP, after: rows.at(-1)?.seq };
  }

  /** One step of retention, as in SQLite (sqlite/outbox.ts, purge). */
  async function purge(job: JobOf<'purge'>): Promise<{ removed: number; more: boolean; after: PurgeCursor | undefined }> {
    const { before, limit } = job;
    const candidates = await sql().rows<{ seq: number; at: number; kept: boolean }>(
      `select seq, received_at as at, exists (select 1 from deliveries d where d.event_seq = events.seq and d.status = 'pending'
         and d.endpoint_id in (select id from endpoints where enabled)) as kept
       from events where received_at < $1 and ($2::bigint is null or (received_at, seq) > ($2, $3))
       order by received_at, seq limit $4`,
      [before, job.after?.at ?? null, job.after?.seq ?? null, PURGE_CANDIDATES],
    );
    const { old, after } = pickPurged(candidates, limit, job.after);
    if (old.length > 0) {
      await sql().run('delete from images where event_seq = any($1::bigint[])', [old]);
      await sql().run('delete from deliveries where event_seq = any($1::bigint[])', [old]);
      await sql().run('delete from events where seq = any($1::bigint[])', [old]);
    }
    const oldRejects = await sql().run('delete from rejects where seq in (select seq from rejects where received_at < $1 order by received_at limit $2)', [
      before,
      limit,
    ]);
    // Commands carry names and enrolment photos too.
    const oldCommands = await sql().run('delete from commands where id in (select id from commands where created_at < $1 order by created_at limit $2)', [
      before,
      limit,
    ]);
    const more = candidates.length === PURGE_CANDIDATES || old.length === limit || oldRejects === limit || oldCommands === limit;
    return { removed: old.length + oldRejects + oldCommands, after, more };
  }

  return { storeEvents, upsertEndpoint, deleteEndpointStep, setEndpointState, recordOutcome, recordOutcomes, retryDelivery, redeliverStep, purge };
}
