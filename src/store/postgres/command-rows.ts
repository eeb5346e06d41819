import type { NewEvent, StoredEvent } from '../../events/events.ts';
import { randomId } from '../../events/ids.ts';
import type { Replied, ReplyCandidate } from '../../ingest/interpret.ts';
import { acceptedRows, type CommandRowValues, commandEventFields, hasReplyField, matchedReply, withReplyField } from '../command-text.ts';
import type { PersonHooks } from '../person-sync-rules.ts';
import { type Job, type JobResults, SWEEP_LIMIT } from '../store.ts';
import type { Sql } from './open.ts';

// Commands on PostgreSQL (sqlite/command-rows.ts says what each job does).
// Written for several replicas sharing the database: a command's seq comes
// from a sequence, which only goes up whoever takes it; a reply takes its
// command under the row's lock, so two replies arriving at two replicas
// never pair with the same command.

type PgPersonHooks = { [K in keyof PersonHooks]: (...args: Parameters<PersonHooks[K]>) => Promise<ReturnType<PersonHooks[K]>> };
type StoreEvents = (events: NewEvent[]) => Promise<StoredEvent[]>;

export function createCommandRows(sql: () => Sql, storeEvents: StoreEvents, replyWindowMs: number, people: PgPersonHooks, replica: string | null = null) {
  /** Rows in the order given: their seqs (nextval, the column's default) in that order. */
  async function insertRows(rows: CommandRowValues[]) {
    if (rows.length === 0) return;
    const column = <K extends keyof CommandRowValues>(key: K) => rows.map((row) => row[key]);
    await sql().run(
      `insert into commands (id, device_sn, cmd, body, status, error, created_at, expires_at, batch, person, actor, accepted_by)
       select id, sn, cmd, body, status, error, at, expires_at, batch, person, actor, $12 from unnest(
         $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[]
       ) with ordinality as r(id, sn, cmd, body, status, error, at, expires_at, batch, person, actor, n) order by n`,
      [
        column('id'),
        column('sn'),
        column('cmd'),
        column('body'),
        column('status'),
        column('error'),
        column('at'),
        column('expiresAt'),
        column('batch'),
        column('person'),
        column('actor'),
        replica,
      ],
    );
  }

  async function accept(job: Extract<Job, { kind: 'commands' }>): Promise<undefined> {
    await insertRows(acceptedRows(job, replica));
    return undefined;
  }

  async function queue(
    command: { id: string; sn: string; cmd: string; body: string; at: number; person: string; actor: string | null },
    replyField: string | undefined,
  ): Promise<void> {
    await insertRows([
      {
        ...command,
        body: withReplyField(command.body, replyField, command.id, hasReplyField(command.body, replyField)),
        status: 'queued',
        error: null,
        expiresAt: null,
        batch: null,
        acceptedBy: replica,
      },
    ]);
  }

  type Waiting = { id: string; cmd: string; publishedAt: number | null; person: string | null };
  const WAITING = 'id, cmd, published_at as "publishedAt", person';

  async function correlate(
    sn: string,
    receivedAt: number,
    candidate: ReplyCandidate,
    message: NewEvent,
  ): Promise<{ event: NewEvent; replied: Replied; people: StoredEvent[] } | undefined> {
    const since = receivedAt - replyWindowMs;
    // REPLY_FIELD: the command it names; FOR UPDATE waits for a replica matching it now, then finds it replied.
    let match =
      candidate.tag === undefined
        ? undefined
        : await sql().one<Waiting>(
            `select ${WAITING} from commands where id = $1 and device_sn = $2 and status = 'published' and published_at >= $3 for update`,
            [candidate.tag, sn, since],
          );
    // By name: the oldest waiting; one another replica is pairing right now is skipped for the next one.
    if (!match && candidate.cmd !== undefined) {
      match = await sql().one<Waiting>(
        `select ${WAITING} from commands where status = 'published' and device_sn = $1 and cmd = $2 and published_at >= $3
         order by published_at, seq limit 1 for update skip locked`,
        [sn, candidate.cmd, since],
      );
    }
    if (!match) return undefined;
    await sql().run(`update commands set status = 'replied', reply = $2, replied_at = $3 where id = $1`, [match.id, message.fields, receivedAt]);
    return {
      ...matchedReply(match, sn, message, receivedAt),
      people: match.person === null ? [] : await people.replied(match.id, sn, message.fields, receivedAt),
    };
  }

  async function sweep({ now }: Extract<Job, { kind: 'command-sweep' }>): Promise<JobResults['command-sweep']> {
    const events: StoredEvent[] = [];
    const waiting = new Set<string>();
    type Row = { id: string; sn: string; cmd: string; person: string | null };
    const COLUMNS = 'id, device_sn as sn, cmd, person';
    // SKIP LOCKED: a command a reply is taking right now is that reply's.
    const overdue = await sql().rows<Row>(
      `select ${COLUMNS} from commands where status = 'published' and published_at < $1 order by published_at limit $2 for update skip locked`,
      [now - replyWindowMs, SWEEP_LIMIT + 1],
    );
    const expiring = await sql().rows<Row>(
      `select ${COLUMNS} from commands where status = 'queued' and expires_at < $1 order by expires_at limit $2 for update skip locked`,
      [now, SWEEP_LIMIT + 1],
    );
    const turn = async (rows: Row[], status: 'unanswered' | 'expired') => {
      const taken = rows.slice(0, SWEEP_LIMIT);
      if (taken.length === 0) return 0;
      await sql().run('update commands set status = $2 where id = any($1::text[])', [taken.map((r) => r.id), status]);
      for (const row of taken) {
        if (row.person !== null && status === 'unanswered') for (const sn of await people.unanswered(row.id, now)) waiting.add(sn);
      }
      const stored = await storeEvents(
        taken.map((row) => ({
          id: randomId('evt'),
          type: `command.${status}` as const,
          deviceSn: row.sn,
          receivedAt: now,
          fields: commandEventFields(row.id, row.cmd, null),
        })),
      );
      events.push(...stored);
      return taken.length;
    };
    const unanswered = await turn(overdue, 'unanswered');
    const expired = await turn(expiring, 'expired');
    return { events, unanswered, expired, more: overdue.length > SWEEP_LIMIT || expiring.length > SWEEP_LIMIT, people: [...waiting] };
  }

  return {
    accept,
    queue,
    async published(job: Extract<Job, { kind: 'commands-published' }>): Promise<undefined> {
      for (const { id, at } of job.published) {
        await sql().run(`update commands set status = 'published', published_at = $2 where id = $1 and status = 'queued'`, [id, at]);
        await people.published(id, at);
      }
      return undefined;
    },
    async failed(job: Extract<Job, { kind: 'commands-failed' }>): Promise<undefined> {
      const at = Date.now();
      for (const { id, error } of job.failed) {
        await sql().run(`update commands set status = 'failed', error = $2 where id = $1 and status = 'queued'`, [id, error]);
        await people.failed(id, at);
      }
      return undefined;
    },
    async interrupted({ live }: Extract<Job, { kind: 'commands-interrupted' }>): Promise<{ failed: number }> {
      // Rows of an earlier version name no one (null): a dead process's. The live replicas are read in this statement, from the
      // locks the server holds now: a replica that accepted a row holds its membership lock already (it takes it before it serves).
      const ids = (
        await sql().rows<{ id: string }>(
          'self' in live
            ? `update commands set status = 'failed', error = 'interrupted'
               where status = 'queued' and expires_at is null and accepted_by is distinct from $1 returning id`
            : `update commands set status = 'failed', error = 'interrupted'
               where status = 'queued' and expires_at is null and (accepted_by is null or accepted_by not in (
                 select objid::int8::text from pg_locks where locktype = 'advisory' and granted and objsubid = 2 and classid = $1::int8::oid
                   and database = (select oid from pg_database where datname = current_database())))
               returning id`,
          ['self' in live ? live.self : live.members],
        )
      ).map((row) => row.id);
      if (ids.length > 0) await people.interrupted(ids);
      return { failed: ids.length };
    },
    /**
     * README §Running several replicas: whether a command this reply could
     * answer is queued (its publish not recorded yet: the reply is held), or
     * was recorded published since `correlate` looked (each statement sees
     * the commits before it: the reply is paired again at once).
     */
    async queuedFor(sn: string, receivedAt: number, candidate: ReplyCandidate): Promise<boolean> {
      const row = await sql().one(
        `select 1 from commands where device_sn = $1 and status in ('queued', 'published') and (id = $2 or cmd = $3)
           and (status = 'queued' or published_at >= $4) limit 1`,
        [sn, candidate.tag ?? null, candidate.cmd ?? null, receivedAt - replyWindowMs],
      );
      return row !== undefined;
    },
    correlate,
    sweep,
  };
}
