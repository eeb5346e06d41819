import type { NewEvent, StoredEvent } from '../../events/events.ts';
import { randomId } from '../../events/ids.ts';
import type { Replied, ReplyCandidate } from '../../ingest/interpret.ts';
import { acceptedRows, commandEventFields, hasReplyField, matchedReply, withReplyField } from '../command-text.ts';
import { drizzleEntry } from '../drizzle.ts';
import type { PersonHooks } from '../person-sync-rules.ts';
import { type Job, type JobResults, SWEEP_LIMIT } from '../store.ts';
import type { Db } from './open.ts';
import { commands, counters } from './schema.ts';

const { and, asc, eq, gte, inArray, lt, sql } = drizzleEntry('drizzle-orm');

// The writer thread's side of commands (README §Commands with replies):
// rows accepted, published, failed; a reply matched to its command in the
// transaction that stores the reply; the sweeps for unanswered and expired.
// Matching here, in the store, rather than in a map of the main thread, lets
// a reply find a command whichever process published it.

/** Stores an event with its deliveries (jobs.ts), giving it as stored. */
type StoreEvent = (event: NewEvent) => StoredEvent | undefined;

export function createCommandRows(db: Db, storeEvent: StoreEvent, replyWindowMs: number, people: PersonHooks, replica: string | null = null) {
  const insert = db
    .insert(commands)
    .values({
      id: sql.placeholder('id'),
      // Acceptance order: one writer, so the next number is always free; never one given before (counters, schema.ts).
      seq: sql`(select ${counters.value} + 1 from ${counters} where ${counters.name} = 'commands')`,
      deviceSn: sql.placeholder('sn'),
      cmd: sql.placeholder('cmd'),
      body: sql.placeholder('body'),
      status: sql.placeholder('status'),
      error: sql.placeholder('error'),
      createdAt: sql.placeholder('at'),
      expiresAt: sql.placeholder('expiresAt'),
      batch: sql.placeholder('batch'),
      person: sql.placeholder('person'),
      actor: sql.placeholder('actor'),
      acceptedBy: sql.placeholder('acceptedBy'),
    })
    .prepare();
  const counted = db
    .update(counters)
    .set({ value: sql`${counters.value} + 1` })
    .where(eq(counters.name, 'commands'))
    .prepare();
  const insertRow = (row: Parameters<typeof insert.run>[0]) => {
    insert.run(row);
    counted.run();
  };
  const published = db
    .update(commands)
    .set({ status: 'published', publishedAt: sql.placeholder('at') as unknown as number })
    .where(and(eq(commands.id, sql.placeholder('id')), eq(commands.status, 'queued')))
    .prepare();
  const failed = db
    .update(commands)
    .set({ status: 'failed', error: sql.placeholder('error') as unknown as string })
    .where(and(eq(commands.id, sql.placeholder('id')), eq(commands.status, 'queued')))
    .prepare();
  const waiting = { id: commands.id, cmd: commands.cmd, publishedAt: commands.publishedAt, person: commands.person };
  // REPLY_FIELD: the command it names, on that terminal, still waiting within REPLY_WINDOW.
  const byTag = db
    .select(waiting)
    .from(commands)
    .where(
      and(
        eq(commands.id, sql.placeholder('tag')),
        eq(commands.deviceSn, sql.placeholder('sn')),
        eq(commands.status, 'published'),
        gte(commands.publishedAt, sql.placeholder('since')),
      ),
    )
    .prepare();
  // By name: the oldest command of that name on that terminal still waiting (commands_pairing).
  const byName = db
    .select(waiting)
    .from(commands)
    .where(
      and(
        eq(commands.status, 'published'),
        eq(commands.deviceSn, sql.placeholder('sn')),
        eq(commands.cmd, sql.placeholder('cmd')),
        gte(commands.publishedAt, sql.placeholder('since')),
      ),
    )
    .orderBy(asc(commands.publishedAt), asc(commands.seq))
    .limit(1)
    .prepare();
  // A reply that pairs with nothing published yet: whether a command it could answer is still queued (commands_queue), by id or name.
  // (And one published within REPLY_WINDOW: the same test as PostgreSQL's, where another replica may record it meanwhile.)
  const queuedMatch = db.$client.prepare<{ sn: string; tag: string | null; cmd: string | null; since: number }, { one: number }>(
    `select 1 as one from commands where device_sn = @sn and status in ('queued', 'published') and (id = @tag or cmd = @cmd)
       and (status = 'queued' or published_at >= @since) limit 1`,
  );
  // The rows of a dead process: queued, no ttl, accepted by another than this one (or by no one known: an earlier version's).
  const interrupted = db.$client.prepare<{ self: string }, { id: string }>(
    `update commands set status = 'failed', error = 'interrupted'
     where status = 'queued' and expires_at is null and accepted_by is not @self returning id`,
  );
  const replied = db
    .update(commands)
    .set({ status: 'replied', reply: sql.placeholder('reply') as unknown as string, repliedAt: sql.placeholder('at') as unknown as number })
    .where(eq(commands.id, sql.placeholder('id')))
    .prepare();
  const overdue = db
    .select({ id: commands.id, sn: commands.deviceSn, cmd: commands.cmd, person: commands.person })
    .from(commands)
    .where(and(eq(commands.status, 'published'), lt(commands.publishedAt, sql.placeholder('before'))))
    .orderBy(asc(commands.publishedAt))
    .limit(SWEEP_LIMIT + 1)
    .prepare();
  const expiring = db
    .select({ id: commands.id, sn: commands.deviceSn, cmd: commands.cmd, person: commands.person })
    .from(commands)
    .where(and(eq(commands.status, 'queued'), lt(commands.expiresAt, sql.placeholder('now'))))
    .orderBy(asc(commands.expiresAt))
    .limit(SWEEP_LIMIT + 1)
    .prepare();

  function accept(job: Extract<Job, { kind: 'commands' }>): undefined {
    for (const row of acceptedRows(job, replica)) insertRow(row);
    return undefined;
  }

  /** A person's command for one terminal (person-rows.ts): queued, no ttl (it waits as long as it takes), REPLY_FIELD as for any. */
  function queue(
    command: { id: string; sn: string; cmd: string; body: string; at: number; person: string; actor: string | null },
    replyField: string | undefined,
  ): void {
    insertRow({
      id: command.id,
      sn: command.sn,
      cmd: command.cmd,
      body: withReplyField(command.body, replyField, command.id, hasReplyField(command.body, replyField)),
      status: 'queued',
      error: null,
      at: command.at,
      expiresAt: null,
      batch: null,
      person: command.person,
      actor: command.actor,
      acceptedBy: replica,
    });
  }

  /**
   * A device message that may be a reply: matched to its command, it is that
   * command's reply, stored as its command.replied event instead of a
   * device.message (README §Commands with replies, Details).
   */
  function correlate(
    sn: string,
    receivedAt: number,
    candidate: ReplyCandidate,
    message: NewEvent,
  ): { event: NewEvent; replied: Replied; people: StoredEvent[] } | undefined {
    const since = receivedAt - replyWindowMs;
    const match =
      (candidate.tag !== undefined ? byTag.get({ tag: candidate.tag, sn, since }) : undefined) ??
      (candidate.cmd !== undefined ? byName.get({ sn, cmd: candidate.cmd, since }) : undefined);
    if (!match) return undefined;
    replied.run({ id: match.id, reply: message.fields, at: receivedAt });
    return {
      ...matchedReply(match, sn, message, receivedAt),
      people: match.person === null ? [] : people.replied(match.id, sn, message.fields, receivedAt),
    };
  }

  function sweep({ now }: Extract<Job, { kind: 'command-sweep' }>): JobResults['command-sweep'] {
    const events: StoredEvent[] = [];
    const waiting = new Set<string>();
    const turn = (rows: { id: string; sn: string; cmd: string; person: string | null }[], status: 'unanswered' | 'expired') => {
      const taken = rows.slice(0, SWEEP_LIMIT);
      if (taken.length === 0) return 0;
      db.update(commands)
        .set({ status })
        .where(
          inArray(
            commands.id,
            taken.map((r) => r.id),
          ),
        )
        .run();
      for (const row of taken) {
        if (row.person !== null && status === 'unanswered') for (const sn of people.unanswered(row.id, now)) waiting.add(sn);
        const event = storeEvent({
          id: randomId('evt'),
          type: `command.${status}`,
          deviceSn: row.sn,
          receivedAt: now,
          fields: commandEventFields(row.id, row.cmd, null),
        });
        if (event) events.push(event);
      }
      return taken.length;
    };
    const overdueRows = overdue.all({ before: now - replyWindowMs });
    const expiringRows = expiring.all({ now });
    const unanswered = turn(overdueRows, 'unanswered');
    const expired = turn(expiringRows, 'expired');
    return { events, unanswered, expired, more: overdueRows.length > SWEEP_LIMIT || expiringRows.length > SWEEP_LIMIT, people: [...waiting] };
  }

  return {
    accept,
    queue,
    published(job: Extract<Job, { kind: 'commands-published' }>): undefined {
      for (const { id, at } of job.published) {
        published.run({ id, at });
        people.published(id, at);
      }
      return undefined;
    },
    failed(job: Extract<Job, { kind: 'commands-failed' }>): undefined {
      const at = Date.now();
      for (const { id, error } of job.failed) {
        failed.run({ id, error });
        // A person command refused (terminal offline, broker down): its row waits for the terminal, no attempt counted.
        people.failed(id, at);
      }
      return undefined;
    },
    interrupted({ live }: Extract<Job, { kind: 'commands-interrupted' }>): { failed: number } {
      // One process owns a SQLite store: there are no other live ones to ask about.
      const self = 'self' in live ? live.self : (replica ?? '');
      const ids = interrupted.all({ self }).map((row) => row.id);
      people.interrupted(ids);
      return { failed: ids.length };
    },
    /** README §Running several replicas: a reply that pairs with nothing yet, while a command it could answer is queued, is held. */
    queuedFor: (sn: string, receivedAt: number, candidate: ReplyCandidate): boolean =>
      queuedMatch.get({ sn, tag: candidate.tag ?? null, cmd: candidate.cmd ?? null, since: receivedAt - replyWindowMs }) !== undefined,
    correlate,
    sweep,
  };
}
