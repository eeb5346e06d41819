import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { commandObject } from '../commands/commands.ts';
import { isSerial, SERIAL_RULE } from '../protocol/serial.ts';
import { type Erased, type Person, type PersonSync, SYNC_STATUSES, type SyncStatus } from '../store/store.ts';
import { may } from './callers.ts';
import type { AppDeps } from './deps.ts';
import { ApiError } from './errors.ts';
import { Limit, listPage, Page } from './list.ts';
import { content, error, json, type Route, route } from './route.ts';
import { Devices } from './serial-param.ts';

// README §People on the terminals: the backend's list of people, kept in step
// on every terminal through the command queue (people/sync.ts).

/** The largest enrolment photo, decoded (BODY_LIMIT bounds the request first). */
export const MAX_PHOTO_BYTES = 1024 * 1024;
/** Fields of a person besides name, photo and devices, at most: each one goes into the terminal's command. */
export const MAX_PERSON_FIELDS = 64;
/** Keys a template can name (`{{card_no}}`): the same rule as REPLY_FIELD. */
const FIELD_NAME = /^[A-Za-z0-9_]{1,64}$/;
/** The command's own: `cmd` names it, `num` is the path's. */
const RESERVED = new Set(['cmd', 'num']);
const OWN = new Set(['name', 'photo', 'devices']);

/** A person's `{num}`: the path's string, 1 to 64 characters, no control character and no `/`. */
export const NUM_RULE = '1 to 64 characters without / or control characters';
const NUM = /^[^\p{Cc}/]{1,64}$/u;

export const NumParam = v.object({
  num: v.pipe(
    v.string(),
    v.check(
      (num) => NUM.test(num),
      (issue) => `no person ${String(issue.input).slice(0, 64)} (a num is ${NUM_RULE})`,
    ),
  ),
});

const others = (body: Record<string, unknown>) => Object.keys(body).filter((key) => !OWN.has(key));

const Photo = v.pipe(
  v.string('photo must be a string of base64'),
  v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'photo must be base64 (without line breaks)'),
  v.check((s) => Math.floor((s.length * 3) / 4) <= MAX_PHOTO_BYTES + 2, `photo must be at most ${MAX_PHOTO_BYTES / 1024 / 1024} MB`),
  v.transform((s) => Buffer.from(s, 'base64')),
  v.check((bytes) => bytes.length <= MAX_PHOTO_BYTES, `photo must be at most ${MAX_PHOTO_BYTES / 1024 / 1024} MB`),
  v.check((bytes) => bytes.length > 2 && bytes[0] === 0xff && bytes[1] === 0xd8, 'photo must be a JPEG (its bytes start with FF D8)'),
);

/** PUT /api/people/{num}: name, an optional JPEG, the terminals, and any other fields (bounded), which go into the command. */
export const personSchema = (maxTerminals: number) =>
  v.pipe(
    commandObject({
      name: v.pipe(v.string('name must be a string'), v.nonEmpty('name must not be empty'), v.maxLength(128, 'name must be at most 128 characters')),
      photo: v.optional(Photo),
      devices: v.optional(Devices(maxTerminals, 'devices must not be empty (DELETE removes a person)'), 'all'),
    }),
    v.check((body) => others(body).length <= MAX_PERSON_FIELDS, `a person has at most ${MAX_PERSON_FIELDS} fields besides name, photo and devices`),
    v.check(
      (body) => others(body).every((key) => FIELD_NAME.test(key) && !RESERVED.has(key)),
      (issue) => {
        const key = others(issue.input as Record<string, unknown>).find((k) => !FIELD_NAME.test(k) || RESERVED.has(k))!;
        return RESERVED.has(key)
          ? `${key} is not allowed as a field name (the command's own)`
          : `${JSON.stringify(key.slice(0, 64))} is not allowed as a field name: 1 to 64 letters, digits and _`;
      },
    ),
  );

export const PeopleListQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.check(isSerial, `device must be a serial of ${SERIAL_RULE}`))),
  status: v.optional(v.picklist(SYNC_STATUSES, `status must be one of ${SYNC_STATUSES.join(', ')}`)),
  limit: Limit,
  cursor: v.optional(v.pipe(v.string(), v.regex(NUM, 'cursor must be a next_cursor of this list'))),
});

export const DeleteQuery = v.object({
  erase: v.optional(v.picklist(['true', 'false'], 'erase must be true or false')),
});

export const RetryQuery = v.object({
  device: v.optional(v.pipe(v.string(), v.check(isSerial, `device must be a serial of ${SERIAL_RULE}`))),
});

const STATUS = v.picklist(SYNC_STATUSES);
const person = {
  num: v.string(),
  name: v.string(),
  has_photo: v.boolean(),
  deleted: v.boolean(),
  all_devices: v.boolean(),
  fields: v.record(v.string(), v.unknown()),
  created_at: v.string(),
  updated_at: v.string(),
  /** Who made the last change: a token's name, `admin` for ADMIN_TOKEN (README §Tokens and roles). */
  actor: v.nullable(v.string()),
};
export const PersonSummarySchema = v.object({ ...person, status: v.optional(STATUS) });
const DeviceSchema = v.object({
  device_sn: v.string(),
  op: v.picklist(['upsert', 'delete']),
  status: STATUS,
  code: v.unknown(),
  message: v.nullable(v.string()),
  updated_at: v.string(),
});
export const PersonViewSchema = v.object({ ...person, devices: v.array(DeviceSchema) });
const Items = v.array(v.object({ device_sn: v.string(), status: STATUS }));
export const PutAnswerSchema = v.object({ person: PersonSummarySchema, items: Items });
export const DeletedSchema = v.object({ num: v.string(), deleted: v.literal(true), items: Items });
export const ErasedSchema = v.object({
  num: v.string(),
  erased: v.object({ events: v.number(), images: v.number(), deliveries: v.number(), photo: v.picklist([0, 1]), terminals: v.number() }),
});
export const RetriedSchema = v.object({ num: v.string(), retried: v.number() });

const iso = (at: number) => new Date(at).toISOString();

function summary(row: Person & { status?: SyncStatus }): v.InferOutput<typeof PersonSummarySchema> {
  return {
    num: row.num,
    name: row.name,
    has_photo: row.hasPhoto,
    deleted: row.deleted,
    all_devices: row.allDevices,
    fields: JSON.parse(row.fields) as Record<string, unknown>,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
    actor: row.actor,
    ...(row.status !== undefined && { status: row.status }),
  };
}

const deviceView = (row: PersonSync): v.InferOutput<typeof DeviceSchema> => ({
  device_sn: row.deviceSn,
  op: row.op,
  status: row.status,
  code: row.code === null ? null : (JSON.parse(row.code) as unknown),
  message: row.message,
  updated_at: iso(row.updatedAt),
});

const items = (rows: { deviceSn: string; status: SyncStatus }[]) => rows.map((row) => ({ device_sn: row.deviceSn, status: row.status }));

/** sha256 of name, fields and photo: the same content gives the same hash, and is not synced again. */
export function contentHash(name: string, fields: string, photo: Buffer | undefined): string {
  const hash = createHash('sha256').update(JSON.stringify([name, fields]));
  hash.update(photo ? Buffer.concat([Buffer.from([1]), photo]) : Buffer.from([0]));
  return hash.digest('hex');
}

const UNKNOWN = { 404: error('no such person (or a num that is none)') };

export function peopleRoutes({ store, people, maxTerminals }: AppDeps): Route[] {
  const found = async (num: string) => {
    const row = await store.person(num);
    if (!row) throw new ApiError('not_found', `no person ${num}`);
    return row;
  };

  const put = route(
    {
      method: 'put',
      path: '/api/people/{num}',
      operationId: 'putPerson',
      role: 'operator',
      tag: 'people',
      summary: 'Enrol or change a person on the terminals: 202 with the person and a sync item per terminal targeted',
      description: `\`devices\` ("all" by default: every terminal known, and every terminal seen later; or 1 to MAX_TERMINALS serials, ${maxTerminals} here). \`photo\`: base64 of a JPEG, at most ${MAX_PHOTO_BYTES / 1024 / 1024} MB. Any other field (at most ${MAX_PERSON_FIELDS}, named by 1 to 64 letters, digits and _, not cmd or num) goes into the terminal's command as given. The same content again changes nothing; changed content is synced again.`,
      params: NumParam,
      body: personSchema(maxTerminals),
      responses: { 202: json(PutAnswerSchema, 'the person and its sync items') },
    },
    async (c, { params: { num }, body }) => {
      const { name, photo, devices, ...rest } = body;
      const fields = JSON.stringify(rest);
      const result = await store.write({
        kind: 'person-put',
        actor: c.get('caller').name,
        num,
        name,
        fields,
        photo: photo ?? null,
        hash: contentHash(name, fields, photo),
        devices,
        at: Date.now(),
      });
      people.wakeAll(result.wake);
      c.get('log').info({ person: num, changed: result.changed, terminals: result.items.length }, 'person put');
      return c.json({ person: summary(await found(num)), items: items(result.items) }, 202);
    },
  );

  const one = route(
    {
      method: 'get',
      path: '/api/people/{num}',
      operationId: 'getPerson',
      tag: 'people',
      summary: 'One person with their state on each terminal (deleted: true until every terminal has applied the removal)',
      params: NumParam,
      responses: { 200: json(PersonViewSchema, 'the person'), ...UNKNOWN },
    },
    async (c, { params: { num } }) => {
      const row = await found(num);
      return c.json({ ...summary(row), devices: (await store.personSyncs(num)).map(deviceView) });
    },
  );

  const list = route(
    {
      method: 'get',
      path: '/api/people',
      operationId: 'listPeople',
      tag: 'people',
      summary: 'People in num order; on one terminal (device, each with its status there), in one sync state (status), combined',
      description: 'Follow `next_cursor` (the last num of the page) until it is null. GET /api/people/{num} gives a person with every terminal.',
      query: PeopleListQuery,
      responses: { 200: json(Page(PersonSummarySchema), 'a page of people') },
    },
    async (c, { query: { device, status, limit, cursor } }) =>
      listPage(c, {
        limit,
        keys: await store.people({ device, status, after: cursor, limit: limit + 1 }),
        item: summary,
        cursorOf: (row) => row.num,
        rest: null,
      }),
  );

  const photo = route(
    {
      method: 'get',
      path: '/api/people/{num}/photo',
      operationId: 'getPersonPhoto',
      tag: 'people',
      summary: 'The enrolment photo (image/jpeg)',
      params: NumParam,
      responses: { 200: content('image/jpeg', 'the JPEG'), 404: error('no such person, or no photo') },
    },
    async (c, { params: { num } }) => {
      const bytes = await store.personPhoto(num);
      if (!bytes) throw new ApiError('not_found', `person ${num} has no photo`);
      return c.body(new Uint8Array(bytes), 200, { 'content-type': 'image/jpeg', 'cache-control': 'private, no-store' });
    },
  );

  const remove = route(
    {
      method: 'delete',
      path: '/api/people/{num}',
      operationId: 'deletePerson',
      role: 'operator',
      tag: 'people',
      summary: 'Remove a person from every terminal that has them; with erase=true, also erase everything kept about them, now',
      description:
        'Without erase: 202, each removal synced and reported like an enrolment; GET shows the person with `deleted: true` until every terminal applied it, then 404. With `erase=true` (also for a num never put: their events alone): their events, images, pending deliveries of those events, their commands and their photo are deleted with the database set to overwrite what it deletes, and the answer counts them; the removals still go to the terminals, carrying num alone.',
      params: NumParam,
      query: DeleteQuery,
      responses: { 200: json(ErasedSchema, 'erased, counted'), 202: json(DeletedSchema, 'removals pending'), ...UNKNOWN },
    },
    async (c, { params: { num }, query: { erase } }) => {
      const at = Date.now();
      if (erase === 'true') {
        // Erasing events and images is beyond a people change (README §Tokens and roles): an admin's.
        const { role, name } = c.get('caller');
        if (!may(role, 'admin')) throw new ApiError('forbidden', `erase=true needs the admin role (token ${name} is ${role})`);
        const erased: Erased = { events: 0, images: 0, deliveries: 0, photo: 0, terminals: 0 };
        for (;;) {
          const step = await store.write({ kind: 'person-erase', num, at });
          for (const key of Object.keys(erased) as (keyof Erased)[]) erased[key] += step[key];
          if (!step.more) {
            people.wakeAll(step.wake);
            break;
          }
        }
        c.get('log').info({ person: num, actor: name, ...erased }, 'person erased');
        return c.json({ num, erased: { ...erased, photo: erased.photo > 0 ? 1 : 0 } }, 200);
      }
      const result = await store.write({ kind: 'person-delete', num, at, actor: c.get('caller').name });
      if (!result.found) throw new ApiError('not_found', `no person ${num}`);
      people.wakeAll(result.wake);
      return c.json({ num, deleted: true as const, items: items(result.items) }, 202);
    },
  );

  const retry = route(
    {
      method: 'post',
      path: '/api/people/{num}/retry',
      operationId: 'retryPerson',
      role: 'operator',
      tag: 'people',
      summary: "A person's failed terminals (or one, with device) pending again",
      params: NumParam,
      query: RetryQuery,
      responses: { 202: json(RetriedSchema, 'how many went back to pending'), ...UNKNOWN },
    },
    async (c, { params: { num }, query: { device } }) => {
      const result = await store.write({ kind: 'person-retry', num, device, at: Date.now() });
      if (!result.found) throw new ApiError('not_found', `no person ${num}`);
      people.wakeAll(result.wake);
      return c.json({ num, retried: result.retried }, 202);
    },
  );

  return [put, list, one, photo, remove, retry];
}
