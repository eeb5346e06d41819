import * as v from 'valibot';
import { isJsonObject, MAX_JSON_DEPTH, nestsWithin } from '../lib/json-object.ts';

// PERSON_COMMANDS (README §People on the terminals): the vendor's enrolment
// commands are not public, so their templates, reply names and the rule of
// success are a file. Pure: the writer renders with it, the store judges
// replies with it, config.ts reads the file.

/** The largest PERSON_COMMANDS file read: templates are a few lines. */
export const PERSON_COMMANDS_MAX_BYTES = 64 * 1024;

/**
 * Where the photo goes in a command body as stored: the base64 of a photo is
 * spliced in when the command is published (README §People on the
 * terminals), so a photo is stored once, never once per terminal. In JSON
 * text it is the escape of a NUL followed by `photo`; person fields may hold
 * no NUL (the API refuses one in any input: http/no-nul.ts), so only a
 * placeholder makes it.
 */
export const PHOTO_MARKER = '\u0000photo';
/** The marker as it stands in JSON text, preceded by an even number of backslashes (none, or escaped ones): an escape of its own. */
const MARKER_IN_JSON = /(?<!\\)((?:\\\\)*)\\u0000photo/g;

/** A placeholder's name: `{{num}}`, `{{name}}`, `{{photo}}` or `{{<field>}}`. */
const PLACEHOLDER = /\{\{([A-Za-z0-9_]{1,64})\}\}/g;
const ONLY_PLACEHOLDER = /^\{\{([A-Za-z0-9_]{1,64})\}\}$/;

/** The reply the correlation pairs with a command by name (README §Commands with replies): `xxxD` → `xxxU`. */
export const replyOf = (cmd: unknown) => (typeof cmd === 'string' && cmd.length > 1 && cmd.endsWith('D') ? `${cmd.slice(0, -1)}U` : undefined);

const Template = (op: 'upsert' | 'delete') =>
  v.pipe(
    v.object(
      {
        command: v.pipe(
          v.custom<Record<string, unknown>>(isJsonObject, `${op}.command must be a JSON object`),
          v.check((c) => replyOf(c.cmd) !== undefined, `${op}.command must have a cmd ending in D (such as addPersonD)`),
          v.check((c) => nestsWithin(c), `${op}.command nests more than ${MAX_JSON_DEPTH} levels`),
        ),
        reply: v.string(`${op}.reply must be a string`),
      },
      `${op} must be an object with command and reply`,
    ),
    v.check(
      ({ command, reply }) => reply === replyOf(command.cmd),
      ({ input }) => `${op}.reply must be ${replyOf(input.command.cmd)}, the reply paired with ${String(input.command.cmd)}`,
    ),
  );

const Scalar = v.union([v.string(), v.number(), v.boolean(), v.null()], 'success.equals must be a string, a number, a boolean or null');

/** The file's shape (README §People on the terminals, PERSON_COMMANDS). */
export const PersonCommandsSchema = v.object(
  {
    upsert: Template('upsert'),
    delete: Template('delete'),
    success: v.object(
      { field: v.pipe(v.string('success.field must be a string'), v.nonEmpty('success.field must not be empty')), equals: Scalar },
      'success must be an object with field and equals',
    ),
    message_field: v.optional(v.pipe(v.string('message_field must be a string'), v.nonEmpty('message_field must not be empty'))),
  },
  'expected a JSON object with upsert, delete and success',
);

export type PersonCommands = v.InferOutput<typeof PersonCommandsSchema> & {
  /** The built-in default only: every other field of the person goes along too (README §People on the terminals). */
  passRest?: boolean;
};

/** SPEC §People on the terminals: the built-in default, which the simulator implements. */
export const DEFAULT_PERSON_COMMANDS: PersonCommands = {
  upsert: { command: { cmd: 'addPersonD', num: '{{num}}', name: '{{name}}', photo: '{{photo}}' }, reply: 'addPersonU' },
  delete: { command: { cmd: 'deletePersonD', num: '{{num}}' }, reply: 'deletePersonU' },
  success: { field: 'code', equals: 0 },
  message_field: 'msg',
  passRest: true,
};

/** Reads the file's text: the templates, or the one-line problem (config.ts names PERSON_COMMANDS with it). */
export function parsePersonCommands(text: string): { ok: true; value: PersonCommands } | { ok: false; problem: string } {
  if (Buffer.byteLength(text) > PERSON_COMMANDS_MAX_BYTES) return { ok: false, problem: `the file is over ${PERSON_COMMANDS_MAX_BYTES / 1024} KB` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON (${(err as Error).message.split('\n')[0]})` };
  }
  const parsed = v.safeParse(PersonCommandsSchema, value);
  if (!parsed.success) return { ok: false, problem: parsed.issues[0].message };
  return { ok: true, value: parsed.output };
}

/** A person as the templates see it: num, name, whether a photo exists, and every other field as given. */
export interface TemplatePerson {
  num: string;
  name?: string;
  hasPhoto: boolean;
  fields: Record<string, unknown>;
}

const MISSING = Symbol('missing');

function placeholderValue(person: TemplatePerson, key: string): unknown {
  if (key === 'num') return person.num;
  if (key === 'name') return person.name ?? MISSING;
  if (key === 'photo') return person.hasPhoto ? PHOTO_MARKER : MISSING;
  return Object.hasOwn(person.fields, key) ? person.fields[key] : MISSING;
}

function fill(template: unknown, person: TemplatePerson): unknown {
  if (typeof template === 'string') {
    // Only one placeholder: the field's own JSON type.
    const only = ONLY_PLACEHOLDER.exec(template);
    if (only) return placeholderValue(person, only[1]);
    return template.replace(PLACEHOLDER, (_, key: string) => {
      const value = placeholderValue(person, key);
      if (value === MISSING) return '';
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
  }
  if (Array.isArray(template)) return template.map((item) => fill(item, person)).map((item) => (item === MISSING ? null : item));
  if (isJsonObject(template)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(template)) {
      const value = fill(item, person);
      // A field the person does not have is left out.
      if (value !== MISSING) out[key] = value;
    }
    return out;
  }
  return template;
}

/**
 * The command for one terminal as stored, JSON text: the template with each
 * placeholder replaced, the photo as PHOTO_MARKER. The built-in upsert also
 * carries every other field of the person, after the template's own.
 */
export function renderCommand(commands: PersonCommands, op: 'upsert' | 'delete', person: TemplatePerson): { cmd: string; body: string } {
  const command = fill(commands[op].command, person) as Record<string, unknown>;
  if (op === 'upsert' && commands.passRest) {
    for (const [key, value] of Object.entries(person.fields)) if (!Object.hasOwn(command, key)) command[key] = value;
  }
  return { cmd: commands[op].command.cmd as string, body: JSON.stringify(command) };
}

/** Whether a stored body has a place for the photo: it is read only then. */
export const wantsPhoto = (body: string) => body.includes('\\u0000photo');

/** The body as published: the photo's base64 where the marker stands (one replace; an empty string when there is none any more). */
export function splicePhoto(body: string, base64: string): string {
  return body.replace(MARKER_IN_JSON, (_, backslashes: string) => `${backslashes}${base64}`);
}

/** What a terminal's reply to an enrolment says: success per `success`, or its code and message. */
export type ReplyOutcome = { ok: true } | { ok: false; code: unknown; message: string | null };

/**
 * `success.field` equals `success.equals` (a number and its decimal string
 * count as equal: firmware writes `"0"` as often as `0`); otherwise the
 * failure with that field as its code and `message_field`, else `msg`, else
 * `message`, as its message.
 */
export function replyOutcome(commands: Pick<PersonCommands, 'success' | 'message_field'>, reply: unknown): ReplyOutcome {
  const body = isJsonObject(reply) ? reply : {};
  const { field, equals } = commands.success;
  const got = Object.hasOwn(body, field) ? body[field] : undefined;
  const same =
    got === equals ||
    (typeof equals === 'number' && typeof got === 'string' && got.trim() !== '' && Number(got) === equals) ||
    (typeof equals === 'string' && typeof got === 'number' && String(got) === equals);
  if (same) return { ok: true };
  const message = [commands.message_field, 'msg', 'message'].map((key) => (key === undefined ? undefined : body[key])).find((m) => typeof m === 'string');
  // A NUL shows as U+FFFD: PostgreSQL's text cannot hold it (the rejects' rule, jobs.ts).
  return { ok: false, code: got ?? null, message: typeof message === 'string' ? message.slice(0, 1024).replaceAll('\u0000', '\uFFFD') : null };
}
